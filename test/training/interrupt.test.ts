/**
 * Ctrl-C and kill -9 of a real `xlab train` process, then `--resume`: the resumed run must end with
 * the same weights, bit for bit, as one that was never interrupted.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listCheckpoints, readCheckpoint } from '../../src/main/training/checkpoint';

const ROOT = path.resolve(__dirname, '../..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-home-'));
const FLAGS = ['--preset', 'tiny-test', '--dataset', 'mnist', '--image-size', '16', '--batch', '4', '--seed', '5', '--steps', '8', '--checkpoint-every', '2', '--log-every', '1', '--backend', 'wasm'];

interface Proc {
  code: Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
  stderr: () => string;
  waitFor(re: RegExp): Promise<void>;
}

function xlab(args: string[]): Proc {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/xlab.mjs'), ...args], {
    cwd: ROOT,
    env: { ...process.env, XLAB_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stderr.on('data', (d) => {
    err += d.toString();
    for (const w of waiters.splice(0)) {
      if (w.re.test(err)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stdout.resume();
  return {
    code: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    signal: (sig) => child.kill(sig),
    stderr: () => err,
    waitFor: (re) =>
      new Promise<void>((resolve) => {
        if (re.test(err)) resolve();
        else waiters.push({ re, resolve });
      }),
  };
}

function finalTensors(dir: string): Map<string, Buffer> {
  const last = listCheckpoints(path.join(dir, 'checkpoints')).at(-1)!;
  expect(last.step).toBe(8);
  const out = new Map<string, Buffer>();
  for (const [k, v] of readCheckpoint(last.file).tensors) out.set(k, Buffer.from(v.values.buffer, v.values.byteOffset, v.values.byteLength));
  return out;
}

function expectSame(a: Map<string, Buffer>, b: Map<string, Buffer>) {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expect(Buffer.compare(v, b.get(k)!), k).toBe(0);
}

describe('interrupting `xlab train`', () => {
  const reference = path.join(home, 'reference');

  it('an uninterrupted run (the reference)', async () => {
    const p = xlab(['train', ...FLAGS, '--out', reference]);
    expect(await p.code, p.stderr()).toBe(0);
  });

  it('Ctrl-C writes a checkpoint, exits 130, and --resume finishes bit for bit', async () => {
    const dir = path.join(home, 'sigint');
    const p = xlab(['train', ...FLAGS, '--out', dir]);
    await p.waitFor(/ 3\/8/);
    p.signal('SIGINT');
    expect(await p.code, p.stderr()).toBe(130);
    expect(p.stderr()).toMatch(/resume with: xlab train --resume/);
    const stoppedAt = listCheckpoints(path.join(dir, 'checkpoints')).at(-1)!.step;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    expect(stoppedAt).toBeLessThan(8);
    const r = xlab(['train', '--resume', dir]);
    expect(await r.code, r.stderr()).toBe(0);
    expectSame(finalTensors(reference), finalTensors(dir));
  });

  it('kill -9 loses at most the steps since the last checkpoint, and --resume finishes bit for bit', async () => {
    const dir = path.join(home, 'sigkill');
    const p = xlab(['train', ...FLAGS, '--out', dir]);
    await p.waitFor(/ 5\/8/);
    p.signal('SIGKILL');
    await p.code;
    const survived = listCheckpoints(path.join(dir, 'checkpoints')).at(-1)!.step;
    expect(survived).toBeGreaterThanOrEqual(4);
    const r = xlab(['train', '--resume', dir]);
    expect(await r.code, r.stderr()).toBe(0);
    expectSame(finalTensors(reference), finalTensors(dir));
    // The metric file has every step exactly once.
    const steps = fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((row) => row.name === 'loss')
      .map((row) => row.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

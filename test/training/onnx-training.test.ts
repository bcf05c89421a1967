/**
 * The ONNX Runtime training engine against the run's invariants and against the tfjs engine: a
 * resumed run equals an uninterrupted one and adm-ip with gamma = 0 equals adm, bit for bit, on
 * the ONNX engine as on tfjs; the two engines follow the same trajectory up to float rounding;
 * what the graph does not cover falls back to tfjs with a reason ('auto') or fails with one ('onnx').
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tiny } from './configs';
import { initBackend } from '../../src/main/nn/backend';
import { listCheckpoints, readCheckpoint } from '../../src/main/training/checkpoint';
import { runPaths, train } from '../../src/main/training/trainer';
import { setOnnxThreads } from '../../src/main/onnx/session';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-onnx-train-'));
  dirs.push(d);
  return d;
};


const lastCheckpoint = (dir: string) => listCheckpoints(runPaths(dir).checkpoints).at(-1)!.file;

function tensorsOf(file: string): Map<string, Float32Array> {
  return new Map([...readCheckpoint(file).tensors].map(([k, v]) => [k, v.values]));
}

function expectBitEqual(a: string, b: string): void {
  const ta = tensorsOf(a);
  const tb = tensorsOf(b);
  expect([...ta.keys()]).toEqual([...tb.keys()]);
  for (const [k, v] of ta) expect(Buffer.compare(Buffer.from(v.buffer, v.byteOffset, v.byteLength), Buffer.from(tb.get(k)!.buffer, tb.get(k)!.byteOffset, tb.get(k)!.byteLength)), k).toBe(0);
}

function losses(dir: string): number[] {
  return fs
    .readFileSync(runPaths(dir).metrics, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { name: string; value: number })
    .filter((r) => r.name === 'loss')
    .map((r) => r.value);
}

beforeAll(async () => {
  await initBackend('wasm', 'train');
});

afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('ONNX Runtime training engine', () => {
  it('resumes bit for bit: 6 steps == 3 steps + resume + 3 steps', async () => {
    const a = tmp();
    const b = tmp();
    const config = tiny({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0.1 }, model: { dropout: 0.1 } });
    const logs: string[] = [];
    await train(config, a, { engine: 'onnx', hooks: { onLog: (l) => logs.push(l) } });
    expect(logs.join('\n')).toMatch(/ONNX Runtime engine, 1 thread/);
    const first = await train(config, b, { engine: 'onnx', stopAtStep: 3 });
    expect(first.stepsDone).toBe(3);
    await train(config, b, { engine: 'onnx', resume: true });
    expectBitEqual(lastCheckpoint(a), lastCheckpoint(b));
  });

  it('adm-ip with gamma = 0 reproduces adm bit for bit', async () => {
    const a = tmp();
    const b = tmp();
    await train(tiny({ objective: 'adm', steps: 3 }), a, { engine: 'onnx' });
    await train(tiny({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0 }, steps: 3 }), b, { engine: 'onnx' });
    expectBitEqual(lastCheckpoint(a), lastCheckpoint(b));
  });

  it('follows the tfjs engine up to float rounding (same batches, noise, dropout masks and optimiser)', async () => {
    const a = tmp();
    const b = tmp();
    const config = tiny({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0.1 }, model: { dropout: 0.1 }, timestepSampler: 'loss-second-moment' });
    await train(config, a, { engine: 'tfjs' });
    await train(config, b, { engine: 'onnx' });
    const la = losses(a);
    const lb = losses(b);
    expect(lb).toHaveLength(6);
    for (let i = 0; i < la.length; i++) expect(Math.abs(la[i]! - lb[i]!) / la[i]!, `loss at step ${i + 1}`).toBeLessThan(1e-4);
    // Adam normalises each update, so weights can differ by more than the gradients; still close after 6 steps.
    const ta = tensorsOf(lastCheckpoint(a));
    const tb = tensorsOf(lastCheckpoint(b));
    let num = 0;
    let den = 0;
    for (const [k, v] of ta) {
      if (!k.startsWith('params/')) continue;
      const w = tb.get(k)!;
      for (let i = 0; i < v.length; i++) {
        num += (v[i]! - w[i]!) ** 2;
        den += v[i]! ** 2;
      }
    }
    expect(Math.sqrt(num / den)).toBeLessThan(1e-3);
  });

  it("'auto' trains learned sigma on tfjs and says why; 'onnx' refuses it with the reason", async () => {
    const logs: string[] = [];
    const r = await train(tiny({ learnSigma: true, steps: 1 }), tmp(), { engine: 'auto', hooks: { onLog: (l) => logs.push(l) } });
    expect(r.stepsDone).toBe(1);
    expect(logs.join('\n')).toMatch(/tfjs engine: learned variance/);
    await expect(train(tiny({ learnSigma: true, steps: 1 }), tmp(), { engine: 'onnx' })).rejects.toThrow(/--engine onnx cannot train this run: learned variance.*--engine tfjs/);
  });

  it("a job's settings (engine and workers 'auto' on a share of the cores) train a run ORT does not cover on tfjs, whatever its batch", async () => {
    // A job process gets its share of the cores (here 2); with tfjs, 'auto' workers stay within it
    // and within what the batch allows, instead of failing as a fixed worker count would at batch 1.
    setOnnxThreads(2);
    const logs: string[] = [];
    const r = await train(tiny({ learnSigma: true, batch: 1, steps: 1 }), tmp(), { engine: 'auto', workers: 'auto', hooks: { onLog: (l) => logs.push(l) } });
    expect(r.stepsDone).toBe(1);
    expect(logs.join('\n')).toMatch(/1 worker \(this thread\)/);
  });
});

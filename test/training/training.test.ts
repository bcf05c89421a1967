import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tiny } from './configs';
import { initBackend } from '../../src/main/nn/backend';
import { train, runPaths } from '../../src/main/training/trainer';
import { listCheckpoints, readCheckpoint, decodeCheckpoint, encodeCheckpoint } from '../../src/main/training/checkpoint';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-train-'));


/** All tensors of a checkpoint as one map of name -> bytes, for bitwise comparison. */
function tensorsOf(file: string): Map<string, Uint8Array> {
  const c = readCheckpoint(file);
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of c.tensors) out.set(k, new Uint8Array(v.values.buffer, v.values.byteOffset, v.values.byteLength));
  return out;
}

function expectSameTensors(a: string, b: string) {
  const ta = tensorsOf(a);
  const tb = tensorsOf(b);
  expect([...ta.keys()]).toEqual([...tb.keys()]);
  for (const [k, v] of ta) {
    const w = tb.get(k)!;
    expect(Buffer.compare(Buffer.from(v), Buffer.from(w)), `tensor ${k} differs`).toBe(0);
  }
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('checkpoint format', () => {
  it('round-trips tensors and header', () => {
    const buf = encodeCheckpoint(
      { step: 7, createdAt: 'x', config: { a: 1 }, unet: {}, rng: { seed: 1, step: 7 }, optimizer: { t: 7 }, timestepSampler: null },
      [{ group: 'params', name: 'w', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, -0]) }],
    );
    const c = decodeCheckpoint(buf);
    expect(c.header.step).toBe(7);
    expect(Array.from(c.tensors.get('params/w')!.values)).toEqual([1, 2, 3, 4, 5, -0]);
  });

  it('names the file and the problem when truncated', () => {
    const buf = encodeCheckpoint(
      { step: 1, createdAt: 'x', config: {}, unet: {}, rng: { seed: 1, step: 1 }, optimizer: { t: 1 }, timestepSampler: null },
      [{ group: 'params', name: 'w', shape: [100], values: new Float32Array(100) }],
    );
    expect(() => decodeCheckpoint(buf.subarray(0, buf.length - 10), 'ckpt-0000001.xlab')).toThrow(/ckpt-0000001\.xlab.*truncated/);
    expect(() => decodeCheckpoint(Buffer.from('hello world, not a checkpoint'), 'x.xlab')).toThrow(/bad magic/);
  });
});

describe('training', () => {
  it('resumes bit for bit: 6 steps == 3 steps + resume + 3 steps', async () => {
    const a = tmp();
    const b = tmp();
    const config = tiny();
    await train(config, a);
    const first = await train(config, b, { stopAtStep: 3 });
    expect(first.stepsDone).toBe(3);
    await train(config, b, { resume: true });
    const ca = listCheckpoints(runPaths(a).checkpoints).at(-1)!;
    const cb = listCheckpoints(runPaths(b).checkpoints).at(-1)!;
    expect(ca.step).toBe(6);
    expect(cb.step).toBe(6);
    expectSameTensors(ca.file, cb.file);
    // The metric series has each step once, in order.
    const steps = fs
      .readFileSync(runPaths(b).metrics, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.name === 'loss')
      .map((r) => r.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('resumes bit for bit with the loss-second-moment timestep sampler and learned sigma', async () => {
    const a = tmp();
    const b = tmp();
    const config = tiny({ timestepSampler: 'loss-second-moment', learnSigma: true, T: 50, steps: 4, checkpointEvery: 2 });
    await train(config, a);
    await train(config, b, { stopAtStep: 2 });
    await train(config, b, { resume: true });
    expectSameTensors(listCheckpoints(runPaths(a).checkpoints).at(-1)!.file, listCheckpoints(runPaths(b).checkpoints).at(-1)!.file);
  });

  it('adm-ip with gamma = 0 reproduces adm bit for bit', async () => {
    const a = tmp();
    const b = tmp();
    await train(tiny({ objective: 'adm', steps: 3 }), a);
    await train(tiny({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0 }, steps: 3 }), b);
    const pa = tensorsOf(listCheckpoints(runPaths(a).checkpoints).at(-1)!.file);
    const pb = tensorsOf(listCheckpoints(runPaths(b).checkpoints).at(-1)!.file);
    for (const [k, v] of pa) expect(Buffer.compare(Buffer.from(v), Buffer.from(pb.get(k)!)), k).toBe(0);
    // ... and gamma = 0.1 does not.
    const c = tmp();
    await train(tiny({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0.1 }, steps: 3 }), c);
    const pc = tensorsOf(listCheckpoints(runPaths(c).checkpoints).at(-1)!.file);
    expect(Buffer.compare(Buffer.from(pa.get('params/out.conv.w') ?? [...pa.values()].at(-1)!), Buffer.from(pc.get('params/out.conv.w') ?? [...pc.values()].at(-1)!))).not.toBe(0);
  });

  it('lowers the loss on the bundled digits', async () => {
    const dir = tmp();
    const config = tiny({ steps: 80, batch: 16, checkpointEvery: 80, logEvery: 1, optimizer: { lr: 2e-3 } });
    await train(config, dir);
    const losses = fs
      .readFileSync(runPaths(dir).metrics, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.name === 'loss')
      .map((r) => r.value as number);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(losses.slice(0, 10));
    const last = mean(losses.slice(-20));
    expect(first).toBeGreaterThan(0.5); // zero-initialised output: eps-hat = 0, loss = E[eps^2] = 1
    expect(last).toBeLessThan(first * 0.5);
  });

  it.each([
    ['adm-y', {}],
    ['adm-wd', { optimizer: { kind: 'adamw', weightDecay: 0.01, lr: 1e-3 } }],
    ['adm-gp', { gpLambda: 0.01 }],
    ['adm-ip', { gamma: { kind: 'cosine', start: 0.05, end: 0.2 } }],
  ] as const)('trains %s: finite loss, weights move, config recorded', async (objective, over) => {
    const dir = tmp();
    const r = await train(tiny({ objective, steps: 2, checkpointEvery: 2, ...over }), dir);
    expect(Number.isFinite(r.finalLoss)).toBe(true);
    const saved = JSON.parse(fs.readFileSync(runPaths(dir).config, 'utf8'));
    expect(saved.objective).toBe(objective);
    if (objective === 'adm-gp') expect(saved.gpEstimator).toBe('hutchinson-vjp');
    const c = readCheckpoint(listCheckpoints(runPaths(dir).checkpoints).at(-1)!.file);
    const w = c.tensors.get('params/input.conv.w')!.values;
    expect(w.some((v) => v !== 0)).toBe(true);
  });

  it('refuses to overwrite a run folder that holds checkpoints', async () => {
    const dir = tmp();
    await train(tiny({ steps: 1, checkpointEvery: 1 }), dir);
    await expect(train(tiny({ steps: 1 }), dir)).rejects.toThrow(/already holds checkpoints.*--resume/);
  });
});

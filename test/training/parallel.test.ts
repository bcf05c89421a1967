/**
 * Data-parallel training on worker threads against the single-thread trainer.
 *
 * - One worker is the single-thread trainer bit for bit: same draws, same ops, and a gradient that
 *   goes through shared memory unchanged (nothing is added to it).
 * - Two workers see the same data and noise, and differ only in the order the per-sample gradients
 *   are added up (two half-batch sums, then their sum). Measured against one worker on tiny-test,
 *   batch 8, lr 1e-3, 3 steps, seeds 3-6, adm and adm-ip: weights differ by at most 6.1e-6 (mean
 *   |diff| <= 8.9e-10), EMA 6.1e-7, Adam's first moment 2.2e-7, second 2.8e-9, losses 9.5e-8
 *   relative. The largest weight differences sit in convolutions whose gradient is still ~1e-7 (the
 *   blocks' zero-initialised output convs have barely moved), where Adam's g / sqrt(v) magnifies
 *   rounding. The bounds below leave >= 10x room. A shard with the wrong noise or masks moves the
 *   losses by far more; a wrong loss scale leaves Adam's step nearly unchanged but moves its
 *   moments by their own size (~1e-3 and up).
 * - Replicas stay identical to each other; checkpoints have the single-thread format, so a run
 *   resumes with another worker count.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tiny } from './configs';
import { initBackend } from '../../src/main/nn/backend';
import { forward, initParams } from '../../src/main/nn/unet';
import { PRESETS } from '../../src/main/nn/presets';
import { checkpointBytes, runPaths, setupTraining, train, trainStep } from '../../src/main/training/trainer';
import { decodeCheckpoint, listCheckpoints, readCheckpoint, type CheckpointData } from '../../src/main/training/checkpoint';
import { startDataParallel } from '../../src/main/training/parallel/data-parallel';
import { allocateExchange, ExchangeAborted, GradientExchange } from '../../src/main/training/parallel/gradient-exchange';
import { contiguousRanges } from '../../src/main/training/parallel/shards';
import { WorkerPool } from '../../src/main/training/parallel/worker-pool';
import { resolveWorkerCount } from '../../src/main/training/parallel/worker-count';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-parallel-'));
  dirs.push(d);
  return d;
};


const STEPS = 3;
const OBJECTIVES = {
  adm: tiny({ objective: 'adm' }),
  'adm-ip': tiny({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0.1 } }),
};

interface Trace {
  losses: number[];
  gradNorms: number[];
  ckpt: CheckpointData;
}

async function inThisThread(config: ReturnType<typeof tiny>): Promise<Trace> {
  const s = await setupTraining(config);
  const losses: number[] = [];
  const gradNorms: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const r = trainStep(s);
    losses.push(r.loss);
    gradNorms.push(r.gradNorm);
  }
  const ckpt = decodeCheckpoint(checkpointBytes(s));
  s.dispose();
  return { losses, gradNorms, ckpt };
}

// Started once: each start costs a TF.js backend per thread. The runs below re-initialise them.
const pools = new Map<number, WorkerPool>();
function pool(workers: number): WorkerPool {
  if (!pools.has(workers)) pools.set(workers, new WorkerPool(workers));
  return pools.get(workers)!;
}
afterAll(async () => {
  for (const p of pools.values()) await p.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function onWorkers(config: ReturnType<typeof tiny>, workers: number): Promise<Trace & { replicasAgree: boolean }> {
  const p = await startDataParallel(config, { workers, pool: pool(workers) });
  try {
    const losses: number[] = [];
    const gradNorms: number[] = [];
    for (let i = 0; i < STEPS; i++) {
      const r = await p.trainStep();
      losses.push(r.loss);
      gradNorms.push(r.gradNorm);
    }
    const ckpt = decodeCheckpoint(await p.checkpointBytes());
    let replicasAgree = true;
    if (workers > 1) {
      const a = await p.snapshot(0);
      for (let k = 1; k < workers; k++) {
        const b = await p.snapshot(k);
        a.tensors.forEach((t, i) => {
          if (Buffer.compare(Buffer.from(t.values.buffer), Buffer.from(b.tensors[i]!.values.buffer)) !== 0) replicasAgree = false;
        });
      }
    }
    return { losses, gradNorms, ckpt, replicasAgree };
  } finally {
    await p.dispose();
  }
}

/** Largest and mean absolute difference per tensor group (params, ema, adam_m, adam_v). */
function diffByGroup(a: CheckpointData, b: CheckpointData): Record<string, { max: number; mean: number }> {
  expect([...a.tensors.keys()]).toEqual([...b.tensors.keys()]);
  const acc: Record<string, { max: number; sum: number; n: number }> = {};
  for (const [key, { values }] of a.tensors) {
    const other = b.tensors.get(key)!.values;
    const g = (acc[key.split('/')[0]!] ??= { max: 0, sum: 0, n: 0 });
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(values[i]! - other[i]!);
      g.max = Math.max(g.max, d);
      g.sum += d;
    }
    g.n += values.length;
  }
  return Object.fromEntries(Object.entries(acc).map(([k, g]) => [k, { max: g.max, mean: g.sum / g.n }]));
}

function sameBits(a: CheckpointData, b: CheckpointData): boolean {
  for (const [key, { values }] of a.tensors) {
    const other = b.tensors.get(key)!.values;
    if (Buffer.compare(Buffer.from(values.buffer, values.byteOffset, values.byteLength), Buffer.from(other.buffer, other.byteOffset, other.byteLength)) !== 0) return false;
  }
  return true;
}

const headerSansDate = (c: CheckpointData) => JSON.stringify({ ...c.header, createdAt: null });

beforeAll(async () => {
  await initBackend('wasm');
});

describe('splitting the work', () => {
  it('contiguous ranges cover everything once, in order, sizes within one of each other', () => {
    for (const [total, parts] of [
      [8, 2],
      [7, 3],
      [3, 3],
      [2, 5],
      [704705, 2],
    ] as const) {
      const r = contiguousRanges(total, parts);
      expect(r).toHaveLength(parts);
      expect(r[0]!.start).toBe(0);
      for (let k = 1; k < parts; k++) expect(r[k]!.start).toBe(r[k - 1]!.start + r[k - 1]!.count);
      expect(r.reduce((a, x) => a + x.count, 0)).toBe(total);
      const sizes = r.map((x) => x.count);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(contiguousRanges(7, 3).map((x) => x.count)).toEqual([3, 2, 2]);
    expect(() => contiguousRanges(4, 0)).toThrow(/positive integer/);
  });

  it('sums the gradient slots in worker order, each worker one slice; one worker adds nothing', () => {
    const ex = new GradientExchange(allocateExchange(3, 5));
    const slots = [
      [1, 2, 3, 4, 5],
      [0.5, -2, 1e-8, 0, 2 ** 24],
      [0.25, 0, 3, -4, 1],
    ];
    slots.forEach((s, k) => ex.slot(k).set(s));
    for (let k = 0; k < 3; k++) ex.reduceSlice(k);
    // Summed in float64 and rounded once: 2^24 + 5 + 1 is exact, 3 + 1e-8 + 3 rounds to 6.
    expect(Array.from(ex.sum())).toEqual([1.75, 0, 6, 0, 2 ** 24 + 6]);
    ex.setLoss(0, 0.5);
    ex.setLoss(1, 0.25);
    ex.setLoss(2, 0.125);
    expect(ex.totalLoss()).toBe(0.875);

    const one = new GradientExchange(allocateExchange(1, 3));
    one.slot(0).set([1, 2, 3]);
    one.reduceSlice(0);
    expect(one.sum()).toEqual(one.slot(0));
    expect(one.sum().buffer).toBe(one.slot(0).buffer);
  });

  it('a failed worker releases the others from the barrier', () => {
    const ex = new GradientExchange(allocateExchange(2, 1));
    ex.abort();
    expect(() => ex.arrive()).toThrow(ExchangeAborted);
  });

  it("resolves the worker count: 'auto' uses the cores while each worker keeps 1 GFLOP of forward work", () => {
    const c = tiny({ batch: 8 });
    expect(resolveWorkerCount(undefined, c, 2)).toBe(1);
    // bench-s-mnist16: 0.1228 GFLOP per 16x16 image (bench-models.md).
    const s = (batch: number) => tiny({ preset: 'bench-s-mnist16', batch });
    expect(resolveWorkerCount('auto', s(64), 2)).toBe(2);
    expect(resolveWorkerCount('auto', s(16), 2)).toBe(1); // 16 x 0.1228 = 1.96 GFLOP: one worker's worth
    expect(resolveWorkerCount('auto', s(17), 2)).toBe(2); // 2.09 GFLOP
    expect(resolveWorkerCount('auto', s(64), 16)).toBe(7); // 7.86 GFLOP
    // bench-m-32: 3.176 GFLOP per image, so even two images fill two workers.
    expect(resolveWorkerCount('auto', tiny({ preset: 'bench-m-32', imageSize: 32, batch: 2 }), 2)).toBe(2);
    expect(resolveWorkerCount('auto', tiny({ preset: 'bench-m-32', imageSize: 32, batch: 2 }), 4)).toBe(2);
    expect(resolveWorkerCount(3, c, 2)).toBe(3);
    expect(() => resolveWorkerCount(9, c, 2)).toThrow(/more than the batch size 8/);
    expect(() => resolveWorkerCount(0, c, 2)).toThrow(/positive integer or 'auto'/);
    expect(() => resolveWorkerCount(1.5, c, 2)).toThrow(/positive integer/);
  });

  it('a shard draws the dropout masks the whole batch would have drawn', () => {
    const cfg = { ...PRESETS['tiny-test'], dropout: 0.3 };
    const params = initParams(cfg, 1);
    // Random weights throughout: the initial net zeroes its output (and every block's last conv).
    let seed = 100;
    params.forEach((p) => p.assign(tf.randomNormal(p.shape, 0, 0.2, 'float32', seed++)));
    const x = tf.randomNormal([4, 16, 16, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    const t = tf.tensor1d([5, 100, 400, 900], 'float32');
    const opts = { training: true, dropoutSeed: 11 };
    const whole = forward(params, cfg, x, t, opts).arraySync() as number[][][][];
    const tail = (offset: number | undefined) =>
      forward(params, cfg, tf.slice(x, [2, 0, 0, 0], [2, 16, 16, 1]), tf.slice(t, [2], [2]), { ...opts, dropoutSampleOffset: offset }).arraySync() as number[][][][];
    const flat = (a: unknown) => (a as number[][][][]).flat(3);
    const expected = flat(whole.slice(2));
    const shifted = flat(tail(2));
    const maxErr = (a: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
    expect(maxErr(shifted)).toBeLessThan(1e-5);
    // Without the offset the shard would reuse the first samples' masks: visibly different.
    expect(maxErr(flat(tail(undefined)))).toBeGreaterThan(1e-2);
    params.forEach((p) => p.dispose());
  });
});

describe.each(Object.entries(OBJECTIVES))('%s on worker threads', (_name, config) => {
  let single: Trace;
  let one: Trace;
  beforeAll(async () => {
    single = await inThisThread(config);
  });

  it('one worker reproduces the single-thread trainer bit for bit', async () => {
    one = await onWorkers(config, 1);
    expect(one.losses).toEqual(single.losses);
    expect(one.gradNorms).toEqual(single.gradNorms);
    expect(sameBits(one.ckpt, single.ckpt)).toBe(true);
    expect(headerSansDate(one.ckpt)).toBe(headerSansDate(single.ckpt));
  });

  it('two workers match one up to the order of summation, and their replicas agree', async () => {
    const two = await onWorkers(config, 2);
    expect(two.replicasAgree).toBe(true);
    const d = diffByGroup(two.ckpt, single.ckpt);
    expect(d['params']!.max).toBeLessThan(1e-4);
    expect(d['params']!.mean).toBeLessThan(1e-8);
    expect(d['ema']!.max).toBeLessThan(1e-5);
    expect(d['adam_m']!.max).toBeLessThan(3e-6);
    expect(d['adam_v']!.max).toBeLessThan(3e-8);
    two.losses.forEach((l, i) => expect(Math.abs(l - single.losses[i]!) / single.losses[i]!).toBeLessThan(1e-6));
    two.gradNorms.forEach((g, i) => expect(Math.abs(g - single.gradNorms[i]!) / single.gradNorms[i]!).toBeLessThan(1e-4));
    expect(two.ckpt.header.step).toBe(STEPS);
    expect(two.ckpt.header.optimizer.t).toBe(STEPS);
  });
});

describe('train() with workers', () => {
  it('resumes a one-thread run on two workers, each step once in the metrics', async () => {
    const config = tiny({ steps: 4, checkpointEvery: 2, timestepSampler: 'loss-second-moment', T: 50 });
    const reference = tmp();
    await train(config, reference);
    const dir = tmp();
    await train(config, dir, { stopAtStep: 2 });
    const logs: string[] = [];
    const r = await train(config, dir, { resume: true, workers: 2, hooks: { onLog: (l) => logs.push(l) } });
    expect(r.stepsDone).toBe(4);
    expect(logs.join('\n')).toMatch(/resumed at step 2.*2 data-parallel workers/);
    const a = readCheckpoint(listCheckpoints(runPaths(reference).checkpoints).at(-1)!.file);
    const b = readCheckpoint(listCheckpoints(runPaths(dir).checkpoints).at(-1)!.file);
    expect(b.header.step).toBe(4);
    expect(b.header.optimizer.t).toBe(4);
    // The loss-aware sampler's history came through the resume and was extended by all 8 losses a step.
    const counts = (c: CheckpointData) => (c.header.timestepSampler as { history: number[][] }).history.reduce((n, h) => n + h.length, 0);
    expect(counts(b)).toBe(counts(a));
    expect(counts(b)).toBe(4 * 8);
    const d = diffByGroup(a, b);
    expect(d['params']!.max).toBeLessThan(1e-4);
    expect(d['adam_m']!.max).toBeLessThan(3e-6);
    const steps = fs
      .readFileSync(runPaths(dir).metrics, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((row) => row.name === 'loss')
      .map((row) => row.step);
    expect(steps).toEqual([1, 2, 3, 4]);
  });

  it('stops with the single-thread error when the loss blows up, before any worker updates', async () => {
    const config = tiny({ optimizer: { lr: 1e12 } });
    const p = await startDataParallel(config, { workers: 2, pool: pool(2) });
    let failedAt = -1;
    try {
      for (let i = 0; i < 5 && failedAt < 0; i++) {
        await p.trainStep().catch((err: Error) => {
          expect(err.message).toMatch(/loss became (NaN|Infinity|-Infinity) at step \d: lower the learning rate/);
          failedAt = p.step;
        });
      }
      expect(failedAt).toBeGreaterThan(0);
      // Neither replica applied the step that failed (as the single-thread trainer throws before Adam).
      for (const k of [0, 1]) expect((await p.snapshot(k)).optimizerT).toBe(failedAt);
    } finally {
      await p.dispose();
    }
  });
});

/**
 * The exposure-bias analyses on the Gaussian toy (gaussian-toy.ts), where the network is the exact
 * eps predictor of the data, so the answers are closed forms:
 *  - prediction error e = x0 - E[x0 | x_t] ~ N(0, s^2 (1 - ab) / (ab s^2 + 1 - ab)), Gaussian;
 *  - with the sampler a linear-Gaussian recursion, x_t-hat - sqrt(ab_t) x0 has a variance that
 *    exactSpread() below propagates in float64, written independently of src/.
 * Sampling-error tolerances are stated with each check.
 */
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { analysisNoise, forwardNoise, selectDataImages, snapToChain, scaledTimesteps, type AnalysedModel } from '../../src/main/analyses/analysis-inputs';
import { CHAIN_LENGTH_COLUMNS, chainLengthGrid, chainLengthRows } from '../../src/main/analyses/chain-length';
import { measureDeltaT } from '../../src/main/analyses/delta-t';
import { PREDICTION_ERROR_BINS, histogramRadius, measurePredictionError, niceCeil } from '../../src/main/analyses/prediction-error';
import { checkAnalysisResult } from '../../src/main/analyses/results';
import { compareSpectra, measureSpectrum } from '../../src/main/analyses/spectrum-comparison';
import { spacedTimesteps } from '../../src/main/diffusion/respacing';
import { sample } from '../../src/main/diffusion/samplers';
import { createProcess, type Process } from '../../src/main/diffusion/schedule';
import { deltaT } from '../../src/main/metrics/analyses';
import { radialPowerSpectrum } from '../../src/main/metrics/spectrum';
import { initBackend } from '../../src/main/nn/backend';
import { Stream } from '../../src/main/rng';
import { exactEpsNetwork, gaussianImages, posteriorVariance, zeroEpsNetwork } from './gaussian-toy';

const MU = 0.2;
const S = 0.7;
const SHAPE: [number, number, number] = [8, 8, 1];
const HWC = 64;

let base: Process;
let toy: AnalysedModel;

beforeAll(async () => {
  await initBackend('wasm');
  base = createProcess('linear', 1000);
  toy = { network: exactEpsNetwork(base, MU, S), process: base, learnSigma: false, shape: SHAPE };
});

describe('inputs', () => {
  it('chooses data images by a seeded permutation, and refuses more than there are', () => {
    const images = Float32Array.from({ length: 10 * HWC }, (_, i) => Math.floor(i / HWC));
    const a = selectDataImages({ images, count: 10 }, SHAPE, 4, 7);
    const firsts = Array.from({ length: 4 }, (_, k) => a.images[k * HWC]!);
    expect(new Set(firsts).size).toBe(4);
    expect(firsts).not.toEqual([0, 1, 2, 3]);
    expect(selectDataImages({ images, count: 10 }, SHAPE, 4, 7).images).toEqual(a.images);
    expect(() => selectDataImages({ images, count: 10 }, SHAPE, 11, 7)).toThrow(/only 10 images; ask for n <= 10/);
  });

  it('snaps to the chain, scales default timesteps, and noises with sqrt(ab), sqrt(1 - ab)', () => {
    expect(snapToChain([0, 10, 20], 19)).toBe(10);
    expect(snapToChain([0, 10, 20], 20)).toBe(20);
    expect(scaledTimesteps([10, 100, 900], 1000)).toEqual([10, 100, 900]);
    expect(scaledTimesteps([10, 100, 900, 1000], 50)).toEqual([1, 5, 45, 49]);
    const x = forwardNoise(base, 300, [0.5, -1], [2, 0]);
    expect(x[0]).toBeCloseTo(Math.sqrt(base.ab[300]!) * 0.5 + Math.sqrt(1 - base.ab[300]!) * 2, 6);
    expect(x[1]).toBeCloseTo(-Math.sqrt(base.ab[300]!), 6);
    expect(() => forwardNoise(base, 1000, [0], [0])).toThrow(/outside 0\.\.999/);
  });
});

describe('prediction error', () => {
  it('of the exact eps predictor is N(0, posterior variance) at every t, and passes Shapiro-Wilk', async () => {
    const n = 64;
    const data = { images: gaussianImages(n, HWC, MU, S, 1), count: n };
    const steps: [number, number][] = [];
    const r = await measurePredictionError({ model: toy, data, timesteps: [10, 500, 900], seed: 3, batchSize: 24, onStep: (d, t) => steps.push([d, t]) });
    expect(checkAnalysisResult(r)).toEqual(r);
    // 3 timesteps x ceil(64 / 24) = 3 batches
    expect(steps.at(-1)).toEqual([9, 9]);
    const N = n * HWC;
    for (const p of r.perT) {
      const v = posteriorVariance(base.ab[p.t]!, S);
      expect(p.n).toBe(N);
      // mean: 5 standard errors; std: 5 x its standard error sqrt(v / (2N)) (relative 1/sqrt(2N) = 1.1%)
      expect(Math.abs(p.mean)).toBeLessThan(5 * Math.sqrt(v / N));
      expect(Math.abs(p.std / Math.sqrt(v) - 1)).toBeLessThan(5 / Math.sqrt(2 * N));
      expect(p.shapiroP).toBeGreaterThan(0.001);
      expect(p.shapiroW).toBeGreaterThan(0.99);
      const { edges, counts } = p.histogram;
      expect(edges).toHaveLength(PREDICTION_ERROR_BINS + 1);
      expect(edges[0]).toBeCloseTo(-edges.at(-1)!, 12);
      expect(edges[PREDICTION_ERROR_BINS / 2]).toBeCloseTo(0, 12);
      // 4096 Gaussian values reach about 4 standard deviations, within 1.5 x the 99.9th percentile: all counted
      expect(counts.reduce((a, b) => a + b, 0)).toBe(N);
    }
    // the error shrinks as t falls
    expect(r.perT[0]!.std).toBeLessThan(r.perT[1]!.std);
  });

  it('of a network that predicts no noise is exactly -sqrt((1 - ab) / ab) eps', async () => {
    const n = 16;
    const data = { images: gaussianImages(n, HWC, MU, S, 2), count: n };
    const model = { ...toy, network: zeroEpsNetwork };
    const t = 700;
    const r = await measurePredictionError({ model, data, timesteps: [t], seed: 5 });
    const eps = analysisNoise(5, Array.from({ length: n }, (_, i) => i), HWC, t);
    const scale = Math.sqrt((1 - base.ab[t]!) / base.ab[t]!);
    const e = Array.from(eps, (v) => -scale * v);
    const mean = e.reduce((a, b) => a + b, 0) / e.length;
    const std = Math.sqrt(e.reduce((a, b) => a + (b - mean) ** 2, 0) / e.length);
    // x_t is rounded to float32 before the network sees it: agreement to ~1e-6 relative
    expect(r.perT[0]!.std).toBeCloseTo(std, 5);
    expect(r.perT[0]!.mean).toBeCloseTo(mean, 5);
  });

  it('picks symmetric histogram ranges from 1, 2, 2.5, 5 x 10^k, robust to a few wild values', () => {
    expect([0.012, 0.3, 1, 2.1, 4, 7].map(niceCeil)).toEqual([0.02, 0.5, 1, 2.5, 5, 10]);
    expect(histogramRadius([0.1, -0.15, 0.05])).toBe(0.2);
    // one wild value among small ones does not set the range
    const values = [...Array.from({ length: 1999 }, (_, i) => ((i % 3) - 1) * 0.01), 100];
    expect(histogramRadius(values)).toBe(0.02);
  });
});

/** Variance across samples of x_{S_i}-hat - sqrt(ab_{S_i}) x0 at every recorded step, in float64. */
function exactSpread(spec: string, tStart: number, variance: 'fixed-small' | 'fixed-large'): Map<number, number> {
  const St = spacedTimesteps(1000, spec);
  const ab = St.map((t) => base.ab[t]!);
  const i0 = St.indexOf(tStart);
  // x = A x0 + B eps + (constant) + noise of variance N
  let A = Math.sqrt(ab[i0]!);
  let B = Math.sqrt(1 - ab[i0]!);
  let N = 0;
  const out = new Map<number, number>();
  for (let i = i0; i >= 0; i--) {
    out.set(St[i]!, (A - Math.sqrt(ab[i]!)) ** 2 * S * S + B * B + N);
    const a = ab[i]!;
    const ap = i === 0 ? 1 : ab[i - 1]!;
    const beta = 1 - a / ap;
    const k = Math.sqrt(1 - a) / (a * S * S + 1 - a);
    const Ax0 = Math.sqrt(1 / a) - Math.sqrt(1 / a - 1) * k;
    const c1 = (beta * Math.sqrt(ap)) / (1 - a);
    const c2 = ((1 - ap) * Math.sqrt(1 - beta)) / (1 - a);
    const gain = c1 * Ax0 + c2;
    const noise = i === 0 ? 0 : variance === 'fixed-small' ? (beta * (1 - ap)) / (1 - a) : beta;
    A *= gain;
    B *= gain;
    N = gain * gain * N + noise;
  }
  return out;
}

describe('delta_t', () => {
  it('matches the closed-form spread of the exact model, step by step', async () => {
    const n = 128;
    const data = { images: gaussianImages(n, HWC, MU, S, 3), count: n };
    for (const variance of ['fixed-large', 'fixed-small'] as const) {
      const r = await measureDeltaT({ model: toy, data, sampler: { kind: 'ddpm', steps: '20', variance, clipX0: false }, tStart: 600, seed: 4, batchSize: 50 });
      expect(checkAnalysisResult(r)).toEqual(r);
      const S20 = spacedTimesteps(1000, '20');
      expect(r.tStart).toBe(snapToChain(S20, 600));
      expect(r.samplingSteps).toBe(20);
      expect(r.points.map((p) => p.t)).toEqual(S20.filter((t) => t <= r.tStart).reverse());
      const exact = exactSpread('20', r.tStart, variance);
      for (const p of r.points) {
        const sigma = Math.sqrt(exact.get(p.t)!);
        // mean over 64 pixels of a std over 128 samples: standard error sigma / sqrt(2 * 127 * 64) = 0.8%
        expect(Math.abs(p.sigmaHat / sigma - 1), `t=${p.t} ${variance}`).toBeLessThan(0.04);
        expect(p.sigmaTrue).toBeCloseTo(Math.sqrt(1 - base.ab[p.t]!), 12);
        expect(p.delta).toBeCloseTo((p.sigmaHat - p.sigmaTrue) ** 2, 12);
      }
      // the chain starts exactly on the forward process
      expect(Math.abs(r.points[0]!.sigmaHat / r.points[0]!.sigmaTrue - 1)).toBeLessThan(0.04);
    }
  });

  it('accumulated over batches equals deltaT() over all recorded residuals at once', async () => {
    const n = 37;
    const data = { images: gaussianImages(n, HWC, MU, S, 4), count: n };
    const sampler = { kind: 'ddpm' as const, steps: '10', clipX0: false };
    const r = await measureDeltaT({ model: toy, data, sampler, seed: 9, batchSize: 16 });
    expect(r.tStart).toBe(999);
    // The same chain run again, every state kept, and summarised by the reference implementation.
    const indices = Array.from({ length: n }, (_, i) => i);
    const xt = forwardNoise(base, 999, data.images, analysisNoise(9, indices, HWC));
    const states = new Map<number, Float64Array>();
    await sample({
      model: toy.network,
      process: base,
      options: { ...sampler, learnSigma: false },
      shape: SHAPE,
      seed: 9,
      indices,
      batchSize: n,
      startFrom: { xt, t: 999 },
      onState: (s) => {
        const x = s.x.dataSync();
        const a = Math.sqrt(base.ab[s.t]!);
        states.set(s.t, Float64Array.from(x, (v, k) => v - a * data.images[k]!));
      },
    });
    const ref = deltaT([...states].map(([t, residuals]) => ({ t, alphaBar: base.ab[t]!, residuals })), n);
    expect(r.points).toHaveLength(ref.length);
    for (const p of r.points) {
      const q = ref.find((x) => x.t === p.t)!;
      expect(p.sigmaHat).toBeCloseTo(q.sigmaHat, 10);
      expect(p.delta).toBeCloseTo(q.delta, 10);
    }
  });

  it('needs at least two chains and a start inside the process', async () => {
    const one = { images: gaussianImages(1, HWC, MU, S, 5), count: 1 };
    await expect(measureDeltaT({ model: toy, data: one, sampler: { kind: 'ddpm', steps: '10' }, seed: 0 })).rejects.toThrow(/at least 2 chains/);
    const two = { images: gaussianImages(2, HWC, MU, S, 5), count: 2 };
    await expect(measureDeltaT({ model: toy, data: two, sampler: { kind: 'ddpm', steps: '10' }, tStart: 1000, seed: 0 })).rejects.toThrow(/tStart = 1000 is outside/);
  });
});

describe('spectrum', () => {
  it('of data against itself is identical, on a cycles-per-pixel axis', () => {
    const images = gaussianImages(6, HWC, MU, S, 6);
    const r = compareSpectra({ images, count: 6 }, { images, count: 6 }, SHAPE);
    expect(checkAnalysisResult(r)).toEqual(r);
    expect(r.samples).toEqual(r.data);
    const ref = radialPowerSpectrum({ data: images, count: 6, height: 8, width: 8, channels: 1 });
    expect(r.data).toEqual(ref.power);
    expect(r.frequencies).toEqual(ref.radius.map((x) => x / 8));
    expect(r.frequencies[0]).toBe(0);
    expect(r.frequencies.at(-1)!).toBeCloseTo(Math.round(Math.sqrt(32)) / 8, 12);
  });

  it('of the exact model is white like its data: power s^2-ish away from DC', async () => {
    const n = 64;
    const data = { images: gaussianImages(n, HWC, MU, S, 7), count: n };
    const r = await measureSpectrum({ model: toy, data, sampler: { kind: 'ddim', steps: '50', clipX0: false }, n, seed: 1 });
    // iid pixels of variance v have E[|F|^2 / (HW)] = v at every frequency but 0
    for (const curve of [r.data, r.samples]) {
      const ac = curve.slice(1);
      const mean = ac.reduce((a, b) => a + b, 0) / ac.length;
      expect(Math.abs(mean / (S * S) - 1)).toBeLessThan(0.15);
      // DC holds the mean: HW mu^2 + v
      expect(curve[0]! / (HWC * MU * MU + S * S)).toBeGreaterThan(0.5);
    }
  });
});

describe('chain length', () => {
  it('grids the data row and one row per snapped start; a chain from t = 0 returns the data', async () => {
    const bytes = new Stream(1, 'bytes');
    const n = CHAIN_LENGTH_COLUMNS;
    const u8 = Uint8Array.from({ length: n * HWC }, () => bytes.int(256));
    const images = Float32Array.from(u8, (b) => b / 127.5 - 1);
    const data = { images, count: n };
    const progress: [number, number][] = [];
    const r = await chainLengthRows({
      model: toy,
      data,
      sampler: { kind: 'ddpm', steps: '10', clipX0: true },
      tStarts: [0, 150, 999],
      seed: 2,
      onStep: (d, t) => progress.push([d, t]),
    });
    const S10 = spacedTimesteps(1000, '10');
    expect(r.tStarts).toEqual([0, snapToChain(S10, 150), 999]);
    // 1 + 2 + 10 steps in all, counted across rows
    expect(progress.at(-1)).toEqual([13, 13]);
    expect(r.rows).toHaveLength(3);
    // t = 0: x_0 = sqrt(ab_0) x0 + 0.01 eps, one step back: x0 to within a few hundredths
    const diff = r.rows[0]!.reduce((m, v, i) => Math.max(m, Math.abs(v - images[i]!)), 0);
    expect(diff).toBeLessThan(0.06);
    const png = await chainLengthGrid(data, r.rows, SHAPE);
    const meta = await sharp(png).metadata();
    expect(meta.width).toBe(n * (8 + 2) + 2);
    expect(meta.height).toBe(4 * (8 + 2) + 2);
    const { data: pixels, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(meta.channels).toBe(1);
    // first row, first tile: the data image's own bytes (sharp decodes grey as RGB: read channel 0)
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) expect(pixels[((2 + y) * info.width + 2 + x) * info.channels]).toBe(u8[y * 8 + x]);
    }
  });
});

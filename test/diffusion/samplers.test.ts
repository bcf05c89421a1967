/**
 * Samplers on the Gaussian toy: data x0 ~ N(mu, s^2) per pixel, independent, whose MSE-optimal eps
 * predictor is closed form, eps*(x_t, t) = sqrt(1-ab_t) (x_t - sqrt(ab_t) mu) / (ab_t s^2 + 1 - ab_t).
 *
 * With that model and no clipping every sampler here is a linear-Gaussian recursion, so the law of
 * its output is known exactly: exactLaw() below propagates (mean, variance) through the same chain
 * in float64, written independently of src/. The generated pixels are compared with that law within
 * sampling error, and with (mu, s^2) itself. Note that the exact law is NOT (mu, s^2) on short
 * chains: with the exact eps, DDPM's fixed variances (beta~ or beta) and DDIM's deterministic steps
 * are biased by the discretisation (e.g. fixed-small on 20 steps of a linear T=1000 schedule gives
 * about 0.66 s^2 at s = 0.7), so (mu, s^2) is asserted on the full chain and the exact law on all.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/main/nn/backend';
import type { Model } from '../../src/main/diffusion/objectives';
import { spacedTimesteps } from '../../src/main/diffusion/respacing';
import { epsScaleAt, pMeanVariance, sample, samplingChain, type SamplerOptions } from '../../src/main/diffusion/samplers';
import { createProcess, type Process } from '../../src/main/diffusion/schedule';

const MU = 0.2;
const S = 0.7;
const SHAPE: [number, number, number] = [8, 8, 1];
const NS = 256; // samples; 256 * 64 = 16384 pixels: variance known to about 1.1%
const INDICES = Array.from({ length: NS }, (_, i) => i);
const SEED = 1234;

let base: Process;

beforeAll(async () => {
  await initBackend('wasm');
  base = createProcess('linear', 1000);
});

/** The closed-form optimal eps; records the timesteps it is called with. */
function toyModel(p: Process, opts: { learnSigma?: 'small' | 'large'; calls?: number[]; mu?: number; s?: number } = {}): Model {
  const mu = opts.mu ?? MU;
  const sd = opts.s ?? S;
  return (x, t) => {
    const tv = t.dataSync();
    const B = x.shape[0];
    const k = new Float32Array(B);
    const m = new Float32Array(B);
    for (let b = 0; b < B; b++) {
      const tb = tv[b]!;
      if (!Number.isInteger(tb)) throw new Error(`non-integer timestep ${tb}`);
      opts.calls?.push(tb);
      const ab = p.ab[tb]!;
      k[b] = Math.sqrt(1 - ab) / (ab * sd * sd + 1 - ab);
      m[b] = Math.sqrt(ab) * mu;
    }
    return tf.tidy(() => {
      const eps = tf.mul(tf.tensor4d(k, [B, 1, 1, 1]), tf.sub(x, tf.tensor4d(m, [B, 1, 1, 1]))) as tf.Tensor4D;
      if (!opts.learnSigma) return eps;
      return tf.concat([eps, tf.fill(eps.shape, opts.learnSigma === 'small' ? -1 : 1)], 3) as tf.Tensor4D;
    });
  };
}

/** Exact (mean, variance) of the output of a chain driven by the toy model, in float64. */
function exactLaw(spec: string, kind: 'small' | 'large' | 'ddim', lambda = 1, eta = 0, mu = MU, sd = S): { mean: number; variance: number } {
  const St = spacedTimesteps(1000, spec);
  const n = St.length;
  const b: number[] = [];
  let last = 1;
  for (const t of St) {
    b.push(1 - base.ab[t]! / last);
    last = base.ab[t]!;
  }
  const ab: number[] = [];
  b.forEach((bi, i) => ab.push((i === 0 ? 1 : ab[i - 1]!) * (1 - bi)));
  let mean = 0;
  let variance = 1;
  for (let i = n - 1; i >= 0; i--) {
    const a = ab[i]!;
    const ap = i === 0 ? 1 : ab[i - 1]!;
    const abt = base.ab[St[i]!]!; // the network sees the original timestep
    const k = Math.sqrt(1 - abt) / (abt * sd * sd + 1 - abt) / lambda;
    // x0hat = A x + C
    const A = Math.sqrt(1 / a) - Math.sqrt(1 / a - 1) * k;
    const C = Math.sqrt(1 / a - 1) * k * Math.sqrt(abt) * mu;
    let gain: number;
    let shift: number;
    let noiseVar: number;
    if (kind === 'ddim') {
      const Ae = (Math.sqrt(1 / a) - A) / Math.sqrt(1 / a - 1);
      const Ce = -C / Math.sqrt(1 / a - 1);
      const sig = eta * Math.sqrt((1 - ap) / (1 - a)) * Math.sqrt(1 - a / ap);
      const dir = Math.sqrt(1 - ap - sig * sig);
      gain = A * Math.sqrt(ap) + dir * Ae;
      shift = C * Math.sqrt(ap) + dir * Ce;
      noiseVar = i > 0 ? sig * sig : 0;
    } else {
      const beta = b[i]!;
      const c1 = (beta * Math.sqrt(ap)) / (1 - a);
      const c2 = ((1 - ap) * Math.sqrt(1 - beta)) / (1 - a);
      gain = c1 * A + c2;
      shift = c1 * C;
      noiseVar = i === 0 ? 0 : kind === 'small' ? (beta * (1 - ap)) / (1 - a) : beta;
    }
    mean = gain * mean + shift;
    variance = gain * gain * variance + noiseVar;
  }
  return { mean, variance };
}

function stats(x: Float32Array): { mean: number; variance: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let s2 = 0;
  for (const v of x) s2 += (v - mean) ** 2;
  return { mean, variance: s2 / (x.length - 1) };
}

/** |empirical - expected| within z standard errors (Gaussian pixels, N of them). */
function expectLaw(got: { mean: number; variance: number }, law: { mean: number; variance: number }, N: number, z = 4.5) {
  expect(Math.abs(got.mean - law.mean)).toBeLessThan(z * Math.sqrt(law.variance / N));
  expect(Math.abs(got.variance - law.variance)).toBeLessThan(z * law.variance * Math.sqrt(2 / (N - 1)));
}

async function run(options: Partial<SamplerOptions> & Pick<SamplerOptions, 'kind' | 'steps'>, model?: Model) {
  return sample({
    model: model ?? toyModel(base),
    process: base,
    options: { learnSigma: false, clipX0: false, ...options },
    shape: SHAPE,
    seed: SEED,
    indices: INDICES,
    batchSize: 128,
  });
}

const NPIX = NS * 64;
const cases: { name: string; options: Partial<SamplerOptions> & Pick<SamplerOptions, 'kind' | 'steps'>; law: [string, 'small' | 'large' | 'ddim', number, number] }[] = [
  { name: 'DDPM fixed-small, T = 1000', options: { kind: 'ddpm', steps: '', variance: 'fixed-small' }, law: ['', 'small', 1, 0] },
  { name: 'DDPM fixed-large, T = 1000', options: { kind: 'ddpm', steps: '', variance: 'fixed-large' }, law: ['', 'large', 1, 0] },
  { name: 'DDIM eta = 0, T = 1000', options: { kind: 'ddim', steps: '', eta: 0 }, law: ['', 'ddim', 1, 0] },
  { name: 'DDIM eta = 1, T = 1000', options: { kind: 'ddim', steps: '', eta: 1 }, law: ['', 'ddim', 1, 1] },
  { name: 'DDPM fixed-small, "100"', options: { kind: 'ddpm', steps: '100', variance: 'fixed-small' }, law: ['100', 'small', 1, 0] },
  { name: 'DDPM fixed-large, "100"', options: { kind: 'ddpm', steps: '100', variance: 'fixed-large' }, law: ['100', 'large', 1, 0] },
  { name: 'DDPM fixed-small, "20"', options: { kind: 'ddpm', steps: '20', variance: 'fixed-small' }, law: ['20', 'small', 1, 0] },
  { name: 'DDPM fixed-large, "20"', options: { kind: 'ddpm', steps: '20', variance: 'fixed-large' }, law: ['20', 'large', 1, 0] },
  { name: 'DDIM eta = 0, "ddim50"', options: { kind: 'ddim', steps: 'ddim50', eta: 0 }, law: ['ddim50', 'ddim', 1, 0] },
  { name: 'DDIM eta = 1, "20"', options: { kind: 'ddim', steps: '20', eta: 1 }, law: ['20', 'ddim', 1, 1] },
  { name: 'DDPM fixed-small, "100", lambda = 1.02', options: { kind: 'ddpm', steps: '100', variance: 'fixed-small', epsScale: { kind: 'constant', lambda: 1.02 } }, law: ['100', 'small', 1.02, 0] },
];

describe('Gaussian toy: every sampler produces its exact output law', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const x = await run(c.options);
      const got = stats(x);
      const law = exactLaw(...c.law);
      expectLaw(got, law, NPIX);
      if (c.options.steps === '') {
        // the full chain recovers the data law: its exact bias is at most 1.3% of s^2 here
        expect(Math.abs(law.variance / (S * S) - 1)).toBeLessThan(0.015);
        expect(Math.abs(got.mean - MU)).toBeLessThan(4.5 * Math.sqrt((S * S) / NPIX) + 0.002);
        expect(Math.abs(got.variance / (S * S) - 1)).toBeLessThan(4.5 * Math.sqrt(2 / NPIX) + 0.015);
      }
    });
  }
});

describe('options', () => {
  it('eps scaling with lambda = 1 equals no scaling bit for bit', async () => {
    const a = await run({ kind: 'ddpm', steps: '20', variance: 'fixed-small' });
    const b = await run({ kind: 'ddpm', steps: '20', variance: 'fixed-small', epsScale: { kind: 'constant', lambda: 1 } });
    const c = await run({ kind: 'ddim', steps: '20', epsScale: { kind: 'linear', start: 1, end: 1 } });
    const d = await run({ kind: 'ddim', steps: '20' });
    expect(b).toEqual(a);
    expect(c).toEqual(d);
  });

  it('eps scaling: lambda > 1 widens the toy samples, lambda < 1 narrows them (paired noise)', async () => {
    const v1 = stats(await run({ kind: 'ddpm', steps: '20', variance: 'fixed-small' })).variance;
    const up = stats(await run({ kind: 'ddpm', steps: '20', variance: 'fixed-small', epsScale: { kind: 'constant', lambda: 1.02 } })).variance;
    const down = stats(await run({ kind: 'ddpm', steps: '20', variance: 'fixed-small', epsScale: { kind: 'constant', lambda: 0.98 } })).variance;
    expect(up).toBeGreaterThan(v1 * 1.02);
    expect(down).toBeLessThan(v1 / 1.02);
    expect(exactLaw('20', 'small', 1.02).variance).toBeGreaterThan(exactLaw('20', 'small', 1).variance);
  });

  it('linear eps scale runs from start at the last step (i = 0) to end at the first', () => {
    const s = { kind: 'linear', start: 1.0, end: 1.1 } as const;
    expect(epsScaleAt(s, 0, 11)).toBe(1.0);
    expect(epsScaleAt(s, 10, 11)).toBeCloseTo(1.1, 15);
    expect(epsScaleAt(s, 5, 11)).toBeCloseTo(1.05, 15);
    expect(epsScaleAt(undefined, 3, 11)).toBe(1);
    expect(() => epsScaleAt({ kind: 'constant', lambda: 0 }, 0, 10)).toThrow();
  });

  it('a learned variance whose v is -1 (+1) equals fixed-small (fixed-large) bit for bit', async () => {
    const small = await run({ kind: 'ddpm', steps: '20', variance: 'fixed-small' });
    const learnedSmall = await run({ kind: 'ddpm', steps: '20', learnSigma: true, variance: 'learned' }, toyModel(base, { learnSigma: 'small' }));
    expect(learnedSmall).toEqual(small);
    const large = await run({ kind: 'ddpm', steps: '20', variance: 'fixed-large' });
    const learnedLarge = await run({ kind: 'ddpm', steps: '20', learnSigma: true }, toyModel(base, { learnSigma: 'large' }));
    expect(learnedLarge).toEqual(large);
  });

  it('the network is called with the ORIGINAL timesteps of the respacing, from the top down', async () => {
    const calls: number[] = [];
    await sample({
      model: toyModel(base, { calls }),
      process: base,
      options: { kind: 'ddpm', steps: '10', learnSigma: false },
      shape: [2, 2, 1],
      seed: 1,
      indices: [0],
    });
    expect(calls).toEqual([...spacedTimesteps(1000, '10')].reverse());
  });

  it('paired noise: sample n is the same whatever the batch it is drawn in', async () => {
    const opts = { kind: 'ddpm', steps: '20', learnSigma: false } as const;
    const all = await sample({ model: toyModel(base), process: base, options: opts, shape: [4, 4, 1], seed: 9, indices: [5, 6, 7, 8], batchSize: 3 });
    const one = await sample({ model: toyModel(base), process: base, options: opts, shape: [4, 4, 1], seed: 9, indices: [7], batchSize: 1 });
    expect(one).toEqual(all.subarray(2 * 16, 3 * 16));
    const other = await sample({ model: toyModel(base), process: base, options: opts, shape: [4, 4, 1], seed: 10, indices: [7] });
    expect(other).not.toEqual(one);
  });

  it('clipping x0-hat keeps the output in [-1, 1]', async () => {
    const wide: Model = (x) => tf.mul(x, 0.2) as tf.Tensor4D; // a poor model that leaves mass outside [-1, 1]
    const x = await sample({ model: wide, process: base, options: { kind: 'ddpm', steps: '20', learnSigma: false }, shape: [4, 4, 1], seed: 2, indices: [0, 1, 2, 3] });
    expect(Math.max(...x.map(Math.abs))).toBeLessThanOrEqual(1);
    const raw = await sample({ model: wide, process: base, options: { kind: 'ddpm', steps: '20', learnSigma: false, clipX0: false }, shape: [4, 4, 1], seed: 2, indices: [0, 1, 2, 3] });
    expect(Math.max(...raw.map(Math.abs))).toBeGreaterThan(1);
  });

  it('startFrom runs the chain from a given x_t at one of its timesteps', async () => {
    const S20 = spacedTimesteps(1000, '20');
    const calls: number[] = [];
    const xt = new Float32Array(2 * 16).fill(0.3);
    const x = await sample({
      model: toyModel(base, { calls }),
      process: base,
      options: { kind: 'ddim', steps: '20', learnSigma: false, clipX0: false },
      shape: [4, 4, 1],
      seed: 1,
      indices: [0, 1],
      startFrom: { xt, t: S20[5]! },
    });
    // the toy records one call per sample row: two rows per step
    expect(calls).toEqual([5, 4, 3, 2, 1, 0].flatMap((k) => [S20[k], S20[k]]));
    expect(x.length).toBe(32);
    await expect(sample({ model: toyModel(base), process: base, options: { kind: 'ddim', steps: '20', learnSigma: false }, shape: [4, 4, 1], seed: 1, indices: [0, 1], startFrom: { xt, t: 7 } })).rejects.toThrow();
  });

  it('leaves no tensors behind, also when aborted', async () => {
    const before = tf.memory().numTensors;
    await sample({ model: toyModel(base), process: base, options: { kind: 'ddpm', steps: '20', learnSigma: false, timeShift: { cutoff: 0, window: 3 } }, shape: [4, 4, 1], seed: 1, indices: [0, 1, 2], batchSize: 2 });
    expect(tf.memory().numTensors).toBe(before);
    const ac = new AbortController();
    const p = sample({
      model: toyModel(base),
      process: base,
      options: { kind: 'ddim', steps: '20', learnSigma: false },
      shape: [4, 4, 1],
      seed: 1,
      indices: [0, 1],
      onStep: (done) => {
        if (done === 5) ac.abort();
      },
      signal: ac.signal,
    });
    await expect(p).rejects.toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pMeanVariance gives x0-hat, the posterior mean and the log-variance of one step', () => {
    const { chain, S: St } = samplingChain(base, '100');
    const i = 40;
    const x = tf.tensor4d([0.1, -0.5, 0.9, 1.5], [1, 2, 2, 1]);
    const r = pMeanVariance({ model: toyModel(base), chain, x, i, learnSigma: false, variance: 'fixed-small', clipX0: false });
    const abt = base.ab[St[i]!]!;
    const xv = [0.1, -0.5, 0.9, 1.5];
    const k = Math.sqrt(1 - abt) / (abt * S * S + 1 - abt);
    xv.forEach((xx, j) => {
      const eps = k * (xx - Math.sqrt(abt) * MU);
      const x0 = chain.sqrtRecipAb[i]! * xx - chain.sqrtRecipm1Ab[i]! * eps;
      expect(r.predX0.dataSync()[j]).toBeCloseTo(x0, 5);
      expect(r.mean.dataSync()[j]).toBeCloseTo(chain.posteriorMeanCoef1[i]! * x0 + chain.posteriorMeanCoef2[i]! * xx, 5);
      expect(r.logVariance.dataSync()[j]).toBeCloseTo(chain.posteriorLogVarianceClipped[i]!, 5);
    });
    expect(r.v).toBeNull();
    tf.dispose([x, r.eps, r.predX0, r.mean, r.logVariance]);
  });
});

describe('time-shift sampler', () => {
  it('window 0 reproduces the plain sampler bit for bit', async () => {
    const a = await run({ kind: 'ddpm', steps: '100', variance: 'fixed-small' });
    const b = await run({ kind: 'ddpm', steps: '100', variance: 'fixed-small', timeShift: { cutoff: 0, window: 0 } });
    expect(b).toEqual(a);
  });

  it('shifts per sample within [t - w, t + w] (and above S_{i-1}) only above the cutoff', async () => {
    const calls: number[] = [];
    const steps = '100';
    const St = spacedTimesteps(1000, steps);
    const cutoff = 300;
    const window = 12; // wider than some strides, so the S_{i-1} bound bites
    await sample({
      model: toyModel(base, { calls }),
      process: base,
      options: { kind: 'ddpm', steps, learnSigma: false, variance: 'fixed-small', timeShift: { cutoff, window } },
      shape: [4, 4, 1],
      seed: 3,
      indices: Array.from({ length: 32 }, (_, i) => i),
    });
    const B = 32;
    let shifted = 0;
    let bounded = 0;
    for (let k = 0; k < St.length; k++) {
      const i = St.length - 1 - k;
      const t = St[i]!;
      for (const tc of calls.slice(k * B, (k + 1) * B)) {
        if (t <= cutoff) expect(tc).toBe(t);
        else {
          expect(Math.abs(tc - t)).toBeLessThanOrEqual(window);
          expect(tc).toBeGreaterThan(i > 0 ? St[i - 1]! : -1);
          expect(tc).toBeLessThanOrEqual(999);
          if (tc !== t) shifted++;
          if (i > 0 && tc === St[i - 1]! + 1 && t - window <= St[i - 1]!) bounded++;
        }
      }
    }
    expect(shifted).toBeGreaterThan(0);
    expect(bounded).toBeGreaterThan(0);
  });

  it('picks argmin over tau of (Var_pixels(x) - (1 - ab_tau))^2 for each sample', async () => {
    const steps = '100';
    const St = spacedTimesteps(1000, steps);
    const k = 60; // S_60 is well above the cutoff
    const t = St[k]!;
    const window = 8;
    // per-sample targets: inside the window, at its edges, and beyond it (clamped to the edge)
    const offsets = [-8, -3, 0, 2, 5, 8, 30, -30];
    const expected = offsets.map((d) => Math.min(t + window, Math.max(t - window, t + d)));
    const hw = 16;
    const xt = new Float32Array(offsets.length * hw);
    offsets.forEach((d, j) => {
      const tau = Math.min(999, Math.max(0, t + d));
      const sd = Math.sqrt(1 - base.ab[tau]!);
      // +-sd alternating: pixel mean 0, population variance exactly 1 - ab_tau
      for (let p = 0; p < hw; p++) xt[j * hw + p] = (p % 2 === 0 ? 1 : -1) * sd;
    });
    const calls: number[] = [];
    await sample({
      model: toyModel(base, { calls }),
      process: base,
      options: { kind: 'ddim', steps, learnSigma: false, clipX0: false, timeShift: { cutoff: 300, window } },
      shape: [4, 4, 1],
      seed: 1,
      indices: offsets.map((_, j) => j),
      startFrom: { xt, t },
    });
    expect(calls.slice(0, offsets.length)).toEqual(expected);
  });

  it('with little data variance the shifted chain keeps the exact law of the unshifted one', async () => {
    // Var_pixels(x_t) = ab_t s^2 + 1 - ab_t: the criterion ignores ab_t s^2, so s is kept small here
    const mu = 0.2;
    const sd = 0.1;
    const x = await sample({
      model: toyModel(base, { mu, s: sd }),
      process: base,
      options: { kind: 'ddim', steps: '100', learnSigma: false, clipX0: false, timeShift: { cutoff: 300, window: 4 } },
      shape: SHAPE,
      seed: SEED,
      indices: INDICES,
      batchSize: 128,
    });
    const got = stats(x);
    const law = exactLaw('100', 'ddim', 1, 0, mu, sd);
    expect(Math.abs(got.mean - law.mean)).toBeLessThan(4.5 * Math.sqrt(law.variance / NPIX));
    expect(Math.abs(got.variance / law.variance - 1)).toBeLessThan(4.5 * Math.sqrt(2 / NPIX) + 0.03);
  });
});

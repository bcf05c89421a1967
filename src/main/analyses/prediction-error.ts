/**
 * The prediction error of Ning et al. (method.md section 5): at a chosen t, noise data images
 * x_t = q_sample(x0, t, eps), let the network predict eps-hat, form
 *   x0-hat = (x_t - sqrt(1 - ab_t) eps-hat) / sqrt(ab_t)
 * (not clipped: clipping is a sampler's choice, the error is the network's), and summarise
 * e = x0 - x0-hat over every pixel: mean, standard deviation, a histogram, and a Shapiro-Wilk
 * test on a seeded subsample — the paper's evidence that the error is close to Gaussian, which is
 * what makes Gaussian input perturbation a fitting simulation of it.
 */
import type { PredictionErrorResult } from '../../shared/api';
import { predictionErrorAnalysis } from '../metrics/analyses';
import {
  type AnalysedModel,
  type ImageSet,
  type WorkProgress,
  analysisNoise,
  checkTimestep,
  forwardNoise,
  predictEps,
  scaledTimesteps,
} from './analysis-inputs';

/** t = 10, 100, 300, 500, 700, 900 for T = 1000; scaled to other T. */
export const DEFAULT_PREDICTION_ERROR_T = [10, 100, 300, 500, 700, 900] as const;

/** Histogram bins; even, so 0 is an edge and the two halves are directly comparable. */
export const PREDICTION_ERROR_BINS = 60;

export function defaultPredictionErrorTimesteps(T: number): number[] {
  return scaledTimesteps(DEFAULT_PREDICTION_ERROR_T, T);
}

/** The smallest of 1, 2, 2.5, 5 times a power of ten that is >= x (x > 0). */
export function niceCeil(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/**
 * Histogram range [-R, R]: R is a "nice" number at or above 1.5 times the 99.9th percentile of
 * |e| (about 5 standard deviations for Gaussian errors), so a few wild pixels cannot squash every
 * bin into the middle. Nice, symmetric edges mean two runs with errors of similar size get
 * identical edges (the same bins to compare); values beyond R are left out of the counts
 * (n - sum(counts) of them). The percentile is read off at most 100,000 evenly strided values.
 */
export function histogramRadius(errors: ArrayLike<number>): number {
  const stride = Math.max(1, Math.ceil(errors.length / 100_000));
  const abs: number[] = [];
  let maxAbs = 0;
  for (let i = 0; i < errors.length; i++) {
    const a = Math.abs(errors[i]!);
    if (a > maxAbs) maxAbs = a;
    if (i % stride === 0) abs.push(a);
  }
  abs.sort((a, b) => a - b);
  const q = abs[Math.min(abs.length - 1, Math.floor(0.999 * abs.length))] ?? 0;
  return niceCeil(Math.min(maxAbs, 1.5 * q));
}

export interface PredictionErrorOptions {
  model: AnalysedModel;
  /** The x0 images (already chosen: see selectDataImages). */
  data: ImageSet;
  timesteps: readonly number[];
  seed: number;
  batchSize?: number;
  onStep?: WorkProgress;
}

export async function measurePredictionError(o: PredictionErrorOptions): Promise<PredictionErrorResult> {
  const { model, data, seed } = o;
  const [h, w, c] = model.shape;
  const hwc = h * w * c;
  const n = data.count;
  if (data.images.length !== n * hwc) throw new Error(`prediction error: ${data.images.length} values for ${n} images of ${h}x${w}x${c}`);
  if (o.timesteps.length === 0) throw new Error('prediction error: no timesteps to measure at');
  for (const t of o.timesteps) checkTimestep(model.process, t, 'prediction-error timestep');
  const bs = Math.max(1, Math.min(o.batchSize ?? 64, n));
  const batches = Math.ceil(n / bs);
  const total = o.timesteps.length * batches;
  let done = 0;
  const p = model.process;
  const perT: PredictionErrorResult['perT'] = [];
  for (const t of o.timesteps) {
    const errors = new Float32Array(n * hwc);
    for (let b0 = 0; b0 < n; b0 += bs) {
      const B = Math.min(bs, n - b0);
      const indices = Array.from({ length: B }, (_, k) => b0 + k);
      const x0 = data.images.subarray(b0 * hwc, (b0 + B) * hwc);
      const xt = forwardNoise(p, t, x0, analysisNoise(seed, indices, hwc, t));
      const epsHat = await predictEps(model, xt, B, t);
      const a = p.sqrtRecipAb[t]!;
      const m = p.sqrtRecipm1Ab[t]!;
      for (let i = 0; i < B * hwc; i++) errors[b0 * hwc + i] = x0[i]! - (a * xt[i]! - m * epsHat[i]!);
      done++;
      o.onStep?.(done, total);
    }
    const R = histogramRadius(errors);
    const s = predictionErrorAnalysis(errors, { bins: PREDICTION_ERROR_BINS, range: [-R, R], seed });
    perT.push({
      t,
      n: s.count,
      mean: s.mean,
      std: s.std,
      shapiroW: s.shapiroWilk.w,
      shapiroP: s.shapiroWilk.p,
      histogram: { edges: s.edges, counts: s.counts },
    });
  }
  return { kind: 'prediction-error', perT };
}

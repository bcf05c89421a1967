/**
 * The exposure-bias measurements of the papers (method.md section 5), as pure math on arrays the
 * sampler records:
 *  - the prediction error e = x0 - x0_hat at a chosen t: histogram, moments, and a Shapiro-Wilk test
 *    (Ning et al.'s evidence that the error is close to Gaussian, which motivates perturbing inputs
 *    with Gaussian noise);
 *  - delta_t (ADM-ES): how far the spread of the sampler's x_t around sqrt(ab_t) x0 drifts from the
 *    sqrt(1 - ab_t) that training assumed.
 */
import { SHAPIRO_WILK_MAX_N, seededSubsample, shapiroWilk, type ShapiroWilkResult } from './shapiro-wilk';

export interface HistogramOptions {
  bins?: number;
  /** [lo, hi] of the bin edges; default the data's min and max. Values outside are counted in `outside`. */
  range?: [number, number];
  /** Seed of the Shapiro-Wilk subsample. */
  seed?: number;
  /** Values the normality test uses at most (AS R94's limit is 5000). */
  shapiroMax?: number;
}

export interface PredictionErrorAnalysis {
  count: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** bins + 1 edges; bin i is [edges[i], edges[i+1]), the last one closed. */
  edges: number[];
  counts: number[];
  /** counts / (count * binWidth): comparable to a normal density with the same mean and std. */
  density: number[];
  outside: number;
  /** On a seeded subsample of at most `shapiroMax` values when there are more. */
  shapiroWilk: ShapiroWilkResult & { subsampled: boolean };
}

export function predictionErrorAnalysis(errors: ArrayLike<number>, opts: HistogramOptions = {}): PredictionErrorAnalysis {
  const n = errors.length;
  if (n < 3) throw new Error(`prediction-error analysis needs at least 3 values, got ${n}`);
  const bins = opts.bins ?? 50;
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`histogram bins must be a positive integer, got ${bins}`);
  let mean = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = errors[i]!;
    if (!Number.isFinite(v)) throw new Error(`prediction error ${i} is not finite`);
    mean += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (errors[i]! - mean) ** 2;
  const std = Math.sqrt(ss / n);
  let [lo, hi] = opts.range ?? [min, max];
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = new Array<number>(bins).fill(0);
  let outside = 0;
  for (let i = 0; i < n; i++) {
    const v = errors[i]!;
    if (v < lo || v > hi) {
      outside++;
      continue;
    }
    counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
  }
  const density = counts.map((c) => c / (n * width));
  const cap = opts.shapiroMax ?? SHAPIRO_WILK_MAX_N;
  const sample = seededSubsample(errors, cap, opts.seed ?? 0, 'prediction-error-shapiro');
  return { count: n, mean, std, edges, counts, density, outside, shapiroWilk: { ...shapiroWilk(sample), subsampled: n > cap } };
}

export interface DeltaStep {
  /** Original timestep index t of this sampling step. */
  t: number;
  /** ab_t of that timestep. */
  alphaBar: number;
  /** x_t_hat - sqrt(ab_t) x0 for every sample: samples x pixels, row-major. */
  residuals: ArrayLike<number>;
}

export interface DeltaPoint {
  t: number;
  /** Pixel-mean of the per-pixel standard deviation across samples. */
  sigmaHat: number;
  /** sqrt(1 - ab_t), the spread training assumed. */
  expected: number;
  /** (sigmaHat - expected)^2 */
  delta: number;
}

/**
 * delta_t at every recorded step. `ddof` is the standard deviation's delta degrees of freedom:
 * 1 (the default) is the unbiased-variance convention of torch.std, 0 numpy's np.std.
 */
export function deltaT(steps: readonly DeltaStep[], samples: number, opts: { ddof?: 0 | 1 } = {}): DeltaPoint[] {
  const ddof = opts.ddof ?? 1;
  if (!Number.isInteger(samples) || samples <= ddof) throw new Error(`delta_t needs more than ${ddof} samples, got ${samples}`);
  return steps.map((step) => {
    const r = step.residuals;
    if (r.length % samples !== 0 || r.length === 0) {
      throw new Error(`delta_t: step t=${step.t} has ${r.length} values, not a multiple of ${samples} samples`);
    }
    if (!(step.alphaBar >= 0 && step.alphaBar <= 1)) throw new Error(`delta_t: alphaBar ${step.alphaBar} at t=${step.t} is not in [0, 1]`);
    const pixels = r.length / samples;
    let sumStd = 0;
    for (let p = 0; p < pixels; p++) {
      let m = 0;
      for (let s = 0; s < samples; s++) m += r[s * pixels + p]!;
      m /= samples;
      let v = 0;
      for (let s = 0; s < samples; s++) v += (r[s * pixels + p]! - m) ** 2;
      sumStd += Math.sqrt(v / (samples - ddof));
    }
    const sigmaHat = sumStd / pixels;
    const expected = Math.sqrt(1 - step.alphaBar);
    return { t: step.t, sigmaHat, expected, delta: (sigmaHat - expected) ** 2 };
  });
}

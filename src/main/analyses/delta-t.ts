/**
 * delta_t of ADM-ES (method.md section 5): how far the spread of the sampler's states drifts from
 * what training assumed. Start each chain from x_T' = q_sample(x0, t_start) of a data image x0, run
 * the sampler, and at every step record r = x_t-hat - sqrt(ab_t) x0; then
 *   sigma-hat_t = mean over pixels of the per-pixel standard deviation of r across samples,
 *   delta_t     = (sigma-hat_t - sqrt(1 - ab_t))^2.
 * Training saw x_t with exactly sqrt(1 - ab_t) of noise around sqrt(ab_t) x0; a sampler whose
 * prediction errors accumulate (exposure bias) shows a growing delta_t as t falls.
 *
 * The standard deviations are accumulated batch by batch (Chan et al.'s pairwise update of per-pixel
 * mean and sum of squared deviations), so memory is one pair of arrays per step, not every state.
 * Unbiased (n - 1) variance, as metrics/analyses.ts deltaT's default.
 */
import type { DeltaTResult } from '../../shared/api';
import { sample, samplingChain, type SamplerOptions } from '../diffusion/samplers';
import {
  type AnalysedModel,
  type ImageSet,
  type WorkProgress,
  analysisNoise,
  checkTimestep,
  forwardNoise,
  snapToChain,
} from './analysis-inputs';

/** Per-pixel running mean and M2 of one step, merged over batches. */
class PixelSpread {
  count = 0;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  constructor(pixels: number) {
    this.mean = new Float64Array(pixels);
    this.m2 = new Float64Array(pixels);
  }

  /** Adds a batch of B residual images (B x pixels, row-major). */
  add(r: ArrayLike<number>, B: number): void {
    const P = this.mean.length;
    const n1 = this.count;
    const n = n1 + B;
    for (let p = 0; p < P; p++) {
      let m = 0;
      for (let s = 0; s < B; s++) m += r[s * P + p]!;
      m /= B;
      let q = 0;
      for (let s = 0; s < B; s++) q += (r[s * P + p]! - m) ** 2;
      const d = m - this.mean[p]!;
      this.mean[p] = this.mean[p]! + (d * B) / n;
      this.m2[p] = this.m2[p]! + q + (d * d * n1 * B) / n;
    }
    this.count = n;
  }

  /** Mean over pixels of the per-pixel standard deviation (n - 1 in the denominator). */
  meanStd(): number {
    let sum = 0;
    for (let p = 0; p < this.m2.length; p++) sum += Math.sqrt(this.m2[p]! / (this.count - 1));
    return sum / this.m2.length;
  }
}

export interface DeltaTOptions {
  model: AnalysedModel;
  /** One x0 per chain (already chosen: see selectDataImages); at least 2. */
  data: ImageSet;
  sampler: Omit<SamplerOptions, 'learnSigma'>;
  /** Snapped down to a kept timestep of the chain; default the chain's first (largest) one. */
  tStart?: number;
  seed: number;
  batchSize?: number;
  onStep?: WorkProgress;
}

export async function measureDeltaT(o: DeltaTOptions): Promise<DeltaTResult> {
  const { model, data, seed } = o;
  const [h, w, c] = model.shape;
  const hwc = h * w * c;
  const n = data.count;
  if (n < 2) throw new Error(`delta_t needs at least 2 chains (a standard deviation across samples), got ${n}`);
  if (data.images.length !== n * hwc) throw new Error(`delta_t: ${data.images.length} values for ${n} images of ${h}x${w}x${c}`);
  const p = model.process;
  const { S } = samplingChain(p, o.sampler.steps);
  if (o.tStart !== undefined) checkTimestep(p, o.tStart, 'tStart');
  const tStart = snapToChain(S, o.tStart ?? S[S.length - 1]!);
  const startStep = S.indexOf(tStart);
  const spreads = Array.from({ length: startStep + 1 }, () => new PixelSpread(hwc));
  const indices = Array.from({ length: n }, (_, i) => i);
  const xt = forwardNoise(p, tStart, data.images, analysisNoise(seed, indices, hwc));
  const bs = Math.max(1, Math.min(o.batchSize ?? 64, n));
  await sample({
    model: model.network,
    process: p,
    options: { ...o.sampler, learnSigma: model.learnSigma },
    shape: model.shape,
    seed,
    indices,
    batchSize: bs,
    startFrom: { xt, t: tStart },
    onStep: o.onStep,
    onState: (s) => {
      // s.x is the state entering step i, at original timestep S_i: the x_t-hat of that t.
      const B = s.indices.length;
      const b0 = s.indices[0]!;
      const x = s.x.dataSync();
      const a = p.sqrtAb[s.t]!;
      const r = new Float64Array(B * hwc);
      for (let k = 0; k < B * hwc; k++) r[k] = x[k]! - a * data.images[b0 * hwc + k]!;
      spreads[s.i]!.add(r, B);
    },
  });
  // Steps are reported from t_start down to 0, the order the chain visits them.
  const points: DeltaTResult['points'] = [];
  for (let i = startStep; i >= 0; i--) {
    const t = S[i]!;
    const sigmaHat = spreads[i]!.meanStd();
    const sigmaTrue = Math.sqrt(1 - p.ab[t]!);
    points.push({ t, sigmaHat, sigmaTrue, delta: (sigmaHat - sigmaTrue) ** 2 });
  }
  return { kind: 'delta-t', tStart, samplingSteps: S.length, points };
}

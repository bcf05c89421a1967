/**
 * Frequency content of samples against data (method.md section 5): the radially averaged power
 * spectrum of n samples drawn from the model (paired seeds: sample i starts from the same x_T as
 * sample i of any sample set with this seed) and of n data images. The paper's explanation of why
 * input perturbation helps is that it keeps more high-frequency content; the two curves show it.
 */
import type { SpectrumResult } from '../../shared/api';
import { sample, type SamplerOptions } from '../diffusion/samplers';
import { radialPowerSpectrum } from '../metrics/spectrum';
import type { AnalysedModel, ImageSet, WorkProgress } from './analysis-inputs';

/**
 * Both spectra on the same frequency axis. Radius r of the integer annuli is in cycles per image
 * side; divided by the side it is in cycles per pixel (0.5 = Nyquist along an axis).
 */
export function compareSpectra(samples: ImageSet, data: ImageSet, shape: readonly [number, number, number]): SpectrumResult {
  const [h, w, c] = shape;
  if (h !== w) throw new Error(`spectrum comparison needs square images, got ${h}x${w}`);
  const s = radialPowerSpectrum({ data: samples.images, count: samples.count, height: h, width: w, channels: c });
  const d = radialPowerSpectrum({ data: data.images, count: data.count, height: h, width: w, channels: c });
  return { kind: 'spectrum', frequencies: s.radius.map((r) => r / h), samples: s.power, data: d.power };
}

export interface SpectrumOptions {
  model: AnalysedModel;
  data: ImageSet;
  sampler: Omit<SamplerOptions, 'learnSigma'>;
  /** Samples to draw (indices 0..n-1 of the paired noise). */
  n: number;
  seed: number;
  batchSize?: number;
  onStep?: WorkProgress;
}

export async function measureSpectrum(o: SpectrumOptions): Promise<SpectrumResult> {
  const images = await sample({
    model: o.model.network,
    process: o.model.process,
    options: { ...o.sampler, learnSigma: o.model.learnSigma },
    shape: o.model.shape,
    seed: o.seed,
    indices: Array.from({ length: o.n }, (_, i) => i),
    batchSize: o.batchSize ?? 64,
    onStep: o.onStep,
  });
  return compareSpectra({ images, count: o.n }, o.data, o.model.shape);
}

/**
 * Chain-length visualisation: what the model makes of a data image after the reverse chain has
 * run from different depths. For each t_start, x_t = q_sample(x0, t_start) of a few data images,
 * the sampler runs from there down to 0, and its final x0-hat is kept. Short chains (small t_start)
 * should return the image nearly unchanged; long ones show how far exposure bias carries the chain
 * away from the data it started near. The grid's first row is the data x0, then one row per t_start.
 */
import { sample, samplingChain, type SamplerOptions } from '../diffusion/samplers';
import { gridPng, toUint8 } from '../formats/image-grid';
import {
  type AnalysedModel,
  type ImageSet,
  type WorkProgress,
  analysisNoise,
  checkTimestep,
  forwardNoise,
  scaledTimesteps,
  snapToChain,
} from './analysis-inputs';

/** Images per row of the grid. */
export const CHAIN_LENGTH_COLUMNS = 8;

/** Depths 100, 250, 500, 750 and the full chain, for T = 1000; scaled to other T. */
export function defaultChainLengthStarts(T: number): number[] {
  return scaledTimesteps([100, 250, 500, 750, 1000], T);
}

export interface ChainLengthOptions {
  model: AnalysedModel;
  /** The x0 images of the first row. */
  data: ImageSet;
  sampler: Omit<SamplerOptions, 'learnSigma'>;
  /** Each is snapped down to a kept timestep of the chain. */
  tStarts: readonly number[];
  seed: number;
  onStep?: WorkProgress;
}

export interface ChainLengthRows {
  /** The snapped t_start of each row, in the order asked. */
  tStarts: number[];
  /** One NHWC batch per row: the chain's final x0-hat of each image. */
  rows: Float32Array[];
}

export async function chainLengthRows(o: ChainLengthOptions): Promise<ChainLengthRows> {
  const { model, data, seed } = o;
  const [h, w, c] = model.shape;
  const hwc = h * w * c;
  const n = data.count;
  if (data.images.length !== n * hwc) throw new Error(`chain length: ${data.images.length} values for ${n} images of ${h}x${w}x${c}`);
  if (o.tStarts.length === 0) throw new Error('chain length: no starting timesteps');
  const p = model.process;
  const { S } = samplingChain(p, o.sampler.steps);
  const tStarts = o.tStarts.map((t) => {
    checkTimestep(p, t, 'tStart');
    return snapToChain(S, t);
  });
  const indices = Array.from({ length: n }, (_, i) => i);
  const eps = analysisNoise(seed, indices, hwc);
  // Work over all rows, for one progress bar: a chain from S_k takes k + 1 steps.
  const total = tStarts.reduce((a, t) => a + S.indexOf(t) + 1, 0);
  let before = 0;
  const rows: Float32Array[] = [];
  for (const t of tStarts) {
    const steps = S.indexOf(t) + 1;
    const offset = before;
    rows.push(
      await sample({
        model: model.network,
        process: p,
        options: { ...o.sampler, learnSigma: model.learnSigma },
        shape: model.shape,
        seed,
        indices,
        batchSize: n,
        startFrom: { xt: forwardNoise(p, t, data.images, eps), t },
        onStep: o.onStep && ((done) => o.onStep!(offset + done, total)),
      }),
    );
    before += steps;
  }
  return { tStarts, rows };
}

/** The PNG grid: data first, then one row per t_start, `data.count` columns. */
export async function chainLengthGrid(data: ImageSet, rows: readonly Float32Array[], shape: readonly [number, number, number]): Promise<Buffer> {
  const [h, w, c] = shape;
  const n = data.count;
  const all = new Float32Array((rows.length + 1) * n * h * w * c);
  all.set(data.images, 0);
  rows.forEach((r, k) => {
    if (r.length !== data.images.length) throw new Error(`chain-length row ${k} has ${r.length} values, expected ${data.images.length}`);
    all.set(r, (k + 1) * r.length);
  });
  // A picture, not FID input: rounding (not the reference's truncation) gives data rows their own bytes back.
  return gridPng(toUint8(all, 'round'), (rows.length + 1) * n, h, w, c, n);
}

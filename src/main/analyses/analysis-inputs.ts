/**
 * What every exposure-bias analysis starts from: the network under test, a reproducible choice of
 * data images x0, their forward-noised versions x_t = q_sample(x0, t) with seeded noise, and the
 * timesteps to measure at (snapped to the sampling chain when a chain has to start there).
 *
 * Seeds: image i of the selection is the same for a given (seed, n) whatever the model, and so is
 * its noise eps_i, so two runs analysed with the same seed see exactly the same x0 and eps (paired,
 * like sample sets). Chains share one eps_i for every start t (rows of a chain-length grid differ
 * only in t); the prediction error draws a fresh eps_i per t, so each t is its own measurement.
 */
import * as tf from '@tensorflow/tfjs-core';
import { splitModelOutput } from '../diffusion/objectives';
import type { Process } from '../diffusion/schedule';
import { pairedNormal, Stream } from '../rng';

/** The network as the analyses call it: tfjs (synchronous) or ONNX Runtime (asynchronous). */
export type AnalysisNetwork = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D | Promise<tf.Tensor4D>;

export interface AnalysedModel {
  network: AnalysisNetwork;
  /** The training process (full T): the network is called with its timesteps. */
  process: Process;
  /** The network outputs 2C channels (eps, v). */
  learnSigma: boolean;
  /** [h, w, c] of one image. */
  shape: [number, number, number];
}

/** NHWC images in [-1, 1] (or any values: the math does not care). */
export interface ImageSet {
  images: Float32Array;
  count: number;
}

/** Called after each unit of work (a forward pass or a sampler step); may throw to stop. */
export type WorkProgress = (done: number, total: number) => void;

/**
 * n images of `data`, chosen without replacement by a seeded permutation (datasets are often sorted
 * by class, so the first n would be one digit).
 */
export function selectDataImages(data: ImageSet, shape: readonly [number, number, number], n: number, seed: number): ImageSet {
  const hwc = shape[0] * shape[1] * shape[2];
  if (data.images.length !== data.count * hwc) {
    throw new Error(`data holds ${data.images.length} values, not ${data.count} images of ${shape.join('x')}`);
  }
  if (!Number.isInteger(n) || n < 1) throw new Error(`the analysis needs a positive number of images, got ${n}`);
  if (n > data.count) throw new Error(`the dataset has only ${data.count} images; ask for n <= ${data.count}`);
  const order = new Stream(seed, 'analysis-data').permutation(data.count);
  const out = new Float32Array(n * hwc);
  for (let k = 0; k < n; k++) out.set(data.images.subarray(order[k]! * hwc, (order[k]! + 1) * hwc), k * hwc);
  return { images: out, count: n };
}

/**
 * The seeded noise eps of images `indices` (rows of pairedNormal, so independent of batching);
 * `t` gives each timestep its own draw.
 */
export function analysisNoise(seed: number, indices: ArrayLike<number>, hwc: number, t?: number): Float32Array {
  return pairedNormal(t === undefined ? [seed, 'analysis-eps'] : [seed, 'analysis-eps', t], indices, hwc);
}

/** x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, on the host in float64 rounded to float32. */
export function forwardNoise(process: Process, t: number, x0: ArrayLike<number>, eps: ArrayLike<number>): Float32Array {
  checkTimestep(process, t);
  if (x0.length !== eps.length) throw new Error(`q_sample: ${x0.length} pixels but ${eps.length} noise values`);
  const a = process.sqrtAb[t]!;
  const b = process.sqrt1mAb[t]!;
  const out = new Float32Array(x0.length);
  for (let i = 0; i < out.length; i++) out[i] = a * x0[i]! + b * eps[i]!;
  return out;
}

export function checkTimestep(process: Process, t: number, what = 't'): void {
  if (!Number.isInteger(t) || t < 0 || t >= process.numTimesteps) {
    throw new Error(`${what} = ${t} is outside 0..${process.numTimesteps - 1} (the model has T = ${process.numTimesteps})`);
  }
}

/**
 * The chain's kept timestep a reverse chain can start from for a requested t: the largest kept
 * timestep <= t. The analyses record the snapped value, so nothing is silently mislabelled.
 */
export function snapToChain(S: readonly number[], t: number): number {
  let best = -1;
  for (const s of S) if (s <= t && s > best) best = s;
  if (best < 0) throw new Error(`no timestep of the chain is <= ${t}`);
  return best;
}

/** The paper-style defaults (t = 10, 100, ... for T = 1000) for any T: round(t * T / 1000), distinct. */
export function scaledTimesteps(thousandths: readonly number[], T: number): number[] {
  const out = new Set<number>();
  for (const t of thousandths) out.add(Math.min(T - 1, Math.max(0, Math.round((t * T) / 1000))));
  return [...out].sort((a, b) => a - b);
}

/** The network's eps for x at timestep t (all images), as float32 host values. */
export async function predictEps(model: AnalysedModel, x: Float32Array, count: number, t: number): Promise<Float32Array> {
  const [h, w, c] = model.shape;
  const xt = tf.tensor4d(x, [count, h, w, c]);
  const tt = tf.fill([count], t, 'float32') as tf.Tensor1D;
  try {
    const box: { pending?: Promise<tf.Tensor4D> } = {};
    // A synchronous network runs inside tidy (its intermediates are released); an asynchronous one is awaited.
    const direct = tf.tidy((): tf.Tensor4D | tf.Tensor[] => {
      const r = model.network(xt, tt);
      if (r instanceof Promise) {
        box.pending = r;
        return [];
      }
      return r;
    });
    const out = box.pending ? await box.pending : (direct as tf.Tensor4D);
    try {
      const eps = tf.tidy(() => splitModelOutput(out, c, model.learnSigma).eps);
      try {
        return (await eps.data()) as Float32Array;
      } finally {
        eps.dispose();
      }
    } finally {
      out.dispose();
    }
  } finally {
    xt.dispose();
    tt.dispose();
  }
}

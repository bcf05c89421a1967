/**
 * Functional layers of the ADM U-Net on TensorFlow.js, NHWC throughout.
 *
 * Two constraints shape this file:
 * - Double backprop (the gradient-penalty objective differentiates an input gradient w.r.t. the
 *   weights). tfjs's stored-output gradients (sigmoid, softmax, exp, tanh) give a silently wrong
 *   second derivative because the saved output is not connected to the input on the tape; every
 *   op here either has a gradient built from its inputs or is a tf.customGrad whose gradient
 *   recomputes what it needs from the (tape-connected) saved input.
 * - Speed on wasm: every op costs tens of microseconds of engine overhead and every elementwise
 *   pass a full trip through memory, while XNNPACK convolutions and pooling are fast. So the op
 *   count and the number of full-size passes are kept low (GroupNorm and its scale-shift are one
 *   affine map; its statistics come from average pooling).
 * Gradients need tfjs's gradient definitions registered (initBackend does it on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Stream } from '../rng';

const GN_EPS = 1e-5;

interface CustomResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

/** tf.customGrad with a fixed number of tensor inputs and the save function passed separately. */
function customOp(arity: number, f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => CustomResult): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) =>
    f(args.slice(0, arity) as tf.Tensor[], args[arity] as tf.GradSaveFunc)) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: tf.Tensor[]) => {
    if (inputs.length !== arity) throw new Error(`custom op expects ${arity} inputs, got ${inputs.length}`);
    return op(...inputs);
  };
}

// ---------------------------------------------------------------------------------------------
// Convolution and linear layers

/**
 * 2-D convolution with bias, kernel [kh, kw, cin, cout]. Odd kernels are zero-padded by
 * (k-1)/2 on every side, as PyTorch's padding=(k-1)/2: for stride 2 this differs from tfjs's
 * 'same' (which pads 0 before and 1 after on even sizes), so the padding is explicit there.
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | null, stride = 1): tf.Tensor4D {
  const k = w.shape[0];
  if (k !== w.shape[1] || k % 2 !== 1) throw new Error(`conv2d: need an odd square kernel, got ${w.shape}`);
  const p = (k - 1) / 2;
  let pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
  if (p === 0) pad = 'valid';
  else if (stride === 1) pad = 'same';
  else pad = [[0, 0], [p, p], [p, p], [0, 0]];
  const y = tf.conv2d(x, w, stride, pad);
  return b ? tf.add(y, b) : y;
}

/** Linear layer, weight [in, out]. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor2D {
  const y = tf.matMul(x, w) as tf.Tensor2D;
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
}

// ---------------------------------------------------------------------------------------------
// Activations

/** SiLU x*sigmoid(x); the gradient recomputes sigmoid from x so double backprop is exact. */
export const silu = customOp(1, ([x], save) => {
  save([x!]);
  return {
    value: tf.mul(x, tf.sigmoid(x)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const xs = saved[0]!;
      const s = tf.sigmoid(xs);
      // d/dx x*s(x) = s * (1 + x * (1 - s))
      return tf.mul(dy, tf.mul(s, tf.add(1, tf.mul(xs, tf.sub(1, s)))));
    },
  };
}) as <T extends tf.Tensor>(x: T) => T;

/** Softmax over the last axis; the gradient recomputes the softmax from the logits. */
export const softmax = customOp(1, ([x], save) => {
  save([x!]);
  return {
    value: tf.softmax(x!),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const y = tf.softmax(saved[0]!);
      const dyy = tf.mul(dy, y);
      return tf.sub(dyy, tf.mul(tf.sum(dyy, -1, true), y));
    },
  };
}) as <T extends tf.Tensor>(x: T) => T;

// ---------------------------------------------------------------------------------------------
// Normalisation

export function groupCount(channels: number): number {
  if (channels % 32 === 0) return 32;
  if (channels % 8 === 0) return 8;
  throw new Error(`GroupNorm: ${channels} channels are divisible by neither 32 nor 8`);
}

/**
 * Per-(sample, channel) spatial moments [E[x], E[x^2]] as one [N,1,1,2C] tensor. Full-window
 * average pooling runs in XNNPACK (tf.mean transposes first on wasm), and the hand-written
 * gradient, dx = g1/HW + x * 2 g2/HW, is two full-size passes where autodiff of square and two
 * means takes six; it is built from ops on the saved input, so it differentiates again.
 */
const spatialMoments = customOp(1, ([x], save) => {
  const [, h, w] = x!.shape as [number, number, number, number];
  save([x!]);
  const pool = (z: tf.Tensor) => tf.avgPool(z as tf.Tensor4D, [h, w], [h, w], 'valid');
  return {
    value: tf.concat([pool(x!), pool(tf.square(x!))], 3),
    gradFunc: (g: tf.Tensor, saved: tf.Tensor[]) => {
      const [g1, g2] = tf.split(g, 2, 3);
      return tf.add(tf.mul(saved[0]!, tf.mul(g2!, 2 / (h * w))), tf.div(g1!, h * w));
    },
  };
}) as (x: tf.Tensor4D) => tf.Tensor4D;

export interface ScaleShift {
  /** [N, C]: the normalised output is multiplied by (1 + scale) ... */
  scale: tf.Tensor2D;
  /** [N, C]: ... and shifted by shift (ADM's scale-shift norm). */
  shift: tf.Tensor2D;
}

/**
 * GroupNorm (32 groups when C divides by 32, else 8; affine; eps 1e-5), optionally followed by
 * ADM's h * (1 + scale) + shift. All of it collapses into one per-(sample, channel) affine map
 * x * a + b, so only three full-size passes run (square, mul, add); the statistics are
 * E[x] and E[x^2] per group (variance clamped at 0 against rounding).
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, mod?: ScaleShift): tf.Tensor4D {
  const [n, , , c] = x.shape;
  const g = groupCount(c);
  const cg = c / g;
  const moments = tf.reshape(spatialMoments(x), [n, 2, g, cg]);
  const groupMoments = cg > 1 ? tf.mean(moments, 3, true) : moments; // [n, 2, g, 1]
  const [mean, meanSq] = tf.split(groupMoments, 2, 1).map((z) => tf.reshape(z, [n, g, 1]));
  const variance = tf.relu(tf.sub(meanSq!, tf.square(mean!)));
  const rstd = tf.rsqrt(tf.add(variance, GN_EPS)); // [n, g, 1]
  // Per (sample, group, channel-in-group): a = rstd * gamma * (1 + scale), b = beta' - mean * a.
  let a: tf.Tensor = tf.mul(rstd, tf.reshape(gamma, [1, g, cg]));
  let b: tf.Tensor = tf.reshape(beta, [1, g, cg]);
  if (mod) {
    const s1 = tf.reshape(tf.add(mod.scale, 1), [n, g, cg]);
    a = tf.mul(a, s1);
    b = tf.add(tf.mul(b, s1), tf.reshape(mod.shift, [n, g, cg]));
  }
  b = tf.sub(b, tf.mul(mean!, a));
  return tf.add(tf.mul(x, tf.reshape(a, [n, 1, 1, c])), tf.reshape(b, [n, 1, 1, c]));
}

// ---------------------------------------------------------------------------------------------
// Dropout, resampling, timestep embedding

/**
 * Inverted dropout with a mask drawn from Stream(seed, 'dropout', layer): deterministic for a
 * seed and independent of the backend, like every other random draw in Exposure Lab.
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number, layer: string | number, skip = 0): T {
  if (rate <= 0) return x;
  return tf.mul(x, tf.tensor(dropoutMask(rate, seed, layer, x.size, skip), x.shape, 'float32')) as T;
}

/**
 * The mask dropout multiplies by (1 / (1 - rate) or 0 per element, in the tensor's own element
 * order), also fed as is to the ONNX training graph so both engines drop the same units.
 */
export function dropoutMask(rate: number, seed: number, layer: string | number, size: number, skip = 0): Float32Array {
  if (rate >= 1) throw new Error(`dropout rate must be < 1, got ${rate}`);
  const mask = new Float32Array(size);
  const stream = new Stream(seed, 'dropout', layer);
  // A shard of a data-parallel batch skips the draws of the samples before it: its masks are then
  // the very ones the whole batch would have drawn.
  for (let i = 0; i < skip; i++) stream.nextU32();
  // Compare raw 32-bit draws against the threshold: one draw per element.
  const threshold = Math.floor(rate * 4294967296);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < size; i++) mask[i] = stream.nextU32() >= threshold ? keep : 0;
  return mask;
}

/**
 * Nearest-neighbour 2x upsampling, [N,H,W,C] -> [N,2H,2W,C]: a broadcast multiply forward, and
 * 4 * avgPool(2x2, stride 2) backward (a fast XNNPACK op whose own gradient exists on wasm;
 * tfjs's Tile gradient is a loop of slices and stops at rank 4).
 */
export const upsample2x = customOp(1, ([x]) => {
  const [n, h, w, c] = x!.shape as [number, number, number, number];
  return {
    value: tf.reshape(tf.mul(tf.reshape(x!, [n, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])), [n, 2 * h, 2 * w, c]),
    gradFunc: (dy: tf.Tensor) => tf.mul(tf.avgPool(dy as tf.Tensor4D, 2, 2, 'valid'), 4),
  };
}) as (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * ADM's sinusoidal timestep embedding of width `dim`: [cos(t f_i), sin(t f_i)] with
 * f_i = exp(-ln(10000) i / half). t is the original (not respaced) timestep.
 */
export function timestepEmbedding(t: tf.Tensor1D, dim: number, maxPeriod = 10000): tf.Tensor2D {
  if (dim % 2 !== 0) throw new Error(`timestep embedding width must be even, got ${dim}`);
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / half);
  return tf.tidy(() => {
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half]));
    return tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
  });
}

// ---------------------------------------------------------------------------------------------
// Attention

/**
 * Multi-head attention core. qkv: [N, L, 3C] with channels ordered (q|k|v, head, d) and q
 * already scaled by 1/sqrt(d); returns [N, L, C] ordered (head, d): softmax(q k^T) v per head.
 */
export function attention(qkv: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [n, l, c3] = qkv.shape;
  const c = c3 / 3;
  if (!Number.isInteger(c) || c % heads !== 0) throw new Error(`attention: ${c3} qkv channels do not split into 3 x ${heads} heads`);
  const d = c / heads;
  const t = tf.transpose(tf.reshape(qkv, [n, l, 3 * heads, d]), [0, 2, 1, 3]); // [n, 3h, l, d]
  const [q, k, v] = tf.split(tf.reshape(t, [n, 3, heads * l * d]), 3, 1).map((z) => tf.reshape(z, [n * heads, l, d]) as tf.Tensor3D);
  const a = softmax(tf.matMul(q!, k!, false, true));
  const o = tf.matMul(a, v!); // [n*h, l, d]
  return tf.reshape(tf.transpose(tf.reshape(o, [n, heads, l, d]), [0, 2, 1, 3]), [n, l, c]);
}

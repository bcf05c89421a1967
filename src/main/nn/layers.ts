/**
 * Functional layers of the ADM U-Net on TensorFlow.js, NHWC throughout.
 *
 * Two constraints shape this file:
 * - Double backprop (the gradient-penalty objective differentiates an input gradient w.r.t. the
 *   weights). tfjs's stored-output gradients (sigmoid, softmax, exp, tanh) give a silently wrong
 *   second derivative because the saved output is not connected to the input on the tape; every
 *   op here either has a gradient built from its inputs or is a tf.customGrad whose gradient
 *   recomputes what it needs from the (tape-connected) saved input.
 * - The wasm backend: reductions over non-innermost axes and Slice copy whole tensors, batched
 *   matMul runs at ~1 GFLOP/s, while XNNPACK convolutions, pooling and 2-D matMul are fast. So
 *   GroupNorm statistics come from average pooling, and attention loops over (image, head)
 *   pairs of 2-D matMuls on wasm.
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
 * Mean over the spatial axes, [N,H,W,C] -> [N,1,1,C]. A full-window average pool runs in
 * XNNPACK (20x faster on wasm than tf.mean, which transposes first); its gradient is a plain
 * broadcast so that it differentiates again.
 */
const spatialMean = customOp(1, ([x]) => {
  const [, h, w] = x!.shape as [number, number, number, number];
  return {
    value: tf.avgPool(x as tf.Tensor4D, [h, w], [h, w], 'valid'),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.fill([1, h, w, 1], 1 / (h * w))),
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
  let mean: tf.Tensor = tf.reshape(spatialMean(x), [n, g, cg]);
  let meanSq: tf.Tensor = tf.reshape(spatialMean(tf.square(x)), [n, g, cg]);
  if (cg > 1) {
    mean = tf.mean(mean, 2, true);
    meanSq = tf.mean(meanSq, 2, true);
  }
  const variance = tf.relu(tf.sub(meanSq, tf.square(mean)));
  const rstd = tf.rsqrt(tf.add(variance, GN_EPS)); // [n, g, 1]
  // Per (sample, group, channel-in-group): a = rstd * gamma * (1 + scale), b = beta' - mean * a.
  let a: tf.Tensor = tf.mul(rstd, tf.reshape(gamma, [1, g, cg]));
  let b: tf.Tensor = tf.reshape(beta, [1, g, cg]);
  if (mod) {
    const s1 = tf.reshape(tf.add(mod.scale, 1), [n, g, cg]);
    a = tf.mul(a, s1);
    b = tf.add(tf.mul(b, s1), tf.reshape(mod.shift, [n, g, cg]));
  }
  b = tf.sub(b, tf.mul(mean, a));
  return tf.add(tf.mul(x, tf.reshape(a, [n, 1, 1, c])), tf.reshape(b, [n, 1, 1, c]));
}

// ---------------------------------------------------------------------------------------------
// Dropout, resampling, timestep embedding

/**
 * Inverted dropout with a mask drawn from Stream(seed, 'dropout', layer): deterministic for a
 * seed and independent of the backend, like every other random draw in Exposure Lab.
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number, layer: string | number): T {
  if (rate <= 0) return x;
  if (rate >= 1) throw new Error(`dropout rate must be < 1, got ${rate}`);
  const size = x.size;
  const mask = new Float32Array(size);
  const stream = new Stream(seed, 'dropout', layer);
  // Compare raw 32-bit draws against the threshold: one draw per element.
  const threshold = Math.floor(rate * 4294967296);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < size; i++) mask[i] = stream.nextU32() >= threshold ? keep : 0;
  return tf.mul(x, tf.tensor(mask, x.shape, 'float32')) as T;
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

export type AttentionImpl = 'auto' | 'batched' | 'per-pair';
let attentionImpl: AttentionImpl = 'auto';

/**
 * 'batched' uses batched matMul (right for backends with a fast one); 'per-pair' loops over
 * (image, head) pairs of 2-D matMuls (on wasm ~5-15x faster than its batched matMul); 'auto'
 * picks per-pair on wasm. Both compute the same function; tests pin one or the other.
 */
export function setAttentionImpl(impl: AttentionImpl): void {
  attentionImpl = impl;
}

function usePerPair(): boolean {
  return attentionImpl === 'per-pair' || (attentionImpl === 'auto' && tf.getBackend() === 'wasm');
}

/**
 * Multi-head attention core. qkv: [N, L, 3C] with channels ordered (q|k|v, head, d) and q
 * already scaled by 1/sqrt(d); returns [N, L, C] ordered (head, d): softmax(q k^T) v per head.
 */
export function attention(qkv: tf.Tensor3D, heads: number): tf.Tensor3D {
  return usePerPair() ? attentionPerPair(qkv, heads) : attentionBatched(qkv, heads);
}

/** Plain differentiable formulation (batched matMul); also the reference for the fast path. */
export function attentionBatched(qkv: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [n, l, c3] = qkv.shape;
  const c = c3 / 3;
  const d = c / heads;
  const t = tf.transpose(tf.reshape(qkv, [n, l, 3 * heads, d]), [0, 2, 1, 3]); // [n, 3h, l, d]
  const [q, k, v] = tf.split(tf.reshape(t, [n, 3, heads * l * d]), 3, 1).map((z) => tf.reshape(z, [n * heads, l, d]));
  const a = softmax(tf.matMul(q as tf.Tensor3D, k as tf.Tensor3D, false, true));
  const o = tf.matMul(a, v as tf.Tensor3D); // [n*h, l, d]
  return tf.reshape(tf.transpose(tf.reshape(o, [n, heads, l, d]), [0, 2, 1, 3]), [n, l, c]);
}

/** Rows of [N, 3C, L] (the transposed qkv) as [P, d*L] blocks: block (n, part, head). */
function blocksOf(x: tf.Tensor3D, d: number): tf.Tensor2D {
  const [n, c, l] = x.shape;
  return tf.reshape(x, [n * (c / d), d * l]);
}

function row(x: tf.Tensor2D, i: number, d: number, l: number): tf.Tensor2D {
  return tf.reshape(tf.gather(x, [i]), [d, l]);
}

/**
 * Fast path: forward and backward loop over (image, head) pairs with 2-D matMuls in the
 * untransposed form XNNPACK handles; gathers cut the per-pair blocks without copying the whole
 * tensor (wasm's Slice does). The backward is itself a customGrad whose gradient (needed only
 * for double backprop) is the vector-Jacobian product of the batched formulation.
 */
const attentionPerPairOp = (heads: number) =>
  customOp(1, ([qkv], save) => {
    save([qkv!]);
    return {
      value: attentionPerPairForward(qkv as tf.Tensor3D, heads),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => attentionBackwardOp(heads)(saved[0]!, dy),
    };
  }) as (qkv: tf.Tensor3D) => tf.Tensor3D;

function attentionPerPair(qkv: tf.Tensor3D, heads: number): tf.Tensor3D {
  return attentionPerPairOp(heads)(qkv);
}

function attentionPerPairForward(qkv: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [n, l, c3] = qkv.shape;
  const c = c3 / 3;
  const d = c / heads;
  return tf.tidy(() => {
    const blocks = blocksOf(tf.transpose(qkv, [0, 2, 1]), d);
    const outs: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      for (let h = 0; h < heads; h++) {
        const base = i * 3 * heads;
        const qT = row(blocks, base + h, d, l);
        const kT = row(blocks, base + heads + h, d, l);
        const vT = row(blocks, base + 2 * heads + h, d, l);
        const a = tf.softmax(tf.matMul(tf.transpose(qT), kT)); // [l, l]
        outs.push(tf.matMul(vT, tf.transpose(a))); // o^T: [d, l]
      }
    }
    return tf.transpose(tf.reshape(tf.concat(outs, 0), [n, c, l]), [0, 2, 1]) as tf.Tensor3D;
  });
}

function attentionPerPairBackward(qkv: tf.Tensor3D, dOut: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [n, l, c3] = qkv.shape;
  const c = c3 / 3;
  const d = c / heads;
  return tf.tidy(() => {
    const blocks = blocksOf(tf.transpose(qkv, [0, 2, 1]), d);
    const dBlocks = blocksOf(tf.transpose(dOut, [0, 2, 1]), d);
    const grads: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const dq: tf.Tensor[] = [];
      const dk: tf.Tensor[] = [];
      const dv: tf.Tensor[] = [];
      for (let h = 0; h < heads; h++) {
        const base = i * 3 * heads;
        const qT = row(blocks, base + h, d, l);
        const kT = row(blocks, base + heads + h, d, l);
        const vT = row(blocks, base + 2 * heads + h, d, l);
        const doT = row(dBlocks, i * heads + h, d, l);
        const a = tf.softmax(tf.matMul(tf.transpose(qT), kT)); // [l, l]
        dv.push(tf.matMul(doT, a)); // (a^T do)^T
        const da = tf.matMul(tf.transpose(doT), vT); // do v^T
        const ds = tf.mul(a, tf.sub(da, tf.sum(tf.mul(a, da), 1, true)));
        dq.push(tf.matMul(kT, tf.transpose(ds))); // (ds k)^T
        dk.push(tf.matMul(qT, ds)); // (ds^T q)^T
      }
      grads.push(...dq, ...dk, ...dv);
    }
    return tf.transpose(tf.reshape(tf.concat(grads, 0), [n, c3, l]), [0, 2, 1]) as tf.Tensor3D;
  });
}

const attentionBackwardOp = (heads: number) =>
  customOp(2, ([qkv, dOut], save) => {
    save([qkv!, dOut!]);
    return {
      value: attentionPerPairBackward(qkv as tf.Tensor3D, dOut as tf.Tensor3D, heads),
      gradFunc: (g: tf.Tensor, saved: tf.Tensor[]) => {
        const [q0, d0] = saved as [tf.Tensor3D, tf.Tensor3D];
        // The backward is linear in dOut: the VJP of (qkv, dOut) -> d<attn(qkv), dOut>/dqkv.
        const vjp = tf.grads((qkv: tf.Tensor, dOut: tf.Tensor) => {
          const inner = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(attentionBatched(z as tf.Tensor3D, heads), dOut)));
          return tf.sum(tf.mul(inner(qkv), g));
        });
        return vjp([q0, d0]);
      },
    };
  }) as (qkv: tf.Tensor, dOut: tf.Tensor) => tf.Tensor3D;

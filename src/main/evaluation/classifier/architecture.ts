/**
 * The app's own feature network for digit-like data: a small CNN on 28x28 grey images,
 *
 *   conv3x3 (1->16) ReLU             28x28
 *   conv3x3 stride 2 (16->32) ReLU   14x14    spatial features: first 8 channels, 2x2-averaged to 7x7
 *   conv3x3 stride 2 (32->64) ReLU   7x7
 *   dense (3136->128) ReLU           128-d pooled features (FID, KID, precision/recall)
 *   dense (128->10)                  class logits (Inception Score)
 *
 * It plays Inception's roles at MNIST scale: pooled features from the penultimate layer (as
 * pool_3 feeds Inception's classifier), spatial features from an intermediate map (as sFID takes
 * the first 7 channels of Inception's 17x17 mixed_6/conv; here the first 8 channels of the 14x14
 * second block, averaged over 2x2 cells: 7 x 7 x 8 = 392 dims), and logits of a classifier
 * trained on the data's labels.
 *
 * Sized for training in about a minute on one core on the wasm backend (~2.3 M multiply-adds per
 * image): strided convolutions instead of max pooling (MaxPoolGrad took a third of a step there)
 * and a dense head instead of global average pooling (with no normalisation layers, a pooled
 * 128-channel head learned several times slower: 94.5% after 1,000 steps, against ~99% for this).
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, dense } from '../../nn/layers';
import { Stream } from '../../rng';

export const CLASSIFIER_SIDE = 28;
export const CLASSIFIER_CLASSES = 10;
export const POOLED_DIM = 128;
const FLAT_DIM = 7 * 7 * 64;
/** Channels of the 7x7 second-block map kept as spatial features. */
export const SPATIAL_CHANNELS = 8;
export const SPATIAL_SIDE = 7;
export const SPATIAL_DIM = SPATIAL_SIDE * SPATIAL_SIDE * SPATIAL_CHANNELS;

export type ClassifierParams = Map<string, tf.Variable>;

/** Parameter names and shapes, in the canonical order used for storage and hashing. */
export const PARAM_SHAPES: readonly { name: string; shape: number[] }[] = [
  { name: 'conv1/w', shape: [3, 3, 1, 16] },
  { name: 'conv1/b', shape: [16] },
  { name: 'conv2/w', shape: [3, 3, 16, 32] },
  { name: 'conv2/b', shape: [32] },
  { name: 'conv3/w', shape: [3, 3, 32, 64] },
  { name: 'conv3/b', shape: [64] },
  { name: 'fc1/w', shape: [FLAT_DIM, POOLED_DIM] },
  { name: 'fc1/b', shape: [POOLED_DIM] },
  { name: 'fc2/w', shape: [POOLED_DIM, CLASSIFIER_CLASSES] },
  { name: 'fc2/b', shape: [CLASSIFIER_CLASSES] },
];

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * He-normal weights (std sqrt(2 / fan_in), right for ReLU), zero biases; parameter `name` is drawn
 * from Stream(seed, 'classifier-init', name), so the initialisation is a pure function of the seed.
 */
export function initClassifierParams(seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of PARAM_SHAPES) {
    const data = new Float32Array(sizeOf(shape));
    if (name.endsWith('/w')) {
      const fanIn = sizeOf(shape.slice(0, -1));
      new Stream(seed, 'classifier-init', name).fillNormal(data);
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < data.length; i++) data[i]! *= std;
    }
    out.set(name, data);
  }
  return out;
}

/** Trainable tfjs variables holding `values` (checked against PARAM_SHAPES). */
export function toVariables(values: Map<string, Float32Array>): ClassifierParams {
  const params: ClassifierParams = new Map();
  for (const { name, shape } of PARAM_SHAPES) {
    const v = values.get(name);
    if (!v || v.length !== sizeOf(shape)) throw new Error(`classifier weights: '${name}' is missing or not of shape [${shape.join(', ')}]`);
    params.set(name, tf.variable(tf.tensor(v, shape, 'float32'), true));
  }
  return params;
}

export async function fromVariables(params: ClassifierParams): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const { name } of PARAM_SHAPES) out.set(name, (await params.get(name)!.data()) as Float32Array);
  return out;
}

export interface ClassifierOutputs {
  pooled: tf.Tensor2D;
  spatial: tf.Tensor2D | null;
  logits: tf.Tensor2D;
}

/** x: [N, 28, 28, 1] in [-1, 1]. `spatial` only when asked (extraction; training does not need it). */
export function classifierForward(params: ClassifierParams, x: tf.Tensor4D, withSpatial = false): ClassifierOutputs {
  const p = (name: string) => params.get(name)!;
  const block = (h: tf.Tensor4D, i: number, stride: number) =>
    tf.relu(tf.add(conv2d(h, p(`conv${i}/w`) as tf.Tensor4D, null, stride), p(`conv${i}/b`))) as tf.Tensor4D;
  const h1 = block(x, 1, 1);
  const h2 = block(h1, 2, 2);
  const h3 = block(h2, 3, 2);
  const n = x.shape[0];
  const flat = tf.reshape(h3, [n, FLAT_DIM]) as tf.Tensor2D;
  const pooled = tf.relu(dense(flat, p('fc1/w') as tf.Tensor2D, p('fc1/b') as tf.Tensor1D)) as tf.Tensor2D;
  const logits = dense(pooled, p('fc2/w') as tf.Tensor2D, p('fc2/b') as tf.Tensor1D);
  let spatial: tf.Tensor2D | null = null;
  if (withSpatial) {
    const kept = tf.slice(h2, [0, 0, 0, 0], [n, 2 * SPATIAL_SIDE, 2 * SPATIAL_SIDE, SPATIAL_CHANNELS]) as tf.Tensor4D;
    spatial = tf.reshape(tf.avgPool(kept, 2, 2, 'valid'), [n, SPATIAL_DIM]) as tf.Tensor2D;
  }
  return { pooled, spatial, logits };
}

/** Mean softmax cross-entropy of the logits against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(labels, CLASSIFIER_CLASSES);
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), 1))) as tf.Scalar;
}

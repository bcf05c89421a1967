/**
 * Trains the feature classifier on a dataset's training split with its labels and measures its
 * top-1 accuracy on held-out images.
 *
 * Data: 'mnist-classifier' uses the 10,000 bundled digits, holding out every fifth one (index % 5
 * == 4: 2,000 digits, ~200 per class; the bundle is sorted by digit, so a tail would be all nines)
 * and training on the other 8,000. 'fashion-mnist-classifier' trains on Fashion-MNIST's 60,000
 * training images and tests on its 10,000 test images.
 *
 * Deterministic by seed: the initial weights come from Stream(seed, 'classifier-init', param),
 * batch `step` is batchIndices(n, step, batchSize, seed) (seeded epoch permutations) and its random
 * shifts come from Stream(seed, 'classifier-shift', step), so the same settings on the same engine
 * give the same weights, hence the same id. The step runs on ONNX Runtime where it loads
 * (training-graph.ts, several times faster), else on tfjs; both share the data, the
 * initialisation and Adam, and differ by float rounding (so by id: scores from the two never share
 * a comparability key).
 *
 * Adam, learning rate decaying linearly from `lr` to 0, no weight decay; the only augmentation is
 * a random translation by up to `maxShift` pixels each way (see defaultClassifierTraining).
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchIndices, loadDataset, type Dataset } from '../../data/dataset';
import { activeBackend, initBackend } from '../../nn/backend';
import { Stream } from '../../rng';
import { Adam, type AdamSettings } from '../../training/optimizer';
import type { ImageBatchU8 } from '../feature-network';
import {
  CLASSIFIER_CLASSES,
  CLASSIFIER_SIDE,
  classifierForward,
  crossEntropy,
  fromVariables,
  initClassifierParams,
  toVariables,
  type ClassifierParams,
} from './architecture';
import { classifierInput } from './classifier-input';
import { classifierTrainingGraph } from './training-graph';
import { loadOnnxRuntime, onnxThreads } from '../../onnx/session';
import { classifierId, weightsSha256, type ClassifierMeta, type ClassifierName, type ClassifierTraining } from './network-file';

/**
 * The v1 settings: about a minute on one core for either dataset (64,000 images seen). Random
 * shifts help the digits (bundled-MNIST test accuracy 98.0% -> 98.75%) but slow Fashion-MNIST
 * down within one epoch (89.6% -> 86.8%), whose garments are all centred the same way.
 */
export function defaultClassifierTraining(name: ClassifierName): ClassifierTraining {
  return { steps: 1000, batchSize: 64, lr: 2e-3, seed: 0, trainCount: null, maxShift: name === 'mnist-classifier' ? 2 : 0 };
}

export const ARCHITECTURE = 'conv3x3-16, conv3x3s2-32, conv3x3s2-64, dense-128 (pooled features), dense-10; input 28x28x1 in [-1,1]';

/** Copies one 28x28 image translated by (dx, dy), filling uncovered pixels with the background -1. */
function shiftInto(src: Float32Array, s0: number, dst: Float32Array, d0: number, dx: number, dy: number): void {
  const S = CLASSIFIER_SIDE;
  for (let y = 0; y < S; y++) {
    const sy = y - dy;
    for (let x = 0; x < S; x++) {
      const sx = x - dx;
      dst[d0 + y * S + x] = sy >= 0 && sy < S && sx >= 0 && sx < S ? src[s0 + sy * S + sx]! : -1;
    }
  }
}

interface LabelledImages {
  images: ImageBatchU8;
  labels: Uint8Array;
}

interface ClassifierData {
  dataset: string;
  source: string;
  train: LabelledImages;
  test: LabelledImages;
  testSplit: string;
}

function labelled(ds: Dataset, keep: (i: number) => boolean): LabelledImages {
  if (!ds.labels || !ds.pixels) throw new Error(`${ds.source}: the classifier needs labelled data, and this dataset has no labels`);
  const per = ds.height * ds.width * ds.channels;
  const idx: number[] = [];
  for (let i = 0; i < ds.n; i++) if (keep(i)) idx.push(i);
  const data = new Uint8Array(idx.length * per);
  const labels = new Uint8Array(idx.length);
  idx.forEach((src, k) => {
    data.set(ds.pixels!.subarray(src * per, (src + 1) * per), k * per);
    labels[k] = ds.labels![src]!;
  });
  return { images: { data, shape: [idx.length, ds.height, ds.width, ds.channels] }, labels };
}

/** `count` rows evenly spaced over a labelled set (null = all of them), as loadDataset's limit picks. */
function evenlySpaced(set: LabelledImages, count: number | null): LabelledImages {
  const n = set.images.shape[0];
  if (count === null || count >= n) return set;
  const [, h, w, c] = set.images.shape;
  const per = h * w * c;
  const data = new Uint8Array(count * per);
  const labels = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const src = Math.floor((k * n) / count);
    data.set(set.images.data.subarray(src * per, (src + 1) * per), k * per);
    labels[k] = set.labels[src]!;
  }
  return { images: { data, shape: [count, h, w, c] }, labels };
}

export async function classifierData(name: ClassifierName, trainCount: number | null): Promise<ClassifierData> {
  if (name === 'mnist-classifier') {
    const ds = await loadDataset('mnist');
    return {
      dataset: 'mnist',
      source: ds.source,
      train: evenlySpaced(labelled(ds, (i) => i % 5 !== 4), trainCount),
      test: labelled(ds, (i) => i % 5 === 4),
      testSplit: 'every fifth bundled digit (index % 5 == 4), not trained on',
    };
  }
  const train = await loadDataset('fashion-mnist');
  const test = await loadDataset('fashion-mnist:test');
  return {
    dataset: 'fashion-mnist',
    source: `${train.source}; ${test.source}`,
    train: evenlySpaced(labelled(train, () => true), trainCount),
    test: labelled(test, () => true),
    testSplit: 'the Fashion-MNIST test split (t10k)',
  };
}

function checkTraining(t: ClassifierTraining): void {
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!posInt(t.steps)) throw new Error(`classifier training: steps must be a positive integer, got ${t.steps}`);
  if (!posInt(t.batchSize)) throw new Error(`classifier training: batch size must be a positive integer, got ${t.batchSize}`);
  if (!(t.lr > 0 && t.lr < 1)) throw new Error(`classifier training: lr must be in (0, 1), got ${t.lr}`);
  if (!Number.isInteger(t.seed) || t.seed < 0) throw new Error(`classifier training: seed must be a non-negative integer, got ${t.seed}`);
  if (!Number.isInteger(t.maxShift) || t.maxShift < 0 || t.maxShift > 8) {
    throw new Error(`classifier training: maxShift must be an integer from 0 to 8, got ${t.maxShift}`);
  }
  if (t.trainCount !== null && !(Number.isInteger(t.trainCount) && t.trainCount >= 10)) {
    throw new Error(`classifier training: trainCount must be null or an integer of at least 10, got ${t.trainCount}`);
  }
}

/** Makes sure a backend that can train is active (wasm unless another was chosen already). */
export async function ensureBackend(purpose: 'train' | 'infer'): Promise<string> {
  const active = activeBackend();
  if (active) {
    if (purpose === 'train' && active.name === 'cpu') {
      throw new Error("training the feature classifier needs the wasm or tensorflow backend, but this process runs the pure-JS 'cpu' backend");
    }
    return active.name;
  }
  return (await initBackend('auto', 'train')).name;
}

/** Top-1 accuracy of `params` on labelled images. */
export function classifierAccuracy(params: ClassifierParams, set: LabelledImages, batchSize = 500): number {
  const n = set.images.shape[0];
  let correct = 0;
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    const pred = tf.tidy(() => {
      const x = tf.tensor4d(classifierInput(set.images, s, m), [m, CLASSIFIER_SIDE, CLASSIFIER_SIDE, 1]);
      return tf.argMax(classifierForward(params, x).logits, 1);
    });
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < m; i++) if (p[i] === set.labels[s + i]) correct++;
  }
  return correct / n;
}

export interface TrainedClassifier {
  meta: ClassifierMeta;
  weights: Map<string, Float32Array>;
}

export async function trainClassifier(
  name: ClassifierName,
  training: ClassifierTraining,
  opts: { onMessage?: (line: string) => void } = {},
): Promise<TrainedClassifier> {
  checkTraining(training);
  const backend = await ensureBackend('train');
  const data = await classifierData(name, training.trainCount);
  const started = performance.now();
  const train = data.train;
  const n = train.images.shape[0];
  // Whole training split as network input once (28x28 grey floats): at most 60,000 x 784 floats.
  const inputs = classifierInput(train.images, 0, n);
  const per = CLASSIFIER_SIDE * CLASSIFIER_SIDE;
  const params = toVariables(initClassifierParams(training.seed));
  const settings: AdamSettings = { kind: 'adam', lr: training.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, warmupSteps: 0, gradClip: null };
  const opt = new Adam(settings, params);
  const B = training.batchSize;
  const engine = await classifierStep(params, B);
  const xBuf = new Float32Array(B * per);
  const yBuf = new Int32Array(B);
  let lossSum = 0;
  let lossCount = 0;
  try {
    for (let step = 0; step < training.steps; step++) {
      // Adam reads settings.lr at every update: the linear decay is applied through it.
      settings.lr = training.lr * (1 - step / training.steps);
      const idx = batchIndices(n, step, B, training.seed);
      const shifts = new Stream(training.seed, 'classifier-shift', step);
      const m = training.maxShift;
      for (let b = 0; b < B; b++) {
        if (m > 0) shiftInto(inputs, idx[b]! * per, xBuf, b * per, shifts.int(2 * m + 1) - m, shifts.int(2 * m + 1) - m);
        else xBuf.set(inputs.subarray(idx[b]! * per, (idx[b]! + 1) * per), b * per);
        yBuf[b] = train.labels[idx[b]!]!;
      }
      const { loss, grads } = await engine.step(xBuf, yBuf);
      try {
        opt.apply(params, grads);
      } finally {
        tf.dispose(Object.values(grads));
      }
      lossSum += loss;
      lossCount++;
      if (opts.onMessage && ((step + 1) % 100 === 0 || step + 1 === training.steps)) {
        opts.onMessage(`training ${name}: step ${step + 1}/${training.steps}, loss ${(lossSum / lossCount).toFixed(4)}`);
        lossSum = 0;
        lossCount = 0;
      }
    }
    const testAccuracy = classifierAccuracy(params, data.test);
    const weights = await fromVariables(params);
    const sha = weightsSha256(weights);
    const meta: ClassifierMeta = {
      format: 1,
      name,
      version: 1,
      id: classifierId(name, sha),
      weightsSha256: sha,
      architecture: ARCHITECTURE,
      training,
      data: {
        dataset: data.dataset,
        source: data.source,
        trainImages: n,
        testImages: data.test.images.shape[0],
        testSplit: data.testSplit,
      },
      testAccuracy,
      trainSeconds: Math.round((performance.now() - started) / 100) / 10,
      backend: engine.engine === 'onnx' ? `onnxruntime + ${backend}` : backend,
    };
    opts.onMessage?.(`trained ${meta.id}: test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${meta.data.testImages} held-out images`);
    return { meta, weights };
  } finally {
    await engine.dispose();
    opt.dispose();
    for (const v of params.values()) v.dispose();
  }
}

type ClassifierStep = (x: Float32Array, labels: Int32Array) => Promise<{ loss: number; grads: Record<string, tf.Tensor> }>;

/** Loss and gradients of one batch: on ONNX Runtime when it loads, else with tfjs. */
async function classifierStep(params: ClassifierParams, batch: number): Promise<{ engine: 'onnx' | 'tfjs'; step: ClassifierStep; dispose(): Promise<void> }> {
  const ort = await loadOnnxRuntime();
  if (!ort) {
    const vars = [...params.values()];
    return {
      engine: 'tfjs',
      step: async (xBuf, yBuf) => {
        const x = tf.tensor4d(xBuf, [batch, CLASSIFIER_SIDE, CLASSIFIER_SIDE, 1]);
        const y = tf.tensor1d(yBuf, 'int32');
        const { value, grads } = tf.variableGrads(() => crossEntropy(classifierForward(params, x).logits, y), vars);
        const named: Record<string, tf.Tensor> = {};
        for (const [pname, v] of params) named[pname] = grads[v.name]!;
        const loss = value.dataSync()[0]!;
        tf.dispose([x, y, value]);
        return { loss, grads: named };
      },
      dispose: async () => undefined,
    };
  }
  const graph = classifierTrainingGraph(batch);
  const session = await ort.InferenceSession.create(graph.bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: onnxThreads(),
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const onehot = new Float32Array(batch * CLASSIFIER_CLASSES);
  return {
    engine: 'onnx',
    step: async (xBuf, yBuf) => {
      onehot.fill(0);
      for (let b = 0; b < batch; b++) onehot[b * CLASSIFIER_CLASSES + yBuf[b]!] = 1;
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
        x: new ort.Tensor('float32', xBuf, [batch, CLASSIFIER_SIDE, CLASSIFIER_SIDE, 1]),
        onehot: new ort.Tensor('float32', onehot, [batch, CLASSIFIER_CLASSES]),
      };
      for (const p of graph.params) feeds[p.name] = new ort.Tensor('float32', params.get(p.name)!.dataSync() as Float32Array, p.shape);
      const out = await session.run(feeds);
      const grads: Record<string, tf.Tensor> = {};
      for (const p of graph.params) grads[p.name] = tf.tensor(out[`grad.${p.name}`]!.data as Float32Array, p.shape, 'float32');
      return { loss: (out['loss']!.data as Float32Array)[0]!, grads };
    },
    dispose: () => session.release(),
  };
}

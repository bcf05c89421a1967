/**
 * The ONNX backward pass (autodiff.ts) against tfjs's gradients, which test/nn holds against
 * finite differences: each convolution rule on awkward shapes (odd sizes, stride 2 with the output
 * padding ConvTranspose needs, 1x1), and the whole training graph of the U-Net (attention with two
 * heads, dropout masks, GroupNorm with and without the timestep modulation, the weighted loss) on
 * random weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/main/nn/backend';
import { dropoutMask } from '../../src/main/nn/layers';
import { presetByName } from '../../src/main/nn/presets';
import { forward, initParams, type Params, type UNetConfig } from '../../src/main/nn/unet';
import { appendBackward } from '../../src/main/onnx/autodiff';
import { classifierForward, crossEntropy, initClassifierParams, toVariables } from '../../src/main/evaluation/classifier/architecture';
import { classifierTrainingGraph } from '../../src/main/evaluation/classifier/training-graph';
import { GraphBuilder } from '../../src/main/onnx/graph';
import { loadOnnxRuntime } from '../../src/main/onnx/session';
import { unetTrainingGraph } from '../../src/main/onnx/training-graph';
import { Stream } from '../../src/main/rng';

let ort: typeof Ort;

beforeAll(async () => {
  await initBackend('wasm', 'train');
  ort = (await loadOnnxRuntime())!;
  expect(ort).toBeTruthy();
});

const normal = (n: number, key: string, scale = 1) => {
  const v = new Stream(11, 'autodiff-test', key).fillNormal(new Float32Array(n));
  for (let i = 0; i < n; i++) v[i] = v[i]! * scale;
  return v;
};

async function run(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>) {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const tensors = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
    const out = await session.run(tensors);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** ||a - b|| / ||b||. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

describe('convolution gradients', () => {
  // [batch, size, cin, cout, kernel, stride]
  const cases: [number, number, number, number, number, number][] = [
    [2, 5, 3, 4, 3, 1],
    [3, 8, 4, 6, 3, 2],
    [2, 7, 3, 5, 3, 2],
    [2, 6, 5, 3, 1, 1],
  ];
  for (const [n, size, cin, cout, k, s] of cases) {
    it(`k${k} stride ${s} on ${size}x${size}, ${cin}->${cout} channels, equals tfjs`, async () => {
      const p = (k - 1) / 2;
      const g = new GraphBuilder();
      const x = g.input('x', [n, cin, size, size]);
      const w = g.input('w', [cout, cin, k, k]);
      const b = g.input('b', [cout]);
      const y = g.op('Conv', [x, w, b], { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p] });
      const ys = g.shapes.get(y)!;
      // loss = sum(y * r): its gradient with respect to y is r.
      const r = g.input('r', ys);
      const { grads } = appendBackward(g, new Map([[y, r]]), [x, w, b]);
      g.output(grads.get(x)!, 'dx', [n, cin, size, size]);
      g.output(grads.get(w)!, 'dw', [cout, cin, k, k]);
      g.output(grads.get(b)!, 'db', [cout]);
      const xv = normal(n * cin * size * size, 'x');
      const wv = normal(cout * cin * k * k, 'w', 0.3);
      const bv = normal(cout, 'b');
      const rv = normal(ys.reduce((a, c) => a * c, 1), 'r');
      const out = await run(g.encode({ producer: 'test', producerVersion: '0', graphName: 'conv' }), {
        x: { data: xv, dims: [n, cin, size, size] },
        w: { data: wv, dims: [cout, cin, k, k] },
        b: { data: bv, dims: [cout] },
        r: { data: rv, dims: ys },
      });

      // tfjs in NHWC with the same explicit padding.
      const xt = tf.transpose(tf.tensor4d(xv, [n, cin, size, size]), [0, 2, 3, 1]);
      const wt = tf.transpose(tf.tensor4d(wv, [cout, cin, k, k]), [2, 3, 1, 0]);
      const rt = tf.transpose(tf.tensor4d(rv, ys as [number, number, number, number]), [0, 2, 3, 1]);
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(tf.add(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, s, [[0, 0], [p, p], [p, p], [0, 0]]), bb), rt));
      const [dx, dw, db] = tf.grads(f)([xt, wt, tf.tensor1d(bv)]);
      expect(relError(out['dx']!, tf.transpose(dx!, [0, 3, 1, 2]).dataSync())).toBeLessThan(1e-5);
      expect(relError(out['dw']!, tf.transpose(dw!, [3, 2, 0, 1]).dataSync())).toBeLessThan(1e-5);
      expect(relError(out['db']!, db!.dataSync())).toBeLessThan(1e-5);
    });
  }
});

describe('autodiff refuses what it cannot differentiate', () => {
  it('names an operator without a rule', () => {
    const g = new GraphBuilder();
    const x = g.input('x', [2, 3]);
    const y = g.op('Exp', [x]);
    expect(() => appendBackward(g, new Map([[y, g.input('r', [2, 3])]]), [x])).toThrow(/no gradient rule for Exp/);
  });

  it('names a value the loss does not reach', () => {
    const g = new GraphBuilder();
    const x = g.input('x', [2, 3]);
    const unused = g.input('u', [2, 3]);
    const y = g.op('Sigmoid', [x]);
    expect(() => appendBackward(g, new Map([[y, g.input('r', [2, 3])]]), [x, unused])).toThrow(/does not depend on 'u'/);
  });
});

/** Every parameter random (the reference init zeroes the output conv, which would hide most of the graph). */
function randomise(params: Params, seed: number): void {
  for (const [name, p] of params) {
    const fanIn = p.shape.length > 1 ? p.size / p.shape[p.shape.length - 1]! : 1;
    const v = normal(p.size, `${seed}/${name}`, name.endsWith('.g') ? 0.2 : 0.5 / Math.sqrt(fanIn));
    if (name.endsWith('.g')) for (let i = 0; i < v.length; i++) v[i] = v[i]! + 1;
    p.assign(tf.tensor(v, p.shape));
  }
}

async function compareWithTfjs(cfg: UNetConfig, batch: number) {
  const params = initParams(cfg, 1);
  randomise(params, 5);
  const { imageSize: S, inChannels: C } = cfg;
  const shape: [number, number, number, number] = [batch, S, S, C];
  const x = normal(batch * S * S * C, 'x');
  const target = normal(batch * S * S * C, 'target');
  const t = Float32Array.from({ length: batch }, (_, i) => 37 + 311 * i);
  const w = Float32Array.from({ length: batch }, (_, i) => 0.5 + 0.25 * i);
  const dropoutSeed = 1234;

  const graph = unetTrainingGraph(cfg, batch);
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
    x: { data: x, dims: shape },
    t: { data: t, dims: [batch] },
    target: { data: target, dims: shape },
    w: { data: w, dims: [batch] },
  };
  for (const p of graph.params) feeds[p.name] = { data: params.get(p.name)!.dataSync() as Float32Array, dims: p.shape };
  for (const m of graph.masks) feeds[m.name] = { data: dropoutMask(cfg.dropout, dropoutSeed, m.block, m.shape.reduce((a, b) => a * b, 1)), dims: m.shape };
  const out = await run(graph.bytes, feeds);

  const { value, grads } = tf.variableGrads(() => {
    const eps = forward(params, cfg, tf.tensor4d(x, shape), tf.tensor1d(t), { training: true, dropoutSeed });
    const mse = tf.mean(tf.square(tf.sub(tf.tensor4d(target, shape), eps)), [1, 2, 3]);
    return tf.mean(tf.mul(mse, tf.tensor1d(w))) as tf.Scalar;
  }, [...params.values()]);
  expect(Math.abs(out['loss']![0]! - value.dataSync()[0]!) / value.dataSync()[0]!).toBeLessThan(1e-5);

  const byName = new Map([...params].map(([name, p]) => [name, grads[p.name]!.dataSync() as Float32Array]));
  const largest = Math.max(...[...byName.values()].map(norm));
  let checked = 0;
  for (const [name, ref] of byName) {
    const got = out[`grad.${name}`]!;
    expect(got.length).toBe(ref.length);
    if (norm(ref) > 1e-5 * largest) {
      expect(relError(got, ref), name).toBeLessThan(1e-4);
      checked++;
    } else {
      // A bias right before a GroupNorm whose groups are single channels: the normalisation removes
      // it, so its true gradient is 0 and both engines return rounding noise.
      expect(norm(got), name).toBeLessThan(1e-5 * largest);
    }
  }
  return { checked, total: byName.size, masks: graph.masks.length };
}

describe('the U-Net training graph', () => {
  it('gives tfjs gradients on tiny-test: attention with two heads, dropout masks', async () => {
    const cfg = { ...presetByName('tiny-test'), dropout: 0.2 };
    const r = await compareWithTfjs(cfg, 3);
    expect(r.masks).toBeGreaterThan(0);
    expect(r.checked).toBeGreaterThan(r.total * 0.8);
  });

  it('gives tfjs gradients on bench-s-mnist16', async () => {
    const r = await compareWithTfjs(presetByName('bench-s-mnist16'), 2);
    expect(r.checked).toBeGreaterThan(r.total * 0.8);
  });

  it('refuses learned variance (the VB term stays on the tfjs engine)', () => {
    expect(() => unetTrainingGraph({ ...presetByName('tiny-test'), learnSigma: true }, 2)).toThrow(/learned variance/);
  });
});

describe('the feature classifier training graph', () => {
  it('gives tfjs loss and gradients (ReLU, stride-2 convolutions, NHWC flatten, cross-entropy)', async () => {
    const B = 5;
    const params = toVariables(initClassifierParams(3));
    const x = normal(B * 28 * 28, 'classifier-x');
    const labels = Int32Array.from({ length: B }, (_, i) => (i * 7) % 10);
    const onehot = new Float32Array(B * 10);
    labels.forEach((l, b) => (onehot[b * 10 + l] = 1));
    const graph = classifierTrainingGraph(B);
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      x: { data: x, dims: [B, 28, 28, 1] },
      onehot: { data: onehot, dims: [B, 10] },
    };
    for (const p of graph.params) feeds[p.name] = { data: params.get(p.name)!.dataSync() as Float32Array, dims: p.shape };
    const out = await run(graph.bytes, feeds);
    const { value, grads } = tf.variableGrads(() => crossEntropy(classifierForward(params, tf.tensor4d(x, [B, 28, 28, 1])).logits, tf.tensor1d(labels, 'int32')), [...params.values()]);
    expect(Math.abs(out['loss']![0]! - value.dataSync()[0]!)).toBeLessThan(1e-5 * value.dataSync()[0]!);
    for (const [name, p] of params) expect(relError(out[`grad.${name}`]!, grads[p.name]!.dataSync()), name).toBeLessThan(1e-4);
  });
});

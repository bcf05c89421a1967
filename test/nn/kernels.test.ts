import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../src/main/nn/backend';
import { conv2dBackpropFilterWasm, type FilterGradRoute } from '../../src/main/nn/kernels/conv2d-backprop-filter';
import { conv2dBackpropInputWasm, type InputGradRoute } from '../../src/main/nn/kernels/conv2d-backprop-input';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/** Deterministic values in [-1, 1) so that failures reproduce. */
function rand(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

function geometry(xShape: number[], fShape: number[], stride: number, pad: Pad) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    fShape as [number, number, number, number],
    stride,
    1,
    pad,
    undefined,
    false,
    'channelsLast',
  );
}

type Geo = ReturnType<typeof geometry>;

/** Visits every (input pixel, output pixel, tap) triple of the convolution: the definition itself. */
function eachTap(g: Geo, f: (xBase: number, yBase: number, fBase: number) => void): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = g;
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let a = 0; a < g.filterHeight; a++)
          for (let c = 0; c < g.filterWidth; c++) {
            const ih = i * g.strideHeight + a - g.padInfo.top;
            const iw = j * g.strideWidth + c - g.padInfo.left;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            f(((b * h + ih) * w + iw) * ci, ((b * oh + i) * ow + j) * co, (a * g.filterWidth + c) * ci * co);
          }
}

function refFilterGrad(x: Float32Array, dy: Float32Array, g: Geo): Float64Array {
  const out = new Float64Array(g.filterHeight * g.filterWidth * g.inChannels * g.outChannels);
  const co = g.outChannels;
  eachTap(g, (xb, yb, fb) => {
    for (let p = 0; p < g.inChannels; p++) for (let q = 0; q < co; q++) out[fb + p * co + q] += x[xb + p] * dy[yb + q];
  });
  return out;
}

function refInputGrad(dy: Float32Array, f: Float32Array, g: Geo): Float64Array {
  const out = new Float64Array(g.batchSize * g.inHeight * g.inWidth * g.inChannels);
  const co = g.outChannels;
  eachTap(g, (xb, yb, fb) => {
    for (let p = 0; p < g.inChannels; p++) for (let q = 0; q < co; q++) out[xb + p] += f[fb + p * co + q] * dy[yb + q];
  });
  return out;
}

/** max |a - b| relative to max |b|: float32 sums of a few hundred terms stay well under 1e-5. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / Math.max(s, 1e-12);
}

let backend: BackendWasm;

beforeAll(async () => {
  await initBackend('wasm', 'train');
  backend = tf.backend() as BackendWasm;
});

interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: Pad;
}

const cases: Case[] = [];
for (const [n, h, w] of [
  [1, 5, 5],
  [2, 6, 6],
  [3, 7, 4],
  [2, 8, 9],
  [1, 1, 1],
  [2, 2, 3],
])
  for (const k of [1, 2, 3])
    for (const s of [1, 2])
      for (const pad of ['same', 'valid', 1, [[0, 0], [1, 0], [0, 2], [0, 0]]] as Pad[]) {
        if (pad === 'valid' && (k > h || k > w)) continue;
        const g = geometry([n, h, w, 3], [k, k, 3, 4], s, pad);
        if (g.outHeight <= 0 || g.outWidth <= 0) continue;
        cases.push({ n, h, w, ci: 3, co: 4, k, s, pad });
      }
// The U-Net's own shapes (smaller batch): 3x3 same, stride-2 downsampling, 1x1 skips, 1 in / 1 out channel.
cases.push(
  { n: 2, h: 16, w: 16, ci: 32, co: 32, k: 3, s: 1, pad: 'same' },
  { n: 3, h: 16, w: 16, ci: 32, co: 32, k: 3, s: 2, pad: 'same' },
  { n: 2, h: 8, w: 8, ci: 96, co: 64, k: 1, s: 1, pad: 'same' },
  { n: 4, h: 16, w: 16, ci: 1, co: 32, k: 3, s: 1, pad: 'same' },
  { n: 2, h: 16, w: 16, ci: 32, co: 1, k: 3, s: 1, pad: 'same' },
  { n: 1, h: 15, w: 15, ci: 8, co: 8, k: 3, s: 2, pad: 'same' },
);

function label(c: Case): string {
  return `${c.n}x${c.h}x${c.w}x${c.ci}->${c.co} k${c.k} s${c.s} pad ${JSON.stringify(c.pad)}`;
}

describe('wasm Conv2DBackpropFilter / Conv2DBackpropInput against the definition', () => {
  it(`matches a direct JS loop on ${cases.length} shapes, every route`, () => {
    const filterRoutes: Exclude<FilterGradRoute, 'auto'>[] = ['im2col', 'conv'];
    const inputRoutes: Exclude<InputGradRoute, 'auto'>[] = ['subpixel', 'col2im'];
    let seed = 1;
    for (const c of cases) {
      const g = geometry([c.n, c.h, c.w, c.ci], [c.k, c.k, c.ci, c.co], c.s, c.pad);
      const xv = rand(c.n * c.h * c.w * c.ci, seed++);
      const fv = rand(c.k * c.k * c.ci * c.co, seed++);
      const dyv = rand(g.outShape.reduce((a, b) => a * b, 1), seed++);
      const x = tf.tensor4d(xv, [c.n, c.h, c.w, c.ci]);
      const f = tf.tensor4d(fv, [c.k, c.k, c.ci, c.co]);
      const dy = tf.tensor4d(dyv, g.outShape);
      const wantF = refFilterGrad(xv, dyv, g);
      const wantX = refInputGrad(dyv, fv, g);
      for (const r of filterRoutes) {
        const out = conv2dBackpropFilterWasm(
          backend,
          x,
          dy,
          { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.k, c.k, c.ci, c.co] },
          r,
        );
        const got = backend.readSync(out.dataId) as Float32Array;
        backend.disposeData(out.dataId);
        expect(relErr(got, wantF), `filter ${r} ${label(c)}`).toBeLessThan(1e-5);
      }
      for (const r of inputRoutes) {
        const out = conv2dBackpropInputWasm(
          backend,
          dy,
          f,
          { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.n, c.h, c.w, c.ci] },
          r,
        );
        const got = backend.readSync(out.dataId) as Float32Array;
        backend.disposeData(out.dataId);
        expect(relErr(got, wantX), `input ${r} ${label(c)}`).toBeLessThan(1e-5);
      }
      tf.dispose([x, f, dy]);
    }
  });

  it('leaves no tensors behind', () => {
    const before = backend.numDataIds();
    const x = tf.tensor4d(rand(2 * 9 * 9 * 4, 5), [2, 9, 9, 4]);
    const f = tf.tensor4d(rand(3 * 3 * 4 * 6, 6), [3, 3, 4, 6]);
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, f]);
    tf.dispose([x, f, dx, df]);
    expect(backend.numDataIds()).toBe(before);
  });
});

describe('tf.grad of conv2d on wasm', () => {
  it('uses the registered kernels and agrees with the cpu backend', async () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    for (const [n, h, s, k] of [
      [2, 9, 1, 3],
      [3, 8, 2, 3],
      [1, 6, 1, 1],
    ]) {
      const xv = rand(n * h * h * 5, 11 + h);
      const fv = rand(k * k * 5 * 7, 12 + h);
      const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, 'same')));
      const run = () => {
        const [dx, df] = tf.grads(loss)([tf.tensor4d(xv, [n, h, h, 5]), tf.tensor4d(fv, [k, k, 5, 7])]);
        return [dx.dataSync().slice(), df.dataSync().slice()];
      };
      const [wx, wf] = run();
      await tf.setBackend('cpu');
      const [cx, cf] = run();
      await tf.setBackend('wasm');
      expect(relErr(wx, cx)).toBeLessThan(1e-5);
      expect(relErr(wf, cf)).toBeLessThan(1e-5);
    }
  });

  it('matches central finite differences of a nonlinear loss', () => {
    const x = tf.tensor4d(rand(2 * 7 * 6 * 3, 21), [2, 7, 6, 3]);
    const fv = rand(3 * 3 * 3 * 4, 22);
    const loss = (w: tf.Tensor) => tf.sum(tf.tanh(tf.conv2d(x, w as tf.Tensor4D, 2, 'same')));
    const g = tf.grad(loss)(tf.tensor4d(fv, [3, 3, 3, 4])).dataSync();
    const xg = tf.grad((a: tf.Tensor) => tf.sum(tf.tanh(tf.conv2d(a as tf.Tensor4D, tf.tensor4d(fv, [3, 3, 3, 4]), 2, 'same'))))(x).dataSync();
    const xv = x.dataSync() as Float32Array;
    const eps = 1e-2;
    const at = (fw: Float32Array, xw: Float32Array) =>
      tf.tidy(() => tf.sum(tf.tanh(tf.conv2d(tf.tensor4d(xw, [2, 7, 6, 3]), tf.tensor4d(fw, [3, 3, 3, 4]), 2, 'same'))).dataSync()[0]);
    for (const i of [0, 5, 17, 40, 77, 107]) {
      const p = fv.slice();
      const m = fv.slice();
      p[i] += eps;
      m[i] -= eps;
      const fd = (at(p, xv) - at(m, xv)) / (2 * eps);
      expect(Math.abs(fd - g[i])).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
    }
    for (const i of [0, 3, 50, 100, 200, 251]) {
      const p = xv.slice();
      const m = xv.slice();
      p[i] += eps;
      m[i] -= eps;
      const fd = (at(fv, p) - at(fv, m)) / (2 * eps);
      expect(Math.abs(fd - xg[i])).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
    }
    x.dispose();
  });
});

describe('gradients of the other U-Net ops on wasm', () => {
  const x4 = () => tf.tensor4d(rand(2 * 4 * 4 * 8, 31), [2, 4, 4, 8]);
  const ops: Record<string, (a: tf.Tensor) => tf.Tensor> = {
    groupNorm: (a) => {
      const r = tf.reshape(a, [2, 4, 4, 2, 4]);
      const { mean, variance } = tf.moments(r, [1, 2, 4], true);
      return tf.reshape(tf.mul(tf.sub(r, mean), tf.rsqrt(tf.add(variance, 1e-5))), a.shape);
    },
    silu: (a) => tf.mul(a, tf.sigmoid(a)),
    attention: (a) => {
      const q = tf.reshape(a, [2, 16, 8]);
      return tf.matMul(tf.softmax(tf.div(tf.matMul(q, q, false, true), Math.sqrt(8))), q);
    },
    concat: (a) => tf.concat([a, tf.mul(a, a)], 3),
    upsampleTile: (a) => tf.tile(tf.reshape(a, [2, 4, 1, 4, 1, 8]), [1, 1, 2, 1, 2, 1]),
    upsampleBroadcast: (a) => tf.broadcastTo(tf.reshape(a, [2, 4, 1, 4, 1, 8]), [2, 4, 2, 4, 2, 8]),
    dense: (a) => tf.matMul(tf.reshape(a, [16, 16]), tf.tensor2d(rand(16 * 5, 32), [16, 5])),
    timeEmbedding: (a) => tf.concat([tf.cos(a), tf.sin(a)], 3),
    dropout: (a) => tf.mul(a, tf.div(tf.cast(tf.greater(tf.tensor(rand(a.size, 33), a.shape), -0.8), 'float32'), 0.9)),
    mse: (a) => tf.mean(tf.square(tf.sub(a, 0.25))),
  };
  it('match the cpu backend for every op', async () => {
    for (const [name, f] of Object.entries(ops)) {
      const loss = (a: tf.Tensor) => tf.sum(tf.mul(f(a), tf.cos(f(a))));
      const wasm = tf.grad(loss)(x4()).dataSync().slice();
      await tf.setBackend('cpu');
      const cpu = tf.grad(loss)(x4()).dataSync().slice();
      await tf.setBackend('wasm');
      expect(relErr(wasm, cpu), name).toBeLessThan(1e-4);
    }
  });

  // Not compared with the cpu backend: its ResizeNearestNeighborGrad is wrong for batch > 1 (tfjs 4.22).
  it('resizeNearestNeighbor gradient is the adjoint of the forward copy', () => {
    for (const [n, h, w, oh, ow, alignCorners, halfPixelCenters] of [
      [2, 4, 4, 8, 8, false, false],
      [3, 5, 3, 8, 7, false, true],
      [2, 5, 6, 9, 4, true, false],
      [1, 6, 6, 3, 3, false, false],
    ] as [number, number, number, number, number, boolean, boolean][]) {
      const c = 3;
      const x = tf.tensor4d(rand(n * h * w * c, 51 + h), [n, h, w, c]);
      const dyv = rand(n * oh * ow * c, 52 + w);
      const dy = tf.tensor4d(dyv, [n, oh, ow, c]);
      const got = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [oh, ow], alignCorners, halfPixelCenters), dy)),
      )(x);
      // The forward pass copies input pixels; tag each input element with its index to read the map back.
      const tags = tf.tensor4d(Float32Array.from({ length: n * h * w * c }, (_, i) => i), [n, h, w, c]);
      const src = tf.image.resizeNearestNeighbor(tags, [oh, ow], alignCorners, halfPixelCenters).dataSync();
      const want = new Float32Array(n * h * w * c);
      for (let i = 0; i < src.length; i++) want[src[i]] += dyv[i];
      expect(relErr(got.dataSync(), want)).toBeLessThan(1e-6);
      tf.dispose([x, dy, got, tags]);
    }
  });

  it('tile / broadcastTo gradients sum the repetitions at any rank', () => {
    const a = tf.tensor(rand(2 * 3 * 2, 41), [2, 1, 3, 1, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, [1, 2, 1, 3, 1]), tf.reshape(tf.range(0, 72), [2, 2, 3, 3, 2]))))(a);
    const want = new Float32Array(12);
    for (let i = 0; i < 2; i++)
      for (let r1 = 0; r1 < 2; r1++)
        for (let j = 0; j < 3; j++)
          for (let r3 = 0; r3 < 3; r3++) for (let k = 0; k < 2; k++) want[(i * 3 + j) * 2 + k] += (((i * 2 + r1) * 3 + j) * 3 + r3) * 2 + k;
    expect(Array.from(g.dataSync())).toEqual(Array.from(want));
  });
});

describe('wasm replacements of built-in kernels agree with the cpu backend', () => {
  /** Runs f on wasm and on cpu with the same inputs and compares every output. */
  async function same(name: string, f: () => tf.Tensor | tf.Tensor[], tol = 1e-5): Promise<void> {
    const run = () =>
      tf.tidy(() => ([] as tf.Tensor[]).concat(f()).map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()), dtype: t.dtype })));
    const w = run();
    await tf.setBackend('cpu');
    const c = run();
    await tf.setBackend('wasm');
    expect(w.length, name).toBe(c.length);
    for (let i = 0; i < w.length; i++) {
      expect(w[i].shape, name).toEqual(c[i].shape);
      expect(w[i].dtype, name).toBe(c[i].dtype);
      expect(relErr(w[i].values, c[i].values), name).toBeLessThan(tol);
    }
  }
  const t = (shape: number[], seed: number) => tf.tensor(rand(shape.reduce((a, b) => a * b, 1), seed), shape);

  it('BatchMatMul: batches, transposes, broadcast batch dims', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[3, 4, 5], [3, 5, 6], false, false],
      [[3, 5, 4], [3, 5, 6], true, false],
      [[3, 4, 5], [3, 6, 5], false, true],
      [[3, 5, 4], [3, 6, 5], true, true],
      [[4, 5], [5, 6], false, false],
      [[5, 4], [5, 6], true, false],
      [[4, 5], [6, 5], false, true],
      [[2, 3, 4, 5], [5, 6], false, false],
      [[2, 3, 4, 5], [1, 6, 5], false, true],
      [[1, 4, 5], [3, 5, 6], false, false],
      [[1, 5, 4], [3, 6, 5], true, true],
    ];
    let seed = 100;
    for (const [sa, sb, ta, tb] of cases) {
      const a = t(sa, seed++);
      const b = t(sb, seed++);
      await same(`matMul ${sa} ${sb} ${ta} ${tb}`, () => tf.matMul(a, b, ta, tb));
    }
  });

  it('Transpose above rank 4, Slice and SplitV', async () => {
    const x5 = t([2, 3, 4, 5, 6], 200);
    for (const perm of [
      [2, 0, 3, 1, 4],
      [4, 3, 2, 1, 0],
      [0, 1, 2, 4, 3],
      [1, 2, 0, 3, 4],
    ])
      await same(`transpose ${perm}`, () => tf.transpose(x5, perm));
    await same('transpose rank 6', () => tf.transpose(t([2, 3, 1, 4, 2, 3], 201), [5, 0, 3, 1, 4, 2]));
    const x = t([3, 4, 5, 6], 202);
    const xi = tf.cast(tf.mul(x, 1000), 'int32');
    for (const [b, sz] of [
      [[1, 0, 0, 0], [1, 4, 5, 6]],
      [[0, 1, 2, 3], [2, 2, 2, 2]],
      [[0, 0, 0, 2], [3, 4, 5, 3]],
      [[0, 0, 1, 0], [3, 4, 3, 6]],
      [[0, 0, 0, 0], [-1, 2, -1, 6]],
    ]) {
      await same(`slice ${b} ${sz}`, () => tf.slice(x, b, sz));
      await same(`slice int32 ${b} ${sz}`, () => tf.slice(xi, b, sz));
    }
    for (const axis of [0, 1, 2, 3]) await same(`split axis ${axis}`, () => tf.split(x, [1, x.shape[axis]! - 1], axis));
    await same('split in 3', () => tf.split(x, 3, 3));
  });

  it('Sum and Mean over spatial (and batch) axes', async () => {
    const x = t([5, 6, 7, 8], 300);
    for (const [axes, keep] of [
      [[1, 2], false],
      [[2, 1], true],
      [[0, 1, 2], false],
      [[0, 1, 2], true],
      [[1, 2, 3], false],
      [[0], false],
    ] as [number[], boolean][]) {
      await same(`sum ${axes} ${keep}`, () => tf.sum(x, axes, keep));
      await same(`mean ${axes} ${keep}`, () => tf.mean(x, axes, keep));
    }
  });

  it('clone and same-dtype cast share the buffer safely', () => {
    const before = backend.numDataIds();
    const a = tf.tensor([1, 2, 3, 4]);
    const b = tf.clone(a);
    const c = tf.cast(a, 'float32');
    const d = tf.cast(a, 'int32');
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3, 4]);
    b.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4]);
    expect(d.dtype).toBe('int32');
    tf.dispose([c, d]);
    expect(backend.numDataIds()).toBe(before);
    // A variable updated in place of a clone leaves the clone unchanged.
    const v = tf.variable(tf.tensor([5, 6]));
    const snapshot = tf.clone(v);
    v.assign(tf.tensor([7, 8]));
    expect(Array.from(snapshot.dataSync())).toEqual([5, 6]);
    expect(Array.from(v.dataSync())).toEqual([7, 8]);
    tf.dispose([v, snapshot]);
  });
});

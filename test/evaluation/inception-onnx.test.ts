/**
 * The ONNX Inception loader, on small models with the FID Inception's interface that this test
 * writes itself with onnx-proto (uint8 NHWC input, Cast, Conv, ReduceMean, ...), checked against
 * the test's own loops over the same weights.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectInterface, loadInceptionOnnx } from '../../src/main/evaluation/inception-onnx';
import { featureNetworkFor, resolveNetworkChoice } from '../../src/main/evaluation/network-catalog';
import { Stream } from '../../src/main/rng';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

type Dim = number | string;

const C1 = 10; // spatial channels (more than the 7 sFID keeps)
const POOL = 16;
const CLASSES = 5;

interface Weights {
  w1: Float32Array; // [C1, 3, 3, 3] (ONNX OIHW)
  b1: Float32Array;
  w2: Float32Array; // [POOL, C1, 1, 1]
  b2: Float32Array;
  w3: Float32Array; // [POOL, CLASSES]
  b3: Float32Array;
}

function randomWeights(seed: number): Weights {
  const u = (n: number, scale: number, key: string) => {
    const s = new Stream(seed, key);
    return Float32Array.from({ length: n }, () => (2 * s.uniform() - 1) * scale);
  };
  return {
    w1: u(C1 * 27, 0.02, 'w1'), b1: u(C1, 1, 'b1'),
    w2: u(POOL * C1, 0.2, 'w2'), b2: u(POOL, 1, 'b2'),
    w3: u(POOL * CLASSES, 0.2, 'w3'), b3: u(CLASSES, 1, 'b3'),
  };
}

const info = (name: string, elemType: number, dims: Dim[]) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
});
const tensor = (name: string, data: Float32Array, dims: number[]) => ({
  name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
});
const node = (opType: string, input: string[], output: string[], attrs: Record<string, number | number[]> = {}) => ({
  opType, input, output, name: output[0],
  attribute: Object.entries(attrs).map(([name, v]) => (Array.isArray(v) ? { name, type: INTS, ints: v } : { name, type: INT, i: v })),
});

/**
 * images (uint8 NHWC) -> Cast -> NCHW -> Conv 3x3 stride 2 pad 1 -> Relu -> [NHWC: spatial]
 *   -> Conv 1x1 -> ReduceMean over H, W -> [pool] -> Gemm -> [logits, or Softmax -> probabilities]
 */
function buildModel(w: Weights, opts: { input: Dim[]; names: { pool: string; spatial: string; logits: string }; softmax?: boolean }): Uint8Array {
  const { names } = opts;
  const nodes = [
    node('Cast', ['images'], ['xf'], { to: FLOAT }),
    node('Transpose', ['xf'], ['xt'], { perm: [0, 3, 1, 2] }),
    node('Conv', ['xt', 'w1', 'b1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }),
    node('Relu', ['c1'], ['r1']),
    node('Transpose', ['r1'], [names.spatial], { perm: [0, 2, 3, 1] }),
    node('Conv', ['r1', 'w2', 'b2'], ['c2'], { kernel_shape: [1, 1] }),
    node('ReduceMean', ['c2'], [names.pool], { axes: [2, 3], keepdims: 0 }),
    node('Gemm', [names.pool, 'w3', 'b3'], [opts.softmax ? 'scores' : names.logits]),
    ...(opts.softmax ? [node('Softmax', ['scores'], [names.logits], { axis: 1 })] : []),
  ];
  const n = opts.input[0]!;
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'exposure-lab-test',
    graph: {
      name: 'fake_inception',
      node: nodes,
      initializer: [
        tensor('w1', w.w1, [C1, 3, 3, 3]), tensor('b1', w.b1, [C1]),
        tensor('w2', w.w2, [POOL, C1, 1, 1]), tensor('b2', w.b2, [POOL]),
        tensor('w3', w.w3, [POOL, CLASSES]), tensor('b3', w.b3, [CLASSES]),
      ],
      input: [info('images', UINT8, opts.input)],
      output: [
        info(names.pool, FLOAT, [n, POOL]),
        info(names.spatial, FLOAT, [n, 'sh', 'sw', C1]),
        info(names.logits, FLOAT, [n, CLASSES]),
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/** The model's computation for one RGB image (h x w x 3 bytes), in float64 loops. */
function expected(w: Weights, px: Uint8Array, h: number, wd: number) {
  const oh = Math.floor((h + 2 - 3) / 2) + 1;
  const ow = Math.floor((wd + 2 - 3) / 2) + 1;
  const r1 = new Float64Array(oh * ow * C1); // NHWC
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      for (let o = 0; o < C1; o++) {
        let acc = w.b1[o]!;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const iy = 2 * y + ky - 1;
              const ix = 2 * x + kx - 1;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              acc += px[(iy * wd + ix) * 3 + c]! * w.w1[((o * 3 + c) * 3 + ky) * 3 + kx]!;
            }
          }
        }
        r1[(y * ow + x) * C1 + o] = Math.max(0, acc);
      }
    }
  }
  const pool = new Float64Array(POOL);
  for (let p = 0; p < POOL; p++) {
    let s = 0;
    for (let q = 0; q < oh * ow; q++) {
      let acc = w.b2[p]!;
      for (let c = 0; c < C1; c++) acc += r1[q * C1 + c]! * w.w2[p * C1 + c]!;
      s += acc;
    }
    pool[p] = s / (oh * ow);
  }
  const logits = new Float64Array(CLASSES);
  for (let k = 0; k < CLASSES; k++) {
    let acc = w.b3[k]!;
    for (let p = 0; p < POOL; p++) acc += pool[p]! * w.w3[p * CLASSES + k]!;
    logits[k] = acc;
  }
  const spatial = new Float64Array(oh * ow * 7);
  for (let q = 0; q < oh * ow; q++) for (let c = 0; c < 7; c++) spatial[q * 7 + c] = r1[q * C1 + c]!;
  return { pool, spatial, logits };
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-5): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(rel * scale);
}

let dir: string;
let dynamicFile: string;
let fixedFile: string;
const W = randomWeights(1);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-onnx-'));
  dynamicFile = path.join(dir, 'fid-inception.onnx');
  fs.writeFileSync(dynamicFile, buildModel(W, { input: ['batch', 'height', 'width', 3], names: { pool: 'pool_3', spatial: 'mixed_6/conv', logits: 'logits' } }));
  fixedFile = path.join(dir, 'fixed.onnx');
  fs.writeFileSync(fixedFile, buildModel(W, { input: [2, 6, 6, 3], names: { pool: 'feat_a', spatial: 'feat_b', logits: 'probs' }, softmax: true }));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('Inception through ONNX Runtime', () => {
  it('extracts pool_3, the first 7 channels of mixed_6/conv and logits exactly as the graph computes them', async () => {
    const net = await loadInceptionOnnx(dynamicFile);
    const sha = createHash('sha256').update(fs.readFileSync(dynamicFile)).digest('hex');
    expect(net.id).toBe(`inception-onnx-${sha.slice(0, 8)}`);
    expect(net.io).toMatchObject({ pool: { name: 'pool_3' }, spatial: { name: 'mixed_6/conv' }, logits: { name: 'logits' }, size: null, batch: null });
    const n = 5;
    const s = new Stream(2, 'pixels');
    const px = Uint8Array.from({ length: n * 9 * 9 * 3 }, () => s.int(256));
    const f = await net.extract({ data: px, shape: [n, 9, 9, 3] }, { batchSize: 2 });
    expect([f.pooled.rows, f.pooled.cols, f.spatial!.cols, f.logits!.cols]).toEqual([n, POOL, 5 * 5 * 7, CLASSES]);
    for (let i = 0; i < n; i++) {
      const e = expected(W, px.subarray(i * 243, (i + 1) * 243), 9, 9);
      close(f.pooled.data.subarray(i * POOL, (i + 1) * POOL), e.pool);
      close(f.spatial!.data.subarray(i * 175, (i + 1) * 175), e.spatial);
      close(f.logits!.data.subarray(i * CLASSES, (i + 1) * CLASSES), e.logits);
    }
    net.dispose();
  });

  it('resizes to a fixed input size, replicates grey to RGB, pads a fixed batch and takes the log of probabilities', async () => {
    const net = await loadInceptionOnnx(fixedFile, { outputs: { pool: 'feat_a', spatial: 'feat_b', logits: 'probs' } });
    expect(net.io).toMatchObject({ size: [6, 6], batch: 2, logitsAreProbabilities: true });
    const n = 3;
    const s = new Stream(3, 'grey');
    const grey = Uint8Array.from({ length: n * 12 * 12 }, () => s.int(256));
    const f = await net.extract({ data: grey, shape: [n, 12, 12, 1] });
    expect(f.pooled.rows).toBe(n);
    for (let i = 0; i < n; i++) {
      // 12 -> 6 is an exact 2x2 block mean, rounded to a byte; then R = G = B
      const rgb = new Uint8Array(6 * 6 * 3);
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 6; x++) {
          const at = (dy: number, dx: number) => grey[i * 144 + (2 * y + dy) * 12 + 2 * x + dx]!;
          rgb.fill(Math.round((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4), (y * 6 + x) * 3, (y * 6 + x) * 3 + 3);
        }
      }
      const e = expected(W, rgb, 6, 6);
      close(f.pooled.data.subarray(i * POOL, (i + 1) * POOL), e.pool);
      const m = Math.max(...e.logits);
      const lse = m + Math.log(e.logits.reduce((a, v) => a + Math.exp(v - m), 0));
      close(f.logits!.data.subarray(i * CLASSES, (i + 1) * CLASSES), Array.from(e.logits, (v) => v - lse), 1e-4);
    }
    net.dispose();
  });

  it('refuses a model without the interface, naming what it has and how to name the outputs', async () => {
    await expect(loadInceptionOnnx(fixedFile)).rejects.toThrow(/no pooled \(pool_3, N x 2048\) output was found.*feat_a.*--onnx-pool/s);
    await expect(loadInceptionOnnx(fixedFile, { outputs: { pool: 'nope' } })).rejects.toThrow(/no pooled output named 'nope'/);
    const notOnnx = path.join(dir, 'junk.onnx');
    fs.writeFileSync(notOnnx, 'not a model');
    await expect(loadInceptionOnnx(notOnnx)).rejects.toThrow(/ONNX Runtime cannot load this file/);
    expect(() =>
      detectInterface('m.onnx', [{ name: 'x', type: 'float32', dims: [1, 3, 299, 299] }], [{ name: 'pool_3', type: 'float32', dims: [1, 2048] }]),
    ).toThrow(/expected NHWC images with 3 channels/);
    // detection by shape alone: the standard sizes
    const io = detectInterface(
      'm.onnx',
      [{ name: 'x', type: 'uint8', dims: ['n', 299, 299, 3] }],
      [{ name: 'a', type: 'float32', dims: ['n', 1008] }, { name: 'b', type: 'float32', dims: ['n', 17, 17, 768] }, { name: 'c', type: 'float32', dims: ['n', 1, 1, 2048] }],
    );
    expect([io.pool.name, io.spatial?.name, io.logits?.name, io.size]).toEqual(['c', 'b', 'a', [299, 299]]);
  });

  it("is what 'auto' picks for non-digit data once --inception / XLAB_INCEPTION names a file", async () => {
    expect(() => resolveNetworkChoice('auto', { dataset: 'cifar10:/data/cifar', env: {} })).toThrow(/--inception FILE\.onnx or the XLAB_INCEPTION/);
    expect(() => resolveNetworkChoice('auto', { channels: 3, env: {} })).toThrow(/--inception/);
    expect(() => resolveNetworkChoice('inception', { env: {} })).toThrow(/'inception' is not configured/);
    expect(resolveNetworkChoice('auto', { dataset: 'cifar10:/data/cifar', env: { XLAB_INCEPTION: dynamicFile } })).toMatchObject({ kind: 'onnx', path: dynamicFile });
    expect(resolveNetworkChoice('auto', { dataset: 'mnist' })).toMatchObject({ kind: 'classifier', name: 'mnist-classifier' });
    expect(resolveNetworkChoice('auto', { dataset: 'fashion-mnist:test' })).toMatchObject({ kind: 'classifier', name: 'fashion-mnist-classifier' });
    expect(resolveNetworkChoice('auto', { channels: 1, env: {} })).toMatchObject({ kind: 'classifier', name: 'mnist-classifier' });
    expect(() => resolveNetworkChoice('resnet')).toThrow(/unknown feature network 'resnet'/);
    expect(() => resolveNetworkChoice(path.join(dir, 'missing.onnx'))).toThrow(/does not exist/);
    const net = await featureNetworkFor('auto', { dataDir: dir, dataset: 'folder:/photos', inception: dynamicFile });
    expect(net.id).toMatch(/^inception-onnx-[0-9a-f]{8}$/);
    net.dispose();
  });
});

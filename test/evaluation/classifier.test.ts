/**
 * The app's classifier feature network: deterministic training (same seed -> same weights hash),
 * a tiny quickly-trained classifier far above chance, storage and reuse under the data dir, and
 * features checked against a plain-JS forward pass over the same weights.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/main/data/dataset';
import { resizeNHWC } from '../../src/main/data/resize';
import { initClassifierParams } from '../../src/main/evaluation/classifier/architecture';
import { ClassifierNetwork, loadOrTrainClassifier } from '../../src/main/evaluation/classifier/classifier-network';
import { decodeNpz, encodeNpz } from '../../src/main/formats/npz';
import { readClassifierFile, weightsSha256, type ClassifierMeta } from '../../src/main/evaluation/classifier/network-file';
import { trainClassifier } from '../../src/main/evaluation/classifier/training';
import { featureNetworkFor } from '../../src/main/evaluation/network-catalog';
import type { ImageBatchU8 } from '../../src/main/evaluation/feature-network';
import { initBackend } from '../../src/main/nn/backend';

// Tiny settings: seconds, not the minute of the default.
const TINY = { steps: 60, batchSize: 32, lr: 4e-3, seed: 7, trainCount: 1000, maxShift: 1 };

let dataDir: string;
beforeAll(async () => {
  await initBackend('wasm', 'train');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-classifier-'));
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** Independent forward pass: direct loops over NHWC arrays, float64. */
function referenceForward(w: Map<string, Float32Array>, img28: Float64Array) {
  const conv = (x: Float64Array, s: number, cin: number, name: string, cout: number, stride: number) => {
    const W = w.get(`${name}/w`)!;
    const B = w.get(`${name}/b`)!;
    const o = Math.ceil(s / stride);
    // tfjs 'same' for stride 1; stride 2 pads 1 on every side (PyTorch padding=1)
    const out = new Float64Array(o * o * cout);
    for (let oy = 0; oy < o; oy++) {
      for (let ox = 0; ox < o; ox++) {
        for (let co = 0; co < cout; co++) {
          let acc = B[co]!;
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const iy = oy * stride + ky - 1;
              const ix = ox * stride + kx - 1;
              if (iy < 0 || iy >= s || ix < 0 || ix >= s) continue;
              for (let ci = 0; ci < cin; ci++) acc += x[(iy * s + ix) * cin + ci]! * W[((ky * 3 + kx) * cin + ci) * cout + co]!;
            }
          }
          out[(oy * o + ox) * cout + co] = Math.max(0, acc);
        }
      }
    }
    return out;
  };
  const h1 = conv(img28, 28, 1, 'conv1', 16, 1);
  const h2 = conv(h1, 28, 16, 'conv2', 32, 2);
  const h3 = conv(h2, 14, 32, 'conv3', 64, 2);
  const fc = (x: Float64Array, name: string, nin: number, nout: number, relu: boolean) => {
    const W = w.get(`${name}/w`)!;
    const B = w.get(`${name}/b`)!;
    const out = new Float64Array(nout);
    for (let j = 0; j < nout; j++) {
      let acc = B[j]!;
      for (let i = 0; i < nin; i++) acc += x[i]! * W[i * nout + j]!;
      out[j] = relu ? Math.max(0, acc) : acc;
    }
    return out;
  };
  const pooled = fc(h3, 'fc1', 7 * 7 * 64, 128, true);
  const logits = fc(pooled, 'fc2', 128, 10, false);
  const spatial = new Float64Array(7 * 7 * 8);
  for (let y = 0; y < 7; y++) {
    for (let x = 0; x < 7; x++) {
      for (let c = 0; c < 8; c++) {
        let s = 0;
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) s += h2[((2 * y + dy) * 14 + 2 * x + dx) * 32 + c]!;
        spatial[(y * 7 + x) * 8 + c] = s / 4;
      }
    }
  }
  return { pooled, spatial, logits };
}

function fakeMeta(id: string): ClassifierMeta {
  return {
    format: 1, name: 'mnist-classifier', version: 1, id, weightsSha256: '', architecture: 'test', training: { ...TINY },
    data: { dataset: 'mnist', source: 'test', trainImages: 0, testImages: 0, testSplit: 'none' },
    testAccuracy: 0, trainSeconds: 0, backend: 'wasm',
  };
}

describe('classifier training', () => {
  it('is deterministic by seed, separates the digits far above chance, and is stored and reused', async () => {
    const lines: string[] = [];
    const first = await loadOrTrainClassifier('mnist-classifier', { dataDir, training: TINY, onMessage: (l) => lines.push(l) });
    expect(lines.some((l) => l.startsWith('training the mnist-classifier'))).toBe(true);
    const file = path.join(dataDir, 'feature-networks', `${first.id}.xlabfn`);
    expect(first.file).toBe(file);
    expect(first.id).toMatch(/^mnist-classifier-v1-[0-9a-f]{8}$/);
    const stored = await readClassifierFile(file);
    expect(stored.meta.weightsSha256).toBe(weightsSha256(stored.weights));
    // held out: every fifth bundled digit, never trained on; chance is 10%
    expect(stored.meta.data).toMatchObject({ trainImages: 1000, testImages: 2000 });
    expect(stored.meta.testAccuracy).toBeGreaterThan(0.7); // 87.9% when written
    expect(first.description).toContain(`${(100 * stored.meta.testAccuracy).toFixed(2)}%`);

    // same settings trained twice from scratch: the same weights, bit for bit (shifts included)
    const short = { ...TINY, steps: 15, batchSize: 16 };
    const once = await trainClassifier('mnist-classifier', short);
    const twice = await trainClassifier('mnist-classifier', short);
    expect(twice.meta.weightsSha256).toBe(once.meta.weightsSha256);
    const otherSeed = await trainClassifier('mnist-classifier', { ...short, seed: 8 });
    expect(otherSeed.meta.weightsSha256).not.toBe(once.meta.weightsSha256);

    const quiet: string[] = [];
    const second = await loadOrTrainClassifier('mnist-classifier', { dataDir, training: TINY, onMessage: (l) => quiet.push(l) });
    expect(second.id).toBe(first.id);
    expect(quiet).toEqual([]);
    const viaPath = await featureNetworkFor(file, { dataDir });
    expect(viaPath.id).toBe(first.id);
    await expect(loadOrTrainClassifier('mnist-classifier', { dataDir, training: { ...TINY, seed: 99 }, train: false })).rejects.toThrow(
      /no stored mnist-classifier trained with these settings/,
    );
    // a changed weight no longer matches the hash in the file's name and meta
    const arrays = decodeNpz(fs.readFileSync(file));
    (arrays['fc2.b']!.data as Float32Array)[0]! += 0.5;
    const broken = path.join(dataDir, 'broken.xlabfn');
    fs.writeFileSync(broken, encodeNpz(arrays));
    await expect(readClassifierFile(broken)).rejects.toThrow(/do not match their recorded hash/);
    for (const n of [first, second, viaPath]) n.dispose();
  });
});

describe('classifier features', () => {
  const weights = initClassifierParams(3);
  const net = new ClassifierNetwork(fakeMeta('mnist-classifier-v1-test0001'), weights, null);
  afterAll(() => net.dispose());

  it('match a plain-JS forward pass, at 28x28 and through the resize of 16x16 images', async () => {
    const ds = await loadDataset('mnist', { limit: 3 });
    const images: ImageBatchU8 = { data: ds.pixels!, shape: [3, 28, 28, 1] };
    const f = await net.extract(images, { batchSize: 2 });
    expect([f.pooled.rows, f.pooled.cols, f.spatial!.cols, f.logits!.cols]).toEqual([3, 128, 392, 10]);
    const small = resizeNHWC(ds.pixels!, 3, 28, 28, 1, 16, 16);
    const g = await net.extract({ data: small, shape: [3, 16, 16, 1] });
    const up = resizeNHWC(small, 3, 16, 16, 1, 28, 28);
    for (const [feats, px] of [[f, ds.pixels!], [g, up]] as const) {
      for (let i = 0; i < 3; i++) {
        const img = Float64Array.from(px.subarray(i * 784, (i + 1) * 784), (v) => v / 127.5 - 1);
        const ref = referenceForward(weights, img);
        for (const [k, dim] of [['pooled', 128], ['spatial', 392], ['logits', 10]] as const) {
          const got = feats[k]!.data.subarray(i * dim, (i + 1) * dim);
          const scale = Math.max(1, ...Array.from(ref[k], Math.abs));
          for (let j = 0; j < dim; j++) expect(Math.abs(got[j]! - ref[k][j]!)).toBeLessThan(1e-4 * scale);
        }
      }
    }
  });

  it('treat RGB images with equal channels like grey ones, and refuse malformed batches', async () => {
    const ds = await loadDataset('mnist', { limit: 2, imageSize: 32 });
    const grey = await net.extract({ data: ds.pixels!, shape: [2, 32, 32, 1] });
    const rgb = new Uint8Array(ds.pixels!.length * 3);
    for (let i = 0; i < ds.pixels!.length; i++) rgb.fill(ds.pixels![i]!, 3 * i, 3 * i + 3);
    const colour = await net.extract({ data: rgb, shape: [2, 32, 32, 3] });
    expect(Array.from(colour.pooled.data)).toEqual(Array.from(grey.pooled.data));
    await expect(net.extract({ data: new Uint8Array(10), shape: [2, 32, 32, 1] })).rejects.toThrow(/do not make/);
    await expect(net.extract({ data: new Uint8Array(2 * 4 * 4 * 2), shape: [2, 4, 4, 2] })).rejects.toThrow(/grey \(1\) or RGB \(3\)/);
  });
});

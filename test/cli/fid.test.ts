/**
 * `xlab fid A B` as a user runs it (a child process), on each input kind: statistics .npz (closed
 * form for diagonal Gaussians), .npy feature matrices (closed forms for FID and KID), an image
 * folder and an .npz of images (against features extracted here with the same stored network).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/main/data/dataset';
import { initClassifierParams } from '../../src/main/evaluation/classifier/architecture';
import { ClassifierNetwork } from '../../src/main/evaluation/classifier/classifier-network';
import { classifierId, weightsSha256, writeClassifierFile, type ClassifierMeta } from '../../src/main/evaluation/classifier/network-file';
import { writeNpy } from '../../src/main/formats/npy';
import { writeNpz } from '../../src/main/formats/npz';
import { frechetDistance } from '../../src/main/metrics/frechet';
import { gaussianStats } from '../../src/main/metrics/gaussian-stats';
import { kernelInceptionDistance } from '../../src/main/metrics/kid';
import { initBackend } from '../../src/main/nn/backend';
import { removeTmpDirs, runXlab, tmpDataDir, type XlabResult } from '../jobs/harness';

const json = (r: XlabResult) => {
  if (r.code !== 0) throw new Error(`xlab exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

/** Sylvester Hadamard matrix H_n (n a power of 2): columns 1.. are orthogonal and zero-mean. */
function hadamard(n: number): number[][] {
  let h = [[1]];
  while (h.length < n) h = [...h.map((r) => [...r, ...r]), ...h.map((r) => [...r, ...r.map((v) => -v)])];
  return h;
}

/** n x d features with sample mean `mean` and sample covariance exactly diag(sd^2). */
function featuresWith(mean: number[], sd: number[], n = 8): Float64Array {
  const h = hadamard(n);
  const d = mean.length;
  const out = new Float64Array(n * d);
  // column j+1 of H has sum 0 and sum of squares n, so its sample variance is n / (n - 1)
  const unit = Math.sqrt((n - 1) / n);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = mean[j]! + sd[j]! * unit * h[i]![j + 1]!;
  return out;
}

/** Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 over all rows (KID when one subset holds every row). */
function mmd2(x: Float64Array, y: Float64Array, n: number, d: number): number {
  const k = (a: Float64Array, i: number, b: Float64Array, j: number) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += a[i * d + c]! * b[j * d + c]!;
    return (s / d + 1) ** 3;
  };
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i !== j) {
        xx += k(x, i, x, j);
        yy += k(y, i, y, j);
      }
      xy += k(x, i, y, j);
    }
  }
  return (xx + yy) / (n * (n - 1)) - (2 * xy) / (n * n);
}

let dir: string;
let netFile: string;
let net: ClassifierNetwork;

beforeAll(async () => {
  await initBackend('wasm', 'train');
  dir = tmpDataDir('xlab-fid-');
  // A stored classifier with seeded, untrained weights: the CLI loads it by path (no training in tests).
  const weights = initClassifierParams(11);
  const sha = weightsSha256(weights);
  const meta: ClassifierMeta = {
    format: 1, name: 'mnist-classifier', version: 1, id: classifierId('mnist-classifier', sha), weightsSha256: sha,
    architecture: 'test', training: { steps: 0, batchSize: 1, lr: 0.001, seed: 11, trainCount: null, maxShift: 0 },
    data: { dataset: 'mnist', source: 'seeded initial weights, not trained', trainImages: 0, testImages: 0, testSplit: 'none' },
    testAccuracy: 0, trainSeconds: 0, backend: 'wasm',
  };
  netFile = await writeClassifierFile(dir, meta, weights);
  net = new ClassifierNetwork(meta, weights, netFile);
});
afterAll(() => {
  net.dispose();
  removeTmpDirs();
});

describe('xlab fid', () => {
  it('statistics .npz: the closed form for diagonal Gaussians, FID only (and says so)', async () => {
    const diag = (v: number[]) => {
      const m = new Float64Array(v.length * v.length);
      v.forEach((x, i) => (m[i * v.length + i] = x));
      return { dtype: 'float64' as const, shape: [v.length, v.length], data: m };
    };
    const a = path.join(dir, 'a-stats.npz');
    const b = path.join(dir, 'b-stats.npz');
    await writeNpz(a, { mu: { dtype: 'float64', shape: [3], data: Float64Array.of(1, 2, 3) }, sigma: diag([1, 4, 9]) });
    await writeNpz(b, { mu: { dtype: 'float32', shape: [3], data: Float32Array.of(0, 0, 0) }, sigma: diag([4, 1, 9]) });
    // ||mu_a - mu_b||^2 = 14; tr(S_a + S_b - 2 (S_a S_b)^(1/2)) = (1 + 4 - 4) + (4 + 1 - 4) + (9 + 9 - 18) = 2
    const r = await runXlab(['fid', a, b, '--json']);
    const out = json(r);
    expect(out.fid).toBeCloseTo(16, 10);
    expect(out).toMatchObject({ featureNetwork: null, counts: [null, null] });
    expect(out.kid).toBeUndefined();
    expect(r.stderr).toMatch(/statistics-only input: only FID can be computed \(not sfid, kid/);
  });

  it('.npy feature matrices: FID and KID against closed forms (the readable line)', async () => {
    const d = 4;
    const ma = [0.5, -1, 2, 0];
    const sa = [1, 2, 0.5, 1.5];
    const mb = [0, 0, 1, 1];
    const sb = [2, 1, 0.5, 1];
    const x = featuresWith(ma, sa);
    const y = featuresWith(mb, sb);
    const a = path.join(dir, 'a.npy');
    const b = path.join(dir, 'b.npy');
    await writeNpy(a, { dtype: 'float64', shape: [8, d], data: x });
    await writeNpy(b, { dtype: 'float32', shape: [8, d], data: Float32Array.from(y) });
    // commuting (diagonal) covariances: FID = sum (ma - mb)^2 + sum (sa - sb)^2
    const fid = ma.reduce((s, m, j) => s + (m - mb[j]!) ** 2 + (sa[j]! - sb[j]!) ** 2, 0);
    // 8 rows: each of KID's subsets holds every row, so every estimate is the full-sample MMD^2
    const kid = mmd2(x, Float64Array.from(Float32Array.from(y)), 8, d);
    const r = await runXlab(['fid', a, b]);
    expect(r.code).toBe(0);
    const num = (v: number) => v.toFixed(4).replace('.', '\\.');
    expect(r.stdout).toMatch(new RegExp(`^FID ${num(fid)}, KID ${num(kid)} ± \\S+ {2}\\(A: 8 samples, B: 8 samples; precomputed features\\)\\n$`));
    expect(r.stderr).toContain('no sfid: a precomputed feature matrix has no spatial features');
  });

  it('an image folder against an .npz of images, and the folder’s statistics against the same .npz', async () => {
    const ds = await loadDataset('mnist', { limit: 60 });
    const per = 28 * 28;
    const folder = path.join(dir, 'real');
    fs.mkdirSync(folder);
    for (let i = 0; i < 30; i++) {
      const px = Buffer.from(ds.pixels!.subarray(i * per, (i + 1) * per));
      await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(folder, `${String(i).padStart(3, '0')}.png`));
    }
    const samples = path.join(dir, 'samples.npz');
    const bPixels = ds.pixels!.slice(30 * per, 60 * per);
    await writeNpz(samples, { arr_0: { dtype: 'uint8', shape: [30, 28, 28, 1], data: bPixels } });

    const out = json(await runXlab(['fid', folder, samples, '--json', '--network', netFile, '--data-dir', dir]));
    const fa = await net.extract({ data: ds.pixels!.slice(0, 30 * per), shape: [30, 28, 28, 1] });
    const fb = await net.extract({ data: bPixels, shape: [30, 28, 28, 1] });
    const fid = frechetDistance(gaussianStats(fa.pooled), gaussianStats(fb.pooled)).distance;
    expect(out.fid).toBeCloseTo(fid, 6);
    expect(out.sfid).toBeCloseTo(frechetDistance(gaussianStats(fa.spatial!), gaussianStats(fb.spatial!)).distance, 6);
    expect(out.kid).toBeCloseTo(kernelInceptionDistance(fb.pooled, fa.pooled, { seed: 0 }).mean, 8);
    expect(out).toMatchObject({ featureNetwork: net.id, counts: [30, 30] });

    const stats = gaussianStats(fa.pooled);
    const statsFile = path.join(dir, 'real-stats.npz');
    await writeNpz(statsFile, {
      mu: { dtype: 'float64', shape: [stats.dim], data: stats.mu },
      sigma: { dtype: 'float64', shape: [stats.dim, stats.dim], data: stats.sigma },
    });
    const r = await runXlab(['fid', statsFile, samples, '--json', '--network', netFile]);
    const viaStats = json(r);
    expect(viaStats.fid).toBeCloseTo(fid, 6);
    expect(viaStats).toMatchObject({ featureNetwork: net.id, counts: [null, 30] });
    expect(r.stderr).toContain('statistics-only input');
  });

  it('says how to get a network for colour images when no Inception is configured', async () => {
    const rgb = path.join(dir, 'rgb.npz');
    const px = Uint8Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => (i * 37) % 256);
    await writeNpz(rgb, { arr_0: { dtype: 'uint8', shape: [4, 8, 8, 3], data: px } });
    const noInception = await runXlab(['fid', rgb, rgb, '--data-dir', dir], { env: { XLAB_INCEPTION: undefined } });
    expect(noInception.code).toBe(1);
    expect(noInception.stderr).toMatch(/no feature network for colour images.*--inception FILE\.onnx or the XLAB_INCEPTION/);

  });
});

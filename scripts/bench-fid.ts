/**
 * FID at Inception size: two 10,000 x 2048 float32 feature sets -> Gaussian statistics -> Frechet
 * distance, timed phase by phase, plus the alternatives the design was chosen against.
 *
 *   npx tsx scripts/bench-fid.ts            # our path (float64 SIMD, all cores) + TF.js float32 covariance
 *   npx tsx scripts/bench-fid.ts --js       # also the plain-JavaScript float64 blocked covariance (slow)
 *   npx tsx scripts/bench-fid.ts --rows 5000 --dim 1024 --threads 1
 *   npx tsx scripts/bench-fid.ts --extras   # also one bootstrap replicate, KID (100 x 1000) and precision/recall
 *
 * Wall time depends on what else runs on the machine, so CPU time (all threads of this process) is
 * printed too, along with the load average.
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/main/nn/backend';
import { Stream } from '../src/main/rng';
import { setMetricThreads } from '../src/main/metrics/f64-kernels';
import { gaussianStats, type FeatureMatrix, type GaussianStats } from '../src/main/metrics/gaussian-stats';
import { frechetDistance, frechetDistanceTo, prepareFrechetReference } from '../src/main/metrics/frechet';
import { resampleCounts } from '../src/main/metrics/bootstrap';
import { kernelInceptionDistance } from '../src/main/metrics/kid';
import { precisionRecall } from '../src/main/metrics/precision-recall';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROWS = opt('rows', 10_000);
const DIM = opt('dim', 2048);
const THREADS = opt('threads', 0);
const WITH_JS = args.includes('--js');
const EXTRAS = args.includes('--extras');

interface Timing {
  wall: number;
  cpu: number;
}

function timed<T>(fn: () => T): [T, Timing] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const c = process.cpuUsage(c0);
  return [out, { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }];
}

async function timedAsync<T>(fn: () => Promise<T>): Promise<[T, Timing]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const c = process.cpuUsage(c0);
  return [out, { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }];
}

const fmt = (t: Timing) => `${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s cpu`;

/**
 * Inception-like features: non-negative (ReLU), a decaying spectrum from 64 shared latent factors, and
 * per-feature noise, so the covariance is full rank but ill-conditioned like pool_3 features.
 */
function features(rows: number, dim: number, seed: number, shift: number): Float32Array {
  const factors = 64;
  const fs = new Stream(1234, 'bench-factors');
  const F = new Float32Array(dim * factors).map(() => fs.normal());
  const scale = Float32Array.from({ length: factors }, (_, k) => 0.6 / (1 + k) ** 0.8);
  const bias = Float32Array.from({ length: dim }, (_, j) => 0.3 + 0.2 * Math.sin(j) + shift * Math.cos(3 * j));
  const s = new Stream(seed, 'bench-features');
  const x = new Float32Array(rows * dim);
  const w = new Float32Array(factors);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < factors; k++) w[k] = s.normal() * scale[k]!;
    const o = r * dim;
    for (let j = 0; j < dim; j++) {
      let v = bias[j]!;
      const fo = j * factors;
      for (let k = 0; k < factors; k++) v += F[fo + k]! * w[k]!;
      x[o + j] = Math.max(0, v + 0.15 * s.normal());
    }
  }
  return x;
}

/** The alternative: centred X^T X with TF.js float32 matMul (wasm), chunks accumulated in float64. */
async function statsTfjs(x: FeatureMatrix): Promise<GaussianStats> {
  const { data, rows, cols: d } = x;
  const mu = new Float64Array(d);
  for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) mu[j] += data[i * d + j]!;
  for (let j = 0; j < d; j++) mu[j] /= rows;
  const acc = new Float64Array(d * d);
  const chunk = 1024;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const n = Math.min(chunk, rows - r0);
    const c = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) c[i * d + j] = data[(r0 + i) * d + j]! - mu[j]!;
    const prod = tf.tidy(() => {
      const t = tf.tensor2d(c, [n, d]);
      return tf.matMul(t, t, true, false);
    });
    const v = await prod.data();
    prod.dispose();
    for (let i = 0; i < d * d; i++) acc[i] += v[i]!;
  }
  for (let i = 0; i < d * d; i++) acc[i] /= rows - 1;
  return { dim: d, count: rows, mu, sigma: acc };
}

/** The other alternative: the same product in plain JavaScript float64, 4x4 register blocked. */
function statsPlainJs(x: FeatureMatrix): GaussianStats {
  const { data, rows, cols: d } = x;
  const mu = new Float64Array(d);
  for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) mu[j] += data[i * d + j]!;
  for (let j = 0; j < d; j++) mu[j] /= rows;
  const acc = new Float64Array(d * d);
  const kb = 256;
  const xt = new Float64Array(d * kb); // a slab of centred rows, feature-major
  for (let r0 = 0; r0 < rows; r0 += kb) {
    const n = Math.min(kb, rows - r0);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xt[j * kb + i] = data[(r0 + i) * d + j]! - mu[j]!;
    for (let a = 0; a < d; a += 4) {
      for (let b = 0; b <= a; b += 4) {
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        const a0 = a * kb, a1 = a0 + kb, a2 = a1 + kb, a3 = a2 + kb;
        const b0 = b * kb, b1 = b0 + kb, b2 = b1 + kb, b3 = b2 + kb;
        for (let p = 0; p < n; p++) {
          const x0 = xt[a0 + p]!, x1 = xt[a1 + p]!, x2 = xt[a2 + p]!, x3 = xt[a3 + p]!;
          const y0 = xt[b0 + p]!, y1 = xt[b1 + p]!, y2 = xt[b2 + p]!, y3 = xt[b3 + p]!;
          c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
          c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
          c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
          c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
        }
        const cs = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) acc[(a + i) * d + b + j] += cs[i * 4 + j]!;
      }
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const v = acc[i * d + j]! / (rows - 1);
      acc[i * d + j] = v;
      acc[j * d + i] = v;
    }
  }
  return { dim: d, count: rows, mu, sigma: acc };
}

async function main(): Promise<void> {
  if (THREADS > 0) setMetricThreads(THREADS);
  console.log(`FID benchmark: 2 x ${ROWS} x ${DIM} float32 features; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const [[a, b, c]] = timed(() => [features(ROWS, DIM, 1, 0), features(ROWS, DIM, 2, 0.05), features(ROWS, DIM, 3, 0)]);
  const X: FeatureMatrix = { data: a, rows: ROWS, cols: DIM };
  const Y: FeatureMatrix = { data: b, rows: ROWS, cols: DIM };
  const Z: FeatureMatrix = { data: c, rows: ROWS, cols: DIM }; // same distribution as X

  // warm-up on a small problem (JIT, kernel tier-up, helper threads)
  frechetDistance(gaussianStats({ data: a.subarray(0, 300 * 64), rows: 300, cols: 64 }), gaussianStats({ data: b.subarray(0, 300 * 64), rows: 300, cols: 64 }));

  const [sx, tx] = timed(() => gaussianStats(X));
  const [sy, ty] = timed(() => gaussianStats(Y));
  const [ref, tp] = timed(() => prepareFrechetReference(sx));
  const [fid, tf2] = timed(() => frechetDistanceTo(ref, sy));
  const total = (...t: Timing[]) => ({ wall: t.reduce((s, v) => s + v.wall, 0), cpu: t.reduce((s, v) => s + v.cpu, 0) });
  console.log(`\nfloat64 SIMD path (${THREADS || 'default'} threads):`);
  console.log(`  stats, set 1            ${fmt(tx)}`);
  console.log(`  stats, set 2            ${fmt(ty)}`);
  console.log(`  distance: factor S1     ${fmt(tp)}`);
  console.log(`  distance: rest          ${fmt(tf2)}`);
  console.log(`  stats total             ${fmt(total(tx, ty))}`);
  console.log(`  distance total          ${fmt(total(tp, tf2))}`);
  console.log(`  FID total               ${fmt(total(tx, ty, tp, tf2))}`);
  console.log(`  FID = ${fid.distance} (rank ${fid.referenceRank}, offset ${fid.offset}, max imaginary ${fid.maxImaginary})`);
  const sz = gaussianStats(Z);
  const fidSame = frechetDistance(sx, sz).distance;
  console.log(`  FID(same distribution) = ${fidSame}`);

  if (EXTRAS) {
    console.log('\nother metrics on the same features:');
    const [boot, tb] = timed(() => frechetDistanceTo(ref, gaussianStats(Y, { rowWeights: resampleCounts(ROWS, new Stream(0, 'fid-bootstrap', 0)) })));
    console.log(`  one bootstrap replicate ${fmt(tb)} (FID ${boot.distance.toFixed(4)})`);
    const [kid, tk] = timed(() => kernelInceptionDistance(Y, X));
    console.log(`  KID 100 x ${kid.subsetSize}        ${fmt(tk)} (KID ${kid.mean.toExponential(4)} +- ${kid.stdErr.toExponential(2)})`);
    const [pr, tr] = timed(() => precisionRecall(X, Y));
    console.log(`  precision/recall k=3    ${fmt(tr)} (precision ${pr.precision.toFixed(4)}, recall ${pr.recall.toFixed(4)})`);
  }

  await initBackend('wasm', 'infer');
  console.log('\nTF.js wasm float32 matMul covariance (float64 accumulation across 1024-row chunks):');
  const [sxf, t1] = await timedAsync(() => statsTfjs(X));
  const syf = await statsTfjs(Y);
  const szf = await statsTfjs(Z);
  console.log(`  stats, set 1            ${fmt(t1)} (full d x d product per chunk: TF.js has no symmetric product)`);
  const fidF = frechetDistance(sxf, syf).distance;
  const fidSameF = frechetDistance(sxf, szf).distance;
  let maxCov = 0;
  let maxAbs = 0;
  for (let i = 0; i < DIM * DIM; i++) {
    maxCov = Math.max(maxCov, Math.abs(sxf.sigma[i]! - sx.sigma[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(sx.sigma[i]!));
  }
  console.log(`  max |sigma_f32 - sigma_f64| = ${maxCov.toExponential(2)} (max |sigma| ${maxAbs.toExponential(2)})`);
  console.log(`  FID ${fidF} vs ${fid.distance}: error ${(fidF - fid.distance).toExponential(2)}`);
  console.log(`  FID(same) ${fidSameF} vs ${fidSame}: error ${(fidSameF - fidSame).toExponential(2)}`);

  if (WITH_JS) {
    console.log('\nplain JavaScript float64, 4x4 register blocking, one thread:');
    const [sj, tj] = timed(() => statsPlainJs(X));
    let maxJ = 0;
    for (let i = 0; i < DIM * DIM; i++) maxJ = Math.max(maxJ, Math.abs(sj.sigma[i]! - sx.sigma[i]!));
    console.log(`  stats, set 1            ${fmt(tj)} (max |difference| ${maxJ.toExponential(2)})`);
  }
  console.log(`\nload average now ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

await main();

/**
 * The Gaussian fitted to a feature set (FID's mu and Sigma): mean and unbiased (N-1) covariance,
 * accumulated in float64 whatever the input precision, as numpy's np.cov does in the reference.
 *
 * Two passes (mean, then centred products) so large feature means do not cancel away digits. The
 * product X^T X runs on the blocked float64 SIMD kernels (~2.6 s for 10,000 x 2048 on one core;
 * TF.js float32 matMul is no faster here once symmetry is exploited, see scripts/bench-fid.ts).
 */
import { f64Heap } from './f64-kernels';
import { allocMatrix, gemm } from './blocked-gemm';

/** Rows are samples: element (i, j) = data[i * cols + j]. */
export interface FeatureMatrix {
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

export interface GaussianStats {
  dim: number;
  /** Number of samples the statistics were computed from (the sum of weights when weighted). */
  count: number;
  mu: Float64Array;
  /** dim x dim, row-major (symmetric). */
  sigma: Float64Array;
}

export interface GaussianStatsOptions {
  /**
   * Integer multiplicity of each row (a bootstrap resample): the result equals the statistics of the
   * matrix in which row i appears weights[i] times.
   */
  rowWeights?: ArrayLike<number>;
}

const CHUNK = 1024;

export function checkFeatureMatrix(x: FeatureMatrix, what = 'features'): void {
  if (!Number.isInteger(x.rows) || !Number.isInteger(x.cols) || x.rows < 0 || x.cols <= 0) {
    throw new Error(`${what}: bad shape ${x.rows} x ${x.cols}`);
  }
  if (x.data.length !== x.rows * x.cols) {
    throw new Error(`${what}: data has ${x.data.length} values, shape ${x.rows} x ${x.cols} needs ${x.rows * x.cols}`);
  }
}

export function gaussianStats(x: FeatureMatrix, opts: GaussianStatsOptions = {}): GaussianStats {
  checkFeatureMatrix(x);
  const { data, rows, cols: d } = x;
  const w = opts.rowWeights;
  if (w && w.length !== rows) throw new Error(`rowWeights has ${w.length} entries for ${rows} rows`);
  let count = 0;
  const mu = new Float64Array(d);
  for (let i = 0; i < rows; i++) {
    const wi = w ? w[i]! : 1;
    if (!(wi >= 0) || !Number.isInteger(wi)) throw new Error(`rowWeights[${i}] = ${wi} is not a non-negative integer`);
    if (wi === 0) continue;
    count += wi;
    const o = i * d;
    for (let j = 0; j < d; j++) mu[j] += wi * data[o + j]!;
  }
  if (count < 2) throw new Error(`a covariance needs at least 2 samples, got ${count}`);
  for (let j = 0; j < d; j++) mu[j] /= count;
  for (let j = 0; j < d; j++) {
    if (!Number.isFinite(mu[j]!)) throw new Error(`features are not finite (column ${j})`);
  }

  const heap = f64Heap();
  const mark = heap.mark();
  try {
    const C = allocMatrix(heap, d, d);
    // chunk of centred rows, stored feature-major (d x CHUNK) so both packings read contiguously
    const chunk = heap.alloc(d * CHUNK + 8);
    let i = 0;
    while (i < rows) {
      const f = heap.f64;
      const c0 = chunk / 8;
      let k = 0;
      for (; i < rows && k < CHUNK; i++) {
        const wi = w ? w[i]! : 1;
        if (wi === 0) continue;
        const s = w ? Math.sqrt(wi) : 1;
        const o = i * d;
        for (let j = 0; j < d; j++) f[c0 + j * CHUNK + k] = s * (data[o + j]! - mu[j]!);
        k++;
      }
      if (k === 0) break;
      gemm(d, d, k, { ptr: chunk, rowStride: CHUNK, colStride: 1 }, { ptr: chunk, rowStride: 1, colStride: CHUNK }, C, {
        lowerOnly: true,
      });
    }
    const f = heap.f64;
    const sigma = new Float64Array(d * d);
    const scale = 1 / (count - 1);
    const c0 = C.ptr / 8;
    for (let j = 0; j < d; j++) {
      for (let r = j; r < d; r++) {
        const v = f[c0 + r + j * C.ld]! * scale;
        sigma[r * d + j] = v;
        sigma[j * d + r] = v;
      }
    }
    return { dim: d, count, mu, sigma };
  } finally {
    heap.release(mark);
  }
}

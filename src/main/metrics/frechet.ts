/**
 * Frechet distance between two Gaussians (FID when they are fitted to Inception features):
 *   ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).
 *
 * Tr((S1 S2)^(1/2)) is the sum of square roots of the eigenvalues of S1 S2, which equal those of the
 * symmetric PSD matrix L^T S2 L for S1 = L L^T. So instead of scipy's sqrtm (a Schur decomposition of a
 * non-symmetric product) this takes a rank-revealing pivoted Cholesky of S1, forms M = L^T P^T S2 P L
 * with SIMD float64 products, and sums sqrt of M's eigenvalues (tridiagonalisation + QL). About
 * n^3 * (1/6 + 1/2 + 1/6 + 2/3) multiply-adds, all float64.
 *
 * Robustness, following the reference evaluator (guided-diffusion evaluations/evaluator.py):
 *  - singular covariances (fewer samples than dimensions) are handled by the pivoting itself: L has the
 *    numerical rank of S1 as its width; no offset is needed and the result stays exact;
 *  - if anything comes out non-finite, the computation is retried with eps*I (eps = 1e-6) added to both
 *    covariances, as the reference does, and `offset` in the result says so;
 *  - negative eigenvalues of M are where sqrtm would produce an imaginary part: round-off sized ones
 *    (|lambda| <= 4 r eps max|lambda|, either sign) count as 0, but sqrt(-lambda) above 1e-3 (the
 *    reference's atol on the imaginary diagonal) throws, as does a covariance that pivoted Cholesky
 *    proves indefinite by more than that.
 *
 * The reference covariance's factorisation is reusable (`prepareFrechetReference`), which is what makes
 * bootstrap replicates cheaper than full distances.
 */
import { f64Heap } from './f64-kernels';
import { allocMatrix, asOperand, gemm } from './blocked-gemm';
import { pivotedCholesky } from './pivoted-cholesky';
import { symmetricEigenvalues } from './symmetric-eigenvalues';
import type { GaussianStats } from './gaussian-stats';

export interface FrechetOptions {
  /** Diagonal offset for the retry (the reference's eps). */
  eps?: number;
  /** Largest tolerated imaginary part, i.e. sqrt of a negative eigenvalue (the reference's atol). */
  imaginaryTolerance?: number;
}

export interface FrechetResult {
  distance: number;
  /** ||mu1 - mu2||^2 */
  meanTerm: number;
  /** Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)) */
  covarianceTerm: number;
  traceSqrtProduct: number;
  /** Diagonal offset added to both covariances (0 unless the retry was needed). */
  offset: number;
  /** Numerical rank of the reference covariance S1. */
  referenceRank: number;
  /** Largest sqrt(-lambda) over negative eigenvalues that were clamped to 0 (the "imaginary part"). */
  maxImaginary: number;
}

/** S1's factorisation, reusable against many S2 (bootstrap replicates, several models). */
export interface FrechetReference {
  stats: GaussianStats;
  offset: number;
  rank: number;
  piv: Int32Array;
  /** The first `rank` columns of L, column-major with leading dimension `ld`. */
  factor: Float64Array;
  ld: number;
  traceSigma: number;
  /** sqrt of the largest indefinite residual entry times the scale (0 when S1 is PSD to round-off). */
  residualImaginary: number;
}

const DEFAULT_EPS = 1e-6;
const DEFAULT_IMAG_TOL = 1e-3;

function checkStats(s: GaussianStats, what: string): void {
  const d = s.dim;
  if (s.mu.length !== d || s.sigma.length !== d * d) {
    throw new Error(`${what}: mu has ${s.mu.length} and sigma ${s.sigma.length} values for dimension ${d}`);
  }
  for (let i = 0; i < d; i++) if (!Number.isFinite(s.mu[i]!)) throw new Error(`${what}: mu is not finite`);
  for (let i = 0; i < d * d; i++) if (!Number.isFinite(s.sigma[i]!)) throw new Error(`${what}: sigma is not finite`);
}

function trace(sigma: Float64Array, d: number): number {
  let t = 0;
  for (let i = 0; i < d; i++) t += sigma[i * d + i]!;
  return t;
}

/**
 * Copies sym(S)[piv[i], piv[j]] (+ offset on the diagonal) into a heap matrix. Rows are gathered
 * whole (row piv[i] of S, permuted), then the symmetrisation runs tile by tile so both of its
 * accesses stay in cache; a column-strided walk over a 2048 x 2048 matrix costs ten times more.
 */
function loadPermuted(sigma: Float64Array, d: number, piv: Int32Array | null, offset: number) {
  const heap = f64Heap();
  const m = allocMatrix(heap, d, d);
  const f = heap.f64;
  const b = m.ptr / 8;
  const ld = m.ld;
  for (let i = 0; i < d; i++) {
    const src = (piv ? piv[i]! : i) * d;
    const dst = b + i * ld;
    if (piv) for (let j = 0; j < d; j++) f[dst + j] = sigma[src + piv[j]!]!;
    else f.set(sigma.subarray(src, src + d), dst);
  }
  const T = 32;
  for (let i0 = 0; i0 < d; i0 += T) {
    for (let j0 = i0; j0 < d; j0 += T) {
      const i1 = Math.min(d, i0 + T);
      const j1 = Math.min(d, j0 + T);
      for (let i = i0; i < i1; i++) {
        for (let j = Math.max(j0, i + 1); j < j1; j++) {
          const v = 0.5 * (f[b + i * ld + j]! + f[b + j * ld + i]!);
          f[b + i * ld + j] = v;
          f[b + j * ld + i] = v;
        }
      }
    }
  }
  if (offset !== 0) for (let i = 0; i < d; i++) f[b + i * ld + i] += offset;
  return m;
}

/**
 * Factors the reference covariance once (pivoted Cholesky, ~d^3/6 multiply-adds). `offset` is added
 * to its diagonal; the distance functions use it for the eps retry, callers normally leave it at 0.
 */
export function prepareFrechetReference(stats: GaussianStats, opts: FrechetOptions = {}, offset = 0): FrechetReference {
  checkStats(stats, 'reference statistics');
  const d = stats.dim;
  const heap = f64Heap();
  const mark = heap.mark();
  try {
    const a = loadPermuted(stats.sigma, d, null, offset);
    const chol = pivotedCholesky(a);
    const imagTol = opts.imaginaryTolerance ?? DEFAULT_IMAG_TOL;
    // A PSD Schur complement whose diagonal is below the stopping tolerance has all entries below it;
    // anything larger is a negative eigenvalue of S1.
    const stopTol = d * Number.EPSILON * chol.maxDiagonal;
    let residualImaginary = 0;
    if (chol.residualMaxAbs > 2 * stopTol || chol.residualMinDiagonal < -2 * stopTol) {
      const neg = Math.max(chol.residualMaxAbs, -chol.residualMinDiagonal);
      residualImaginary = Math.sqrt(neg * chol.maxDiagonal);
      if (!(residualImaginary <= imagTol)) {
        throw new Error(
          `Frechet distance: the reference covariance is not positive semidefinite (an indefinite remainder of size ${neg.toExponential(3)} ` +
            `after rank ${chol.rank} of ${d}; imaginary component ~${residualImaginary.toExponential(3)} > ${imagTol})`,
        );
      }
    }
    const ld = a.ld;
    const factor = heap.f64.slice(a.ptr / 8, a.ptr / 8 + ld * chol.rank);
    return {
      stats,
      offset,
      rank: chol.rank,
      piv: chol.piv,
      factor,
      ld,
      traceSigma: trace(stats.sigma, d) + d * offset,
      residualImaginary,
    };
  } finally {
    heap.release(mark);
  }
}

/** Tr((S1 S2)^(1/2)) and the largest clamped imaginary part; throws on a large one. */
function traceSqrtProduct(ref: FrechetReference, sigma2: Float64Array, imagTol: number): { value: number; maxImaginary: number } {
  const d = ref.stats.dim;
  const r = ref.rank;
  if (r === 0) return { value: 0, maxImaginary: ref.residualImaginary };
  const heap = f64Heap();
  const mark = heap.mark();
  try {
    const S2 = loadPermuted(sigma2, d, ref.piv, ref.offset);
    const L = allocMatrix(heap, d, r);
    heap.f64.set(ref.factor, L.ptr / 8);
    const W = allocMatrix(heap, d, r);
    gemm(d, r, d, asOperand(S2), asOperand(L), W, { bLowerTrapezoid: true });
    const M = allocMatrix(heap, r, r);
    gemm(r, r, d, asOperand(L, true), asOperand(W), M, { aUpperTrapezoid: true, lowerOnly: true });
    const f = heap.f64;
    for (let j = 0; j < r; j++) {
      for (let i = j, o = M.ptr / 8 + j * M.ld; i < r; i++) if (!Number.isFinite(f[o + i]!)) return { value: NaN, maxImaginary: 0 };
    }
    let lambda: Float64Array;
    try {
      lambda = symmetricEigenvalues(M);
    } catch {
      return { value: NaN, maxImaginary: 0 }; // no QL convergence: let the caller retry with the offset
    }
    const scale = Math.max(Math.abs(lambda[0]!), Math.abs(lambda[r - 1]!));
    // A backward-stable eigensolver returns each eigenvalue within ~n*eps*||M||. Exact zeros (S2 singular
    // in directions S1 sees) therefore come out as +-noise, and sqrt would turn noise of 1e-16 into
    // 1e-8 per eigenvalue; below this threshold an eigenvalue is indistinguishable from 0 and counts as 0.
    const roundoff = 4 * r * Number.EPSILON * scale;
    let value = 0;
    let maxImaginary = ref.residualImaginary;
    for (let i = 0; i < r; i++) {
      const l = lambda[i]!;
      if (!Number.isFinite(l)) return { value: NaN, maxImaginary };
      if (l > roundoff) value += Math.sqrt(l);
      else if (l < -roundoff) maxImaginary = Math.max(maxImaginary, Math.sqrt(-l));
    }
    if (!(maxImaginary <= imagTol)) {
      throw new Error(
        `Frechet distance: imaginary component ${maxImaginary.toExponential(3)} > ${imagTol} ` +
          '(S1 S2 has a clearly negative eigenvalue: a covariance is not positive semidefinite)',
      );
    }
    return { value, maxImaginary };
  } finally {
    heap.release(mark);
  }
}

/** Frechet distance from a prepared reference (S1) to `other` (S2). */
export function frechetDistanceTo(ref: FrechetReference, other: GaussianStats, opts: FrechetOptions = {}): FrechetResult {
  checkStats(other, 'statistics');
  const d = ref.stats.dim;
  if (other.dim !== d) throw new Error(`Frechet distance: dimensions differ (${d} vs ${other.dim})`);
  const imagTol = opts.imaginaryTolerance ?? DEFAULT_IMAG_TOL;
  let meanTerm = 0;
  for (let i = 0; i < d; i++) {
    const t = ref.stats.mu[i]! - other.mu[i]!;
    meanTerm += t * t;
  }
  let current = ref;
  let ts = traceSqrtProduct(current, other.sigma, imagTol);
  if (!Number.isFinite(ts.value) && current.offset === 0) {
    // the reference evaluator's fallback: "fid calculation produces singular product; adding eps to diagonal"
    current = prepareFrechetReference(ref.stats, opts, opts.eps ?? DEFAULT_EPS);
    ts = traceSqrtProduct(current, other.sigma, imagTol);
  }
  if (!Number.isFinite(ts.value)) throw new Error('Frechet distance: the trace of the matrix square root is not finite even with a diagonal offset');
  const offset = current.offset;
  const covarianceTerm = current.traceSigma + trace(other.sigma, d) + d * offset - 2 * ts.value;
  return {
    distance: meanTerm + covarianceTerm,
    meanTerm,
    covarianceTerm,
    traceSqrtProduct: ts.value,
    offset,
    referenceRank: current.rank,
    maxImaginary: ts.maxImaginary,
  };
}

export function frechetDistance(a: GaussianStats, b: GaussianStats, opts: FrechetOptions = {}): FrechetResult {
  return frechetDistanceTo(prepareFrechetReference(a, opts), b, opts);
}

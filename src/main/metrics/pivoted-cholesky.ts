/**
 * Pivoted Cholesky of a symmetric positive semidefinite matrix on the f64 heap (LAPACK dpstrf, lower):
 * P^T A P = L L^T with L n x r, r the numerical rank. Pivoting on the largest remaining diagonal makes
 * it rank-revealing, so singular covariances (fewer samples than dimensions, constant features) factor
 * exactly instead of needing a diagonal offset. Blocked: inside a panel columns are updated with
 * vector operations, the trailing matrix with one SIMD rank-nb product per panel.
 */
import { f64Heap } from './f64-kernels';
import { asOperand, gemm, offsetOperand, type HeapMatrix } from './blocked-gemm';

export interface PivotedCholesky {
  /** Numerical rank r: L's first r columns are the factor. */
  rank: number;
  /** piv[i] = the original index placed at position i. */
  piv: Int32Array;
  /** Largest diagonal entry of the input (the scale the tolerances refer to). */
  maxDiagonal: number;
  /** Largest |entry| of the Schur complement left when pivoting stopped (0 at full rank). */
  residualMaxAbs: number;
  /** Most negative diagonal entry of that Schur complement (0 if none). */
  residualMinDiagonal: number;
}

const NB = 64;

/**
 * Factors the lower triangle of `a` (n x n, column-major on the heap) in place: on return columns
 * 0..rank-1 hold L (the strict upper part of those columns is zeroed), and the trailing block holds the
 * Schur complement. Stops when the largest remaining diagonal is <= tol (default n * eps * max diagonal,
 * LAPACK's choice) or not a number.
 */
export function pivotedCholesky(a: HeapMatrix, tol?: number): PivotedCholesky {
  const heap = f64Heap();
  const n = a.rows;
  const ld = a.ld;
  const base = a.ptr / 8;
  const at = (i: number, j: number) => base + i + j * ld;
  const piv = new Int32Array(n);
  for (let i = 0; i < n; i++) piv[i] = i;
  let f = heap.f64;
  let maxDiagonal = 0;
  for (let i = 0; i < n; i++) maxDiagonal = Math.max(maxDiagonal, f[at(i, i)]!);
  const stopTol = tol ?? n * Number.EPSILON * maxDiagonal;
  const dots = new Float64Array(n);
  let rank = n;
  let stopped = false;
  for (let j0 = 0; j0 < n && !stopped; j0 += NB) {
    const jb = Math.min(NB, n - j0);
    dots.fill(0, j0);
    let j = j0;
    for (; j < j0 + jb; j++) {
      if (j > j0) {
        for (let i = j; i < n; i++) {
          const v = f[at(i, j - 1)]!;
          dots[i] += v * v;
        }
      }
      let p = j;
      let best = -Infinity;
      for (let i = j; i < n; i++) {
        const v = f[at(i, i)]! - dots[i]!;
        if (v > best || Number.isNaN(v)) {
          best = v;
          p = i;
          if (Number.isNaN(v)) break;
        }
      }
      if (!(best > stopTol)) {
        rank = j;
        stopped = true;
        break;
      }
      if (p !== j) {
        swapSymmetric(f, at, n, j, p);
        const t = dots[j]!;
        dots[j] = dots[p]!;
        dots[p] = t;
        const q = piv[j]!;
        piv[j] = piv[p]!;
        piv[p] = q;
      }
      const ajj = Math.sqrt(best);
      f[at(j, j)] = ajj;
      const len = n - j - 1;
      if (len > 0) {
        for (let k = j0; k < j; k++) heap.k.axpy(len, -f[at(j, k)]!, 8 * at(j + 1, k), 8 * at(j + 1, j));
        const inv = 1 / ajj;
        for (let i = j + 1; i < n; i++) f[at(i, j)] *= inv;
      }
    }
    // Trailing update with the panel's finished columns (also when stopping early, so that the
    // trailing block is the true Schur complement for the residual check below).
    const done = j - j0;
    const t0 = j;
    if (done > 0 && t0 < n) {
      const L21 = offsetOperand(asOperand(a), t0, j0);
      gemm(n - t0, n - t0, done, L21, offsetOperand(asOperand(a, true), j0, t0), { ptr: 8 * at(t0, t0), ld }, {
        sign: -1,
        lowerOnly: true,
      });
      f = heap.f64;
    }
  }
  // zero the strict upper part of L's columns so products can read L as a full matrix
  for (let j = 0; j < rank; j++) for (let i = 0; i < j; i++) f[at(i, j)] = 0;
  let residualMaxAbs = 0;
  let residualMinDiagonal = 0;
  for (let j = rank; j < n; j++) {
    residualMinDiagonal = Math.min(residualMinDiagonal, f[at(j, j)]!);
    for (let i = j; i < n; i++) {
      const v = Math.abs(f[at(i, j)]!);
      if (!(v <= residualMaxAbs)) residualMaxAbs = v; // NaN propagates
    }
  }
  return { rank, piv, maxDiagonal, residualMaxAbs, residualMinDiagonal };
}

/**
 * Swaps rows and columns j < p of a symmetric matrix stored in its lower triangle, where columns < j
 * already hold rows of L (LAPACK's dswap sequence in dpstrf).
 */
function swapSymmetric(f: Float64Array, at: (i: number, j: number) => number, n: number, j: number, p: number): void {
  const sw = (x: number, y: number) => {
    const t = f[x]!;
    f[x] = f[y]!;
    f[y] = t;
  };
  for (let k = 0; k < j; k++) sw(at(j, k), at(p, k));
  sw(at(j, j), at(p, p));
  for (let k = j + 1; k < p; k++) sw(at(k, j), at(p, k));
  for (let i = p + 1; i < n; i++) sw(at(i, j), at(i, p));
}

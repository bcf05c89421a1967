/**
 * Eigenvalues (no vectors) of a symmetric matrix on the f64 heap: blocked Householder reduction to
 * tridiagonal form (LAPACK dsytrd/dlatrd, lower), then implicit QL on the tridiagonal.
 *
 * Why this route: eigenvalues alone cost 4/3 n^3 flops, half of them in rank-2nb updates that run on
 * the SIMD product kernel; the other half is one symmetric matrix-vector product per column, which
 * streams the trailing matrix from cache. Eigenvectors (which a matrix square root would need) would
 * triple the cost and are not needed for a trace.
 */
import { f64Heap, ITEM } from './f64-kernels';
import { asOperand, gemm, offsetOperand, roundUp4, type HeapMatrix } from './blocked-gemm';

const NB = 32;

/**
 * Eigenvalues of the symmetric matrix whose lower triangle is in `a` (destroyed), ascending.
 */
export function symmetricEigenvalues(a: HeapMatrix): Float64Array {
  const n = a.rows;
  if (n === 0) return new Float64Array(0);
  const d = new Float64Array(n);
  const e = new Float64Array(n); // e[i] couples i and i+1; e[n-1] = 0
  tridiagonalize(a, d, e);
  return tridiagonalEigenvalues(d, e);
}

function tridiagonalize(a: HeapMatrix, d: Float64Array, e: Float64Array): void {
  const heap = f64Heap();
  const n = a.rows;
  const ld = a.ld;
  const mark = heap.mark();
  // W holds the panel's n x NB update vectors; y is the symv output; both column-major
  const wLd = roundUp4(n);
  const wPtr = heap.alloc(wLd * NB + 8);
  const k = heap.k;
  const symv = parallelSymv(n);
  for (let i0 = 0; i0 < n; i0 += NB) {
    const m = n - i0; // size of the trailing block
    const nb = Math.min(NB, m);
    const base = a.ptr + 8 * (i0 + i0 * ld); // byte address of A(i0, i0)
    const A = (i: number, j: number) => base + 8 * (i + j * ld); // block-local byte address
    const W = (i: number, j: number) => wPtr + 8 * (i + j * wLd);
    let f = heap.f64;
    for (let i = 0; i < nb; i++) {
      // bring column i up to date with the panel's earlier reflectors
      if (i > 0) {
        for (let kk = 0; kk < i; kk++) {
          k.axpy(m - i, -f[W(i, kk) / 8]!, A(i, kk), A(i, i));
          k.axpy(m - i, -f[A(i, kk) / 8]!, W(i, kk), A(i, i));
        }
      }
      d[i0 + i] = f[A(i, i) / 8]!;
      if (i >= m - 1) {
        e[i0 + i] = 0;
        continue;
      }
      // Householder reflector annihilating A(i+2:m, i)
      const len = m - i - 1; // length of v = A(i+1:m, i)
      const alphaAt = A(i + 1, i) / 8;
      const alpha = f[alphaAt]!;
      const xnorm2 = len > 1 ? k.dot(len - 1, A(i + 2, i), A(i + 2, i)) : 0;
      let tau = 0;
      let beta = alpha;
      if (xnorm2 > 0) {
        beta = -Math.sign(alpha || 1) * Math.hypot(alpha, Math.sqrt(xnorm2));
        tau = (beta - alpha) / beta;
        const scale = 1 / (alpha - beta);
        const s0 = A(i + 2, i) / 8;
        for (let r = 0; r < len - 1; r++) f[s0 + r] *= scale;
      }
      e[i0 + i] = beta;
      f[alphaAt] = 1;
      // w = tau * (A22 v - W V^T v - V W^T v), then w -= (tau/2)(w.v) v   (dlatrd)
      const v = A(i + 1, i);
      const y = W(i + 1, i);
      const yAt = y / 8;
      for (let r = 0; r < len; r++) f[yAt + r] = 0;
      symv(len, A(i + 1, i + 1), 8 * ld, v, y);
      if (i > 0) {
        for (let kk = 0; kk < i; kk++) {
          const wv = k.dot(len, W(i + 1, kk), v);
          const av = k.dot(len, A(i + 1, kk), v);
          k.axpy(len, -wv, A(i + 1, kk), y);
          k.axpy(len, -av, W(i + 1, kk), y);
        }
      }
      for (let r = 0; r < len; r++) f[yAt + r] *= tau;
      const half = -0.5 * tau * k.dot(len, y, v);
      k.axpy(len, half, v, y);
      f = heap.f64;
    }
    // rank-2nb update of the rest: A22 -= V W^T + W V^T
    const rest = m - nb;
    if (rest > 0) {
      const A22 = { ptr: a.ptr + 8 * (i0 + nb + (i0 + nb) * ld), ld };
      const V = offsetOperand({ ptr: base, rowStride: 1, colStride: ld }, nb, 0);
      const Vt = offsetOperand({ ptr: base, rowStride: ld, colStride: 1 }, 0, nb);
      const Wop = offsetOperand(asOperand({ ptr: wPtr, ld: wLd }), nb, 0);
      const Wt = offsetOperand(asOperand({ ptr: wPtr, ld: wLd }, true), 0, nb);
      gemm(rest, rest, nb, V, Wt, A22, { sign: -1, lowerOnly: true });
      gemm(rest, rest, nb, Wop, Vt, A22, { sign: -1, lowerOnly: true });
    }
  }
  heap.release(mark);
}

/**
 * y += A x for the lower-stored symmetric m x m A (m <= n), in a fixed number of column chunks of
 * equal work that any thread may take. Each chunk accumulates into its own partial y and the partials
 * are added in chunk order, so the result has the same bits whatever the number of threads (which a
 * per-thread accumulator would not: FID would change in the 12th digit between machines).
 */
const SYMV_CHUNKS = 8;

function parallelSymv(n: number): (m: number, a: number, lda8: number, x: number, y: number) => void {
  const heap = f64Heap();
  const k = heap.k;
  const stride = roundUp4(n) + 8;
  const partials = heap.alloc(SYMV_CHUNKS * stride, false);
  const list = heap.alloc(Math.ceil((SYMV_CHUNKS * ITEM) / 2) + 2, false);
  return (m, a, lda8, x, y) => {
    if (m < 384) {
      k.symv(m, a, lda8, x, y, 0, m); // too small to be worth waking a helper
      return;
    }
    const f = heap.f64;
    const p0 = partials / 8;
    f.fill(0, p0, p0 + SYMV_CHUNKS * stride);
    const it = heap.i32;
    // column c costs ~(m - c): boundaries where the cumulative cost c m - c^2/2 reaches j/chunks of the total
    let c0 = 0;
    let count = 0;
    for (let j = 1; j <= SYMV_CHUNKS && c0 < m; j++) {
      const target = ((j / SYMV_CHUNKS) * m * m) / 2;
      let c1 = j === SYMV_CHUNKS ? m : 2 * Math.round((m - Math.sqrt(Math.max(0, m * m - 2 * target))) / 2);
      c1 = Math.min(m, Math.max(c1, c0 + 2));
      if (c1 !== m && c1 % 2 === 1) c1++;
      const o = list / 4 + ITEM * count;
      it[o] = 1;
      it[o + 1] = m;
      it[o + 2] = a;
      it[o + 3] = lda8;
      it[o + 4] = x;
      it[o + 5] = partials + 8 * count * stride;
      it[o + 6] = c0;
      it[o + 7] = c1;
      count++;
      c0 = c1;
    }
    heap.runItems(list, count);
    const g = heap.f64;
    const y0 = y / 8;
    for (let r = 0; r < m; r++) {
      let s = g[y0 + r]!;
      for (let t = 0; t < count; t++) s += g[p0 + t * stride + r]!;
      g[y0 + r] = s;
    }
  };
}

/**
 * Eigenvalues of the symmetric tridiagonal matrix (diagonal d, off-diagonal e[i] between i and i+1),
 * by the implicit QL method with Wilkinson-type shifts (EISPACK tql1). d and e are destroyed.
 */
export function tridiagonalEigenvalues(d: Float64Array, e: Float64Array): Float64Array {
  const n = d.length;
  // Deflate when an off-diagonal is negligible against the whole matrix (EISPACK tql1's test), not
  // just against its neighbours: a PSD matrix of low rank reduces to a block of round-off sized
  // entries next to large ones, where a purely local test never fires. Eigenvalues stay within
  // eps * ||T|| of exact, which is all the reduction to tridiagonal form guarantees anyway.
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i]!) + Math.abs(e[i]!) + (i > 0 ? Math.abs(e[i - 1]!) : 0));
  const small = Number.EPSILON * norm;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let m: number;
    do {
      for (m = l; m < n - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        const em = Math.abs(e[m]!);
        if (em <= Number.EPSILON * dd || em <= small) break;
      }
      if (m !== l) {
        if (iter++ === 60) throw new Error('tridiagonal eigenvalues: QL iteration did not converge');
        let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
        let r = Math.hypot(g, 1);
        g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
        let s = 1;
        let c = 1;
        let p = 0;
        let i: number;
        let underflow = false;
        for (i = m - 1; i >= l; i--) {
          const fq = s * e[i]!;
          const b = c * e[i]!;
          r = Math.hypot(fq, g);
          e[i + 1] = r;
          if (r === 0) {
            d[i + 1] -= p;
            e[m] = 0;
            underflow = true;
            break;
          }
          s = fq / r;
          c = g / r;
          g = d[i + 1]! - p;
          r = (d[i]! - g) * s + 2 * c * b;
          p = s * r;
          d[i + 1] = g + p;
          g = c * r - b;
        }
        if (underflow) continue;
        d[l] -= p;
        e[l] = g;
        e[m] = 0;
      }
    } while (m !== l);
  }
  return d.sort();
}

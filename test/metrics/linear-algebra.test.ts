import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { f64Heap, setMetricThreads } from '../../src/main/metrics/f64-kernels';
import { allocMatrix, asOperand, gemm, type HeapMatrix } from '../../src/main/metrics/blocked-gemm';
import { pivotedCholesky } from '../../src/main/metrics/pivoted-cholesky';
import { symmetricEigenvalues, tridiagonalEigenvalues } from '../../src/main/metrics/symmetric-eigenvalues';
import { gaussianStats } from '../../src/main/metrics/gaussian-stats';

const heap = f64Heap();

/** Copies a row-major JS matrix into a fresh heap matrix (column-major). */
function load(a: ArrayLike<number>, rows: number, cols: number): HeapMatrix {
  const m = allocMatrix(heap, rows, cols);
  const f = heap.f64;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) f[m.ptr / 8 + i + j * m.ld] = a[i * cols + j]!;
  return m;
}

function read(m: HeapMatrix): Float64Array {
  const f = heap.f64;
  const out = new Float64Array(m.rows * m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[i * m.cols + j] = f[m.ptr / 8 + i + j * m.ld]!;
  return out;
}

const randomMatrix = (rows: number, cols: number, key: string) => {
  const s = new Stream(3, key);
  return new Float64Array(rows * cols).map(() => s.normal());
};

function naiveProduct(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * k + p]! * b[p * n + j]!;
  return c;
}

describe('blocked float64 products', () => {
  it('gemm matches a naive product across slab, block and tile edges, on one and on several threads', () => {
    for (const threads of [1, 2]) {
      setMetricThreads(threads);
      const mark = heap.mark();
      const [m, k, n] = [137, 530, 75]; // k spans three 256-deep slabs, m two 128-row blocks, ragged tiles
      const a = randomMatrix(m, k, 'a');
      const b = randomMatrix(k, n, 'b');
      const A = load(a, m, k);
      const B = load(b, k, n);
      const C = load(new Float64Array(m * n).fill(1), m, n);
      gemm(m, n, k, asOperand(A), asOperand(B), C);
      const ref = naiveProduct(a, b, m, k, n);
      const got = read(C);
      for (let i = 0; i < m * n; i++) expect(got[i]!).toBeCloseTo(ref[i]! + 1, 10);
      // transposed operands and subtraction: C -= (A^T)^T B
      const At = load(Float64Array.from({ length: k * m }, (_, idx) => a[(idx % m) * k + Math.floor(idx / m)]!), k, m);
      gemm(m, n, k, asOperand(At, true), asOperand(B), C, { sign: -1 });
      for (const v of read(C)) expect(v).toBeCloseTo(1, 10);
      heap.release(mark);
    }
  });

  it('structure flags compute what they promise', () => {
    const mark = heap.mark();
    const d = 70;
    const l = randomMatrix(d, d, 'l').map((v, idx) => (idx % d > Math.floor(idx / d) ? 0 : v)); // lower
    const s = randomMatrix(d, d, 's');
    const L = load(l, d, d);
    const S = load(s, d, d);
    const W = load(new Float64Array(d * d), d, d);
    gemm(d, d, d, asOperand(S), asOperand(L), W, { bLowerTrapezoid: true });
    const w = naiveProduct(s, l, d, d, d);
    const got = read(W);
    for (let i = 0; i < d * d; i++) expect(got[i]!).toBeCloseTo(w[i]!, 10);
    const M = load(new Float64Array(d * d), d, d);
    gemm(d, d, d, asOperand(L, true), asOperand(W), M, { aUpperTrapezoid: true, lowerOnly: true });
    const lt = Float64Array.from({ length: d * d }, (_, idx) => l[(idx % d) * d + Math.floor(idx / d)]!);
    const m = naiveProduct(lt, w, d, d, d);
    const gm = read(M);
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) expect(gm[i * d + j]!).toBeCloseTo(m[i * d + j]!, 9);
    heap.release(mark);
  });
});

describe('pivoted Cholesky', () => {
  it('reconstructs P^T A P = L L^T and finds the rank of a PSD matrix', () => {
    const mark = heap.mark();
    const [d, r] = [150, 97]; // spans panels of 64
    const g = randomMatrix(d, r, 'g');
    const a = naiveProduct(g, Float64Array.from({ length: r * d }, (_, idx) => g[(idx % d) * r + Math.floor(idx / d)]!), d, r, d);
    const A = load(a, d, d);
    const chol = pivotedCholesky(A);
    expect(chol.rank).toBe(r);
    const L = read(A);
    for (let i = 0; i < d; i += 7) {
      for (let j = 0; j <= i; j += 5) {
        let s = 0;
        for (let k = 0; k < chol.rank; k++) s += L[i * d + k]! * L[j * d + k]!;
        expect(s).toBeCloseTo(a[chol.piv[i]! * d + chol.piv[j]!]!, 8);
      }
    }
    expect(chol.residualMaxAbs).toBeLessThan(1e-9);
    heap.release(mark);
  });
});

describe('symmetric eigenvalues', () => {
  it('recovers the spectrum of Q diag(lambda) Q^T across panel boundaries', () => {
    for (const d of [1, 2, 3, 5, 33, 70]) {
      const mark = heap.mark();
      const lambda = Array.from({ length: d }, (_, i) => (i % 3 === 0 ? 0 : (i - d / 2) * 0.37));
      // Q from Householder reflections I - 2 v v^T / v.v applied to diag(lambda) from both sides
      let a: Float64Array = new Float64Array(d * d);
      lambda.forEach((l, i) => (a[i * d + i] = l));
      const s = new Stream(5, 'q', d);
      for (let rep = 0; rep < 3; rep++) {
        const v = new Float64Array(d).map(() => s.normal());
        const vv = v.reduce((acc, x) => acc + x * x, 0);
        const h = new Float64Array(d * d);
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) h[i * d + j] = (i === j ? 1 : 0) - (2 * v[i]! * v[j]!) / vv;
        a = naiveProduct(naiveProduct(h, a, d, d, d), h, d, d, d);
      }
      const got = symmetricEigenvalues(load(a, d, d));
      const want = [...lambda].sort((x, y) => x - y);
      for (let i = 0; i < d; i++) expect(got[i]!).toBeCloseTo(want[i]!, 11);
      heap.release(mark);
    }
  });

  it('low-rank PSD matrices (a block of round-off next to large entries) converge, on one and several threads', () => {
    for (const threads of [1, 2]) {
      setMetricThreads(threads);
      const mark = heap.mark();
      const [d, r] = [420, 60]; // large enough for the threaded symv
      const g = randomMatrix(d, r, `lowrank${threads}`);
      const gt = Float64Array.from({ length: r * d }, (_, idx) => g[(idx % d) * r + Math.floor(idx / d)]!);
      const got = symmetricEigenvalues(load(naiveProduct(g, gt, d, r, d), d, d));
      // the nonzero eigenvalues of G G^T are those of G^T G (r x r): compare the top r
      const small = symmetricEigenvalues(load(naiveProduct(gt, g, r, d, r), r, r));
      const scale = got[d - 1]!;
      for (let i = 0; i < r; i++) expect(got[d - r + i]! / scale).toBeCloseTo(small[i]! / scale, 12);
      for (let i = 0; i < d - r; i++) expect(Math.abs(got[i]!) / scale).toBeLessThan(1e-13);
      heap.release(mark);
    }
  });

  it('tridiagonal QL: the (2, -1) second-difference matrix', () => {
    const n = 50;
    const got = tridiagonalEigenvalues(new Float64Array(n).fill(2), new Float64Array(n).fill(-1).fill(0, n - 1));
    const want = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1))).sort((x, y) => x - y);
    for (let i = 0; i < n; i++) expect(got[i]!).toBeCloseTo(want[i]!, 12);
  });
});

describe('Gaussian statistics', () => {
  const n = 150;
  const d = 13;
  const s = new Stream(9, 'stats');
  const x = new Float32Array(n * d).map((_, i) => 100 + s.normal() * (1 + (i % d)));

  it('mean and unbiased covariance match a naive two-pass computation', () => {
    const g = gaussianStats({ data: x, rows: n, cols: d });
    const mu = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += x[i * d + j]! / n;
    for (let j = 0; j < d; j++) expect(g.mu[j]!).toBeCloseTo(mu[j]!, 10);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let c = 0;
        for (let i = 0; i < n; i++) c += (x[i * d + a]! - mu[a]!) * (x[i * d + b]! - mu[b]!);
        expect(g.sigma[a * d + b]!).toBeCloseTo(c / (n - 1), 9);
      }
    }
    expect(g.count).toBe(n);
  });

  it('row weights equal duplicating rows, and zero weights drop them', () => {
    const w = Array.from({ length: n }, (_, i) => i % 4);
    const rows: number[] = [];
    w.forEach((k, i) => {
      for (let r = 0; r < k; r++) rows.push(i);
    });
    const dup = new Float32Array(rows.length * d);
    rows.forEach((i, r) => dup.set(x.subarray(i * d, i * d + d), r * d));
    const weighted = gaussianStats({ data: x, rows: n, cols: d }, { rowWeights: w });
    const explicit = gaussianStats({ data: dup, rows: rows.length, cols: d });
    expect(weighted.count).toBe(rows.length);
    for (let i = 0; i < d * d; i++) expect(weighted.sigma[i]!).toBeCloseTo(explicit.sigma[i]!, 9);
  });

  it('rejects bad shapes and too few samples', () => {
    expect(() => gaussianStats({ data: x, rows: n, cols: d + 1 })).toThrow(/needs/);
    expect(() => gaussianStats({ data: x.subarray(0, d), rows: 1, cols: d })).toThrow(/at least 2/);
  });
});

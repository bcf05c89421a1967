import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { frechetDistance, frechetDistanceTo, prepareFrechetReference } from '../../src/main/metrics/frechet';
import { gaussianStats, type GaussianStats } from '../../src/main/metrics/gaussian-stats';
import { setMetricThreads } from '../../src/main/metrics/f64-kernels';

const stats = (mu: ArrayLike<number>, sigma: ArrayLike<number>, count = 100): GaussianStats => ({
  dim: mu.length,
  count,
  mu: Float64Array.from(mu),
  sigma: Float64Array.from(sigma),
});

const diag = (v: number[]): number[] => {
  const d = v.length;
  const m = new Array<number>(d * d).fill(0);
  v.forEach((x, i) => (m[i * d + i] = x));
  return m;
};

function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) for (let j = 0; j < m; j++) c[i * m + j] += a[i * k + p]! * b[p * m + j]!;
  return c;
}

function transpose(a: ArrayLike<number>, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j]!;
  return t;
}

/** Random SPD matrix A A^T / k + ridge I. */
function randomSpd(d: number, key: string, ridge = 0.05, k = d + 3): Float64Array {
  const s = new Stream(7, key);
  const a = new Float64Array(d * k).map(() => s.normal());
  const m = matmul(a, transpose(a, d, k), d, k, d);
  for (let i = 0; i < d * d; i++) m[i] /= k;
  for (let i = 0; i < d; i++) m[i * d + i] += ridge;
  return m;
}

/** Random orthogonal matrix from Householder reflections. */
function randomOrthogonal(d: number, key: string): Float64Array {
  const s = new Stream(11, key);
  let q: Float64Array = Float64Array.from(diag(new Array<number>(d).fill(1)));
  for (let r = 0; r < d; r++) {
    const v = new Float64Array(d).map(() => s.normal());
    const nv = Math.hypot(...v);
    const h = Float64Array.from(diag(new Array<number>(d).fill(1)));
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) h[i * d + j] -= (2 * v[i]! * v[j]!) / (nv * nv);
    q = matmul(q, h, d, d, d);
  }
  return q;
}

/** Real roots of a cubic with three real roots (trigonometric method). */
function cubicRoots(c2: number, c1: number, c0: number): number[] {
  // l^3 - c2 l^2 + c1 l - c0 = 0
  const p = c1 - (c2 * c2) / 3;
  const q = (-2 * c2 * c2 * c2) / 27 + (c2 * c1) / 3 - c0;
  const r = Math.sqrt(-p / 3);
  const phi = Math.acos(Math.max(-1, Math.min(1, (3 * q) / (2 * p * r))));
  return [0, 1, 2].map((k) => 2 * r * Math.cos((phi - 2 * Math.PI * k) / 3) + c2 / 3);
}

/** Tr sqrt(S1 S2) for 2x2 and 3x3 from the characteristic polynomial of S1 S2 (no iteration). */
function traceSqrtClosedForm(s1: ArrayLike<number>, s2: ArrayLike<number>, d: 2 | 3): number {
  const p = matmul(s1, s2, d, d, d);
  if (d === 2) {
    const det = p[0]! * p[3]! - p[1]! * p[2]!;
    return Math.sqrt(p[0]! + p[3]! + 2 * Math.sqrt(det));
  }
  const tr = p[0]! + p[4]! + p[8]!;
  const minors = p[0]! * p[4]! - p[1]! * p[3]! + p[0]! * p[8]! - p[2]! * p[6]! + p[4]! * p[8]! - p[5]! * p[7]!;
  const det =
    p[0]! * (p[4]! * p[8]! - p[5]! * p[7]!) - p[1]! * (p[3]! * p[8]! - p[5]! * p[6]!) + p[2]! * (p[3]! * p[7]! - p[4]! * p[6]!);
  return cubicRoots(tr, minors, det).reduce((a, l) => a + Math.sqrt(Math.max(0, l)), 0);
}

const trace = (m: ArrayLike<number>, d: number) => Array.from({ length: d }, (_, i) => m[i * d + i]!).reduce((a, b) => a + b, 0);

/** Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations (an independent route). */
function jacobiEigenvalues(a0: ArrayLike<number>, n: number): number[] {
  const a = Float64Array.from(a0);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]!);
}

/** ReLU'd correlated features, the same generator as the scipy cross-check below. */
function features(n: number, d: number, seed: number, shift: number): Float32Array {
  const s = new Stream(seed, 'features');
  const x = new Float32Array(n * d);
  const z = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) z[j] = s.normal();
    for (let j = 0; j < d; j++) x[r * d + j] = Math.max(0, shift + z[j]! + 0.5 * z[(j + 1) % d]! - 0.25 * z[(j + 5) % d]!);
  }
  return x;
}

describe('Frechet distance: closed forms', () => {
  it('diagonal covariances give sum (sqrt a - sqrt b)^2 plus the mean term', () => {
    const s = new Stream(1, 'diag');
    const d = 37;
    const a = Array.from({ length: d }, () => 0.1 + 3 * s.uniform());
    const b = Array.from({ length: d }, () => 0.1 + 3 * s.uniform());
    const mu1 = Array.from({ length: d }, () => s.normal());
    const mu2 = Array.from({ length: d }, () => s.normal());
    const expected =
      a.reduce((acc, ai, i) => acc + (Math.sqrt(ai) - Math.sqrt(b[i]!)) ** 2, 0) + mu1.reduce((acc, m, i) => acc + (m - mu2[i]!) ** 2, 0);
    const r = frechetDistance(stats(mu1, diag(a)), stats(mu2, diag(b)));
    expect(r.distance).toBeCloseTo(expected, 11);
    expect(r.offset).toBe(0);
    expect(r.referenceRank).toBe(d);
  });

  it('identical Gaussians are at distance 0 up to round-off', () => {
    const d = 60;
    const sigma = randomSpd(d, 'same');
    const mu = new Float64Array(d).map((_, i) => Math.sin(i));
    const r = frechetDistance(stats(mu, sigma), stats(mu, sigma));
    expect(Math.abs(r.distance)).toBeLessThan(1e-11 * trace(sigma, d));
    expect(r.meanTerm).toBe(0);
  });

  it('a shared rotation of two diagonal covariances leaves the distance unchanged', () => {
    const d = 45;
    const s = new Stream(2, 'rot');
    const a = Array.from({ length: d }, () => 0.05 + s.uniform() ** 2 * 4);
    const b = Array.from({ length: d }, () => 0.05 + s.uniform() ** 2 * 4);
    const q = randomOrthogonal(d, 'rot');
    const rotate = (v: number[]) => matmul(matmul(q, diag(v), d, d, d), transpose(q, d, d), d, d, d);
    const mu = new Float64Array(d);
    const expected = a.reduce((acc, ai, i) => acc + (Math.sqrt(ai) - Math.sqrt(b[i]!)) ** 2, 0);
    const r = frechetDistance(stats(mu, rotate(a)), stats(mu, rotate(b)));
    expect(r.distance).toBeCloseTo(expected, 10);
  });

  it('a mean shift alone gives ||mu1 - mu2||^2', () => {
    const d = 23;
    const sigma = randomSpd(d, 'shift');
    const mu1 = new Float64Array(d).map((_, i) => i / 7);
    const mu2 = mu1.map((v, i) => v + (i % 3) - 1);
    const r = frechetDistance(stats(mu1, sigma), stats(mu2, sigma));
    const expected = mu1.reduce((acc, v, i) => acc + (v - mu2[i]!) ** 2, 0);
    expect(r.meanTerm).toBeCloseTo(expected, 12);
    expect(r.distance).toBeCloseTo(expected, 10);
  });

  it('matches the exact 2x2 and 3x3 formulas for random non-commuting SPD pairs', () => {
    for (const d of [2, 3] as const) {
      for (let trial = 0; trial < 20; trial++) {
        const s1 = randomSpd(d, `cf1-${d}-${trial}`, 0.01, 2);
        const s2 = randomSpd(d, `cf2-${d}-${trial}`, 0.01, 4);
        const mu = new Float64Array(d);
        const expected = trace(s1, d) + trace(s2, d) - 2 * traceSqrtClosedForm(s1, s2, d);
        const r = frechetDistance(stats(mu, s1), stats(mu, s2));
        expect(r.traceSqrtProduct).toBeCloseTo(traceSqrtClosedForm(s1, s2, d), 11);
        expect(r.distance).toBeCloseTo(expected, 10);
        // the distance is symmetric although the route (factor S1, not S2) is not
        expect(frechetDistance(stats(mu, s2), stats(mu, s1)).distance).toBeCloseTo(expected, 10);
      }
    }
  });

  it('agrees with scipy (guided-diffusion evaluator formula) on fixed features', () => {
    const a = gaussianStats({ data: features(300, 40, 1, 0.3), rows: 300, cols: 40 });
    const b = gaussianStats({ data: features(250, 40, 2, 0.4), rows: 250, cols: 40 });
    // np.cov + scipy.linalg.sqrtm (scipy 1.17.1) on the same float32 features
    expect(frechetDistance(a, b).distance).toBeCloseTo(2.1319257459003396, 10);
  });
});

describe('Frechet distance: singular and invalid covariances', () => {
  /** Singular values by one-sided (Hestenes) Jacobi: accurate for tiny ones, unlike sqrt(eig(B B^T)). */
  function singularValues(b: Float64Array, rows: number, cols: number): number[] {
    const col = Array.from({ length: cols }, (_, j) => Float64Array.from({ length: rows }, (_, i) => b[i * cols + j]!));
    for (let sweep = 0; sweep < 60; sweep++) {
      let rotated = false;
      for (let p = 0; p < cols; p++) {
        for (let q = p + 1; q < cols; q++) {
          const u = col[p]!;
          const v = col[q]!;
          let alpha = 0;
          let beta = 0;
          let gamma = 0;
          for (let i = 0; i < rows; i++) {
            alpha += u[i]! * u[i]!;
            beta += v[i]! * v[i]!;
            gamma += u[i]! * v[i]!;
          }
          if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
          rotated = true;
          const zeta = (beta - alpha) / (2 * gamma);
          const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
          const c = 1 / Math.sqrt(1 + t * t);
          const s = c * t;
          for (let i = 0; i < rows; i++) {
            const x = u[i]!;
            u[i] = c * x - s * v[i]!;
            v[i] = s * x + c * v[i]!;
          }
        }
      }
      if (!rotated) break;
    }
    return col.map((c) => Math.hypot(...c));
  }

  /** Tr sqrt(S1 S2) = nuclear norm of A1 A2^T for S = A^T A (A the centred samples / sqrt(n - 1)). */
  function gramRoute(x1: Float32Array, n1: number, x2: Float32Array, n2: number, d: number): number {
    const centred = (x: Float32Array, n: number) => {
      const mu = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += x[i * d + j]! / n;
      const a = new Float64Array(n * d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) a[i * d + j] = (x[i * d + j]! - mu[j]!) / Math.sqrt(n - 1);
      return a;
    };
    const b = matmul(centred(x1, n1), transpose(centred(x2, n2), n2, d), n1, d, n2);
    return singularValues(b, n1, n2).reduce((acc, v) => acc + v, 0);
  }

  it('fewer samples than dimensions: finite, and equal to the Gram-matrix route', () => {
    const d = 40;
    const [n1, n2] = [30, 25];
    const x1 = features(n1, d, 3, 0.3);
    const x2 = features(n2, d, 4, 0.4);
    const a = gaussianStats({ data: x1, rows: n1, cols: d });
    const b = gaussianStats({ data: x2, rows: n2, cols: d });
    const r = frechetDistance(a, b);
    expect(r.referenceRank).toBe(n1 - 1);
    expect(r.offset).toBe(0);
    const exact = gramRoute(x1, n1, x2, n2, d);
    expect(r.traceSqrtProduct).toBeCloseTo(exact, 9);
    // numpy's SVD of A1 A2^T agrees; scipy's sqrtm on this singular product is off by 2e-7
    // (16.143761931), which the rank-revealing factorisation avoids
    expect(r.traceSqrtProduct).toBeCloseTo(16.143761752569212, 9);
    expect(frechetDistance(b, a).distance).toBeCloseTo(r.distance, 9);
  });

  it('both sets smaller than the dimension, so S1 S2 has lower rank than S1', () => {
    const d = 300;
    const [n1, n2] = [120, 80];
    const x1 = features(n1, d, 7, 0.3);
    const x2 = features(n2, d, 8, 0.35);
    const r = frechetDistance(gaussianStats({ data: x1, rows: n1, cols: d }), gaussianStats({ data: x2, rows: n2, cols: d }));
    expect(r.referenceRank).toBe(n1 - 1);
    expect(r.traceSqrtProduct).toBeCloseTo(gramRoute(x1, n1, x2, n2, d), 9);
  });

  it('constant and duplicated features (rank-deficient with many samples)', () => {
    const d = 12;
    const n = 200;
    const base = features(n, d, 5, 0.2);
    const x = Float32Array.from(base);
    for (let i = 0; i < n; i++) {
      x[i * d + 3] = 1.5; // constant
      x[i * d + 7] = x[i * d + 2]!; // duplicate
    }
    const a = gaussianStats({ data: x, rows: n, cols: d });
    const b = gaussianStats({ data: features(n, d, 6, 0.3), rows: n, cols: d });
    const r = frechetDistance(a, b);
    expect(r.referenceRank).toBe(d - 2);
    expect(Number.isFinite(r.distance)).toBe(true);
    expect(r.traceSqrtProduct).toBeCloseTo(gramRoute(x, n, features(n, d, 6, 0.3), n, d), 9);
    expect(frechetDistance(a, a).distance).toBeLessThan(1e-9);
  });

  it('fails loudly on a covariance with a large negative eigenvalue', () => {
    const mu = [0, 0, 0];
    const good = stats(mu, diag([1, 2, 3]));
    const indefinite = stats(mu, [2, 0, 0, 0, 1, 1.5, 0, 1.5, 1]); // eigenvalues of the 2x2 block: 2.5, -0.5
    expect(() => frechetDistance(indefinite, good)).toThrow(/not positive semidefinite/);
    expect(() => frechetDistance(good, indefinite)).toThrow(/imaginary component/);
    expect(() => frechetDistance(stats(mu, diag([1, -1, 1])), good)).toThrow(/not positive semidefinite/);
  });

  it('tolerates round-off sized negative eigenvalues', () => {
    const mu = [0, 0, 0, 0];
    const r = frechetDistance(stats(mu, diag([1, 2, 3, -1e-15])), stats(mu, diag([1, 2, 3, 4])));
    expect(r.distance).toBeCloseTo(4, 6);
    expect(r.maxImaginary).toBeLessThan(1e-3);
  });

  it('rejects non-finite input and reports an unrecoverable overflow', () => {
    const mu = [0, 0];
    expect(() => frechetDistance(stats(mu, [1, 0, 0, NaN]), stats(mu, diag([1, 1])))).toThrow(/not finite/);
    expect(() => frechetDistance(stats(mu, diag([1e200, 1e200])), stats(mu, diag([1e200, 1e200])))).toThrow(/not finite/);
  });

  it('gives the same bits on one thread and on several (work is shared out dynamically)', () => {
    const d = 450; // above the size where the symmetric products are split between threads
    const a = { data: features(700, d, 9, 0.3), rows: 700, cols: d };
    const b = { data: features(600, d, 10, 0.4), rows: 600, cols: d };
    const run = (threads: number) => {
      setMetricThreads(threads);
      return frechetDistance(gaussianStats(a), gaussianStats(b)).distance;
    };
    const one = run(1);
    expect(run(2)).toBe(one);
    expect(run(3)).toBe(one);
    expect(run(2)).toBe(one);
  });

  it('a prepared reference gives the same distance as the one-shot call', () => {
    const d = 30;
    const a = stats(new Float64Array(d), randomSpd(d, 'p1'));
    const b = stats(new Float64Array(d).fill(0.1), randomSpd(d, 'p2'));
    const ref = prepareFrechetReference(a);
    expect(frechetDistanceTo(ref, b).distance).toBe(frechetDistance(a, b).distance);
    expect(() => frechetDistanceTo(ref, stats(new Float64Array(3), diag([1, 1, 1])))).toThrow(/dimensions differ/);
  });
});

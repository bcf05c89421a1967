/**
 * Shapiro-Wilk W test of normality with Royston's approximations (Algorithm AS R94, Royston 1995),
 * ported from R's swilk.c, which evaluates the normal quantile and tail with full double precision
 * (the original Fortran, and older scipy, used 7-digit approximations and single precision).
 *
 * Valid for 3 <= n <= 5000, like R's shapiro.test. Larger samples (the per-pixel prediction errors of a
 * whole batch) must be subsampled first: `seededSubsample` draws a reproducible subset. At such sizes W
 * has enormous power anyway, so a subsample of 5000 is the honest summary.
 */
import { Stream } from '../rng';

export interface ShapiroWilkResult {
  w: number;
  p: number;
  n: number;
}

export const SHAPIRO_WILK_MAX_N = 5000;

// ---- the standard normal distribution ----

/** erfc(x) for x >= 0: series below 3 (positive terms, no cancellation), continued fraction above. */
function erfcPositive(x: number): number {
  if (x < 3) {
    // erf(x) = 2/sqrt(pi) e^{-x^2} sum_n (2x^2)^n x / (1*3*...*(2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  }
  // erfc(x) = e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up
  let f = x;
  for (let n = 80; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Upper tail P(Z > z) of the standard normal. */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z >= 0) return 0.5 * erfcPositive(z / Math.SQRT2);
  return 1 - 0.5 * erfcPositive(-z / Math.SQRT2);
}

/** Standard normal quantile: Abramowitz-Stegun 26.2.23 as a start, then Halley steps on the tail. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    return NaN;
  }
  const q = Math.min(p, 1 - p);
  if (q === 0.5) return 0;
  const t = Math.sqrt(-2 * Math.log(q));
  let z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
  // solve upperTail(z) = q for z > 0: f = Q(z) - q, f' = -phi(z), f'' = z phi(z)
  for (let it = 0; it < 6; it++) {
    const f = normalUpperTail(z) - q;
    const phi = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
    const step = f / phi;
    const dz = step / (1 - (z * step) / 2);
    z += dz;
    if (Math.abs(dz) <= 1e-15 * Math.max(1, Math.abs(z))) break;
  }
  return p < 0.5 ? -z : z;
}

// ---- AS R94 ----

/** c[0] + c[1] x + ... (AS 181.2's poly). */
function poly(c: readonly number[], x: number): number {
  let r = 0;
  for (let i = c.length - 1; i >= 0; i--) r = r * x + c[i]!;
  return r;
}

const G = [-2.273, 0.459];
const C1 = [0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056];
const C2 = [0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
const C3 = [0.544, -0.39978, 0.025054, -6.714e-4];
const C4 = [1.3822, -0.77857, 0.062767, -0.0020322];
const C5 = [-1.5861, -0.31082, -0.083751, 0.0038915];
const C6 = [-0.4803, -0.082676, 0.0030302];

export function shapiroWilk(values: ArrayLike<number>): ShapiroWilkResult {
  const x = Float64Array.from(values);
  const n = x.length;
  if (n < 3) throw new Error(`Shapiro-Wilk needs at least 3 values, got ${n}`);
  if (n > SHAPIRO_WILK_MAX_N) {
    throw new Error(`Shapiro-Wilk (AS R94) is valid up to ${SHAPIRO_WILK_MAX_N} values, got ${n}: subsample first (seededSubsample)`);
  }
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) throw new Error('Shapiro-Wilk: values must be finite');
  x.sort();
  const range = x[n - 1]! - x[0]!;
  if (!(range > 1e-19 * Math.max(1, Math.abs(x[0]!)))) throw new Error('Shapiro-Wilk: all values are identical');

  // coefficients a[1..nn2] (1-based as in the algorithm), positive, for the upper half
  const nn2 = Math.floor(n / 2);
  const a = new Float64Array(nn2 + 1);
  const an = n;
  if (n === 3) {
    a[1] = Math.SQRT1_2;
  } else {
    const an25 = an + 0.25;
    let summ2 = 0;
    for (let i = 1; i <= nn2; i++) {
      a[i] = normalQuantile((i - 0.375) / an25);
      summ2 += a[i]! * a[i]!;
    }
    summ2 *= 2;
    const ssumm2 = Math.sqrt(summ2);
    const rsn = 1 / Math.sqrt(an);
    const a1 = poly(C1, rsn) - a[1]! / ssumm2;
    let i1: number;
    let fac: number;
    if (n > 5) {
      i1 = 3;
      const a2 = -a[2]! / ssumm2 + poly(C2, rsn);
      fac = Math.sqrt((summ2 - 2 * a[1]! * a[1]! - 2 * a[2]! * a[2]!) / (1 - 2 * a1 * a1 - 2 * a2 * a2));
      a[2] = a2;
    } else {
      i1 = 2;
      fac = Math.sqrt((summ2 - 2 * a[1]! * a[1]!) / (1 - 2 * a1 * a1));
    }
    a[1] = a1;
    for (let i = i1; i <= nn2; i++) a[i] = -a[i]! / fac;
  }

  // W as the squared correlation between the sorted data and the coefficients (range-scaled)
  const coef = (i: number): number => {
    const j = n - 1 - i;
    if (i === j) return 0;
    return Math.sign(i - j) * a[1 + Math.min(i, j)]!;
  };
  let sa = 0;
  let sx = 0;
  for (let i = 0; i < n; i++) {
    sa += coef(i);
    sx += x[i]! / range;
  }
  sa /= n;
  sx /= n;
  let ssa = 0;
  let ssx = 0;
  let sax = 0;
  for (let i = 0; i < n; i++) {
    const asa = coef(i) - sa;
    const xsx = x[i]! / range - sx;
    ssa += asa * asa;
    ssx += xsx * xsx;
    sax += asa * xsx;
  }
  // 1 - W computed directly, which keeps digits when W is very close to 1
  const ssassx = Math.sqrt(ssa * ssx);
  const w1 = ((ssassx - sax) * (ssassx + sax)) / (ssa * ssx);
  const w = 1 - w1;

  if (n === 3) {
    // exact: p = 6/pi (asin(sqrt(W)) - asin(sqrt(3/4)))
    const p = (6 / Math.PI) * (Math.asin(Math.sqrt(w)) - Math.PI / 3);
    return { w, p: Math.min(1, Math.max(0, p)), n };
  }
  let y = Math.log(w1);
  const lxx = Math.log(an);
  let m: number;
  let s: number;
  if (n <= 11) {
    const gamma = poly(G, an);
    if (y >= gamma) return { w, p: 1e-99, n };
    y = -Math.log(gamma - y);
    m = poly(C3, an);
    s = Math.exp(poly(C4, an));
  } else {
    m = poly(C5, lxx);
    s = Math.exp(poly(C6, lxx));
  }
  return { w, p: normalUpperTail((y - m) / s), n };
}

/**
 * A reproducible subset of at most `maxCount` values (uniform without replacement, order kept), for
 * tests that cap their sample size. Returns a copy of everything when there are few enough values.
 */
export function seededSubsample(values: ArrayLike<number>, maxCount: number, seed: number, key = 'subsample'): Float64Array {
  const n = values.length;
  if (n <= maxCount) return Float64Array.from(values);
  const stream = new Stream(seed, key);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = 0; i < maxCount; i++) {
    const j = i + stream.int(n - i);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  const chosen = idx.subarray(0, maxCount).sort();
  const out = new Float64Array(maxCount);
  for (let i = 0; i < maxCount; i++) out[i] = values[chosen[i]!]!;
  return out;
}

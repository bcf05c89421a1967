/**
 * The statistics behind the comparison report: Student's t distribution (CDF and quantile, for
 * t-intervals over seeds and the paired t-test), and the exact sign-flip permutation test used when
 * there are too few seed pairs for the t-test's normality assumption to mean anything.
 *
 * The t CDF goes through the regularised incomplete beta function,
 *   P(T <= t) = 1 - I_x(df/2, 1/2) / 2 for t >= 0, with x = df / (df + t^2),
 * and I_x(a, b) is evaluated by its continued fraction (modified Lentz), on the side of the
 * symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges fast.
 */

/** ln Gamma(x) for x > 0 (Lanczos approximation, g = 7, 9 terms: ~1e-15 relative). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new Error(`logGamma: x must be positive, got ${x}`);
  if (x < 0.5) {
    // reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x)
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Continued fraction of I_x(a, b) (without its prefactor), by the modified Lentz method. */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const maxIterations = 10_000;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= maxIterations; m++) {
    // even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 + even * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + even / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    f *= d * c;
    // odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + odd * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + odd / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) return f;
  }
  throw new Error(`incomplete beta: no convergence for x=${x}, a=${a}, b=${b}`);
}

/** The regularised incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1]. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new Error(`incomplete beta: a and b must be positive, got a=${a}, b=${b}`);
  if (!(x >= 0 && x <= 1)) throw new Error(`incomplete beta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const logPrefactor = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const prefactor = Math.exp(logPrefactor);
  // The fraction converges quickly for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (prefactor * betaContinuedFraction(x, a, b)) / a;
  return 1 - (prefactor * betaContinuedFraction(1 - x, b, a)) / b;
}

function checkDf(df: number): void {
  if (!(df > 0) || !Number.isFinite(df)) throw new Error(`t distribution: degrees of freedom must be positive, got ${df}`);
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  checkDf(df);
  if (Number.isNaN(t)) return Number.NaN;
  if (t === Number.POSITIVE_INFINITY) return 1;
  if (t === Number.NEGATIVE_INFINITY) return 0;
  const x = df / (df + t * t);
  const tail = 0.5 * regularizedIncompleteBeta(x, df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t: the t with P(T <= t) = p. */
export function studentTQuantile(p: number, df: number): number {
  checkDf(df);
  if (!(p > 0 && p < 1)) throw new Error(`t quantile: p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  // Bracket, then bisect: the CDF is monotone and cheap, and 200 halvings reach double precision.
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Number.POSITIVE_INFINITY;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-14 * Math.max(1, hi); i++) {
    const mid = 0.5 * (lo + hi);
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new Error('mean of no values');
  return values.reduce((a, v) => a + v, 0) / values.length;
}

/** Sample standard deviation (n - 1). */
export function sampleStd(values: readonly number[]): number {
  if (values.length < 2) throw new Error(`a standard deviation needs at least 2 values, got ${values.length}`);
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) * (v - m), 0) / (values.length - 1));
}

/** Two-sided t confidence interval of the mean (n >= 2). */
export function tInterval(values: readonly number[], level = 0.95): { mean: number; low: number; high: number } {
  const m = mean(values);
  const half = (studentTQuantile(1 - (1 - level) / 2, values.length - 1) * sampleStd(values)) / Math.sqrt(values.length);
  return { mean: m, low: m - half, high: m + half };
}

/**
 * One-sided paired t-test of "mean difference < 0": p = P(T_{n-1} <= t), t = mean(d) / (sd(d) / sqrt n).
 * With every difference equal (sd = 0) t is +-infinity: p = 0 for a negative mean, else 1.
 */
export function pairedTTestLess(differences: readonly number[]): { t: number; df: number; p: number } {
  const n = differences.length;
  if (n < 2) throw new Error(`a paired t-test needs at least 2 pairs, got ${n}`);
  const m = mean(differences);
  const sd = sampleStd(differences);
  const df = n - 1;
  if (sd === 0) return { t: m < 0 ? -Infinity : m > 0 ? Infinity : Number.NaN, df, p: m < 0 ? 0 : 1 };
  const t = m / (sd / Math.sqrt(n));
  return { t, df, p: studentTCdf(t, df) };
}

/**
 * Exact one-sided sign-flip permutation test of "mean difference < 0": under the null the sign of
 * each paired difference is a fair coin, so p is the share of the 2^n sign assignments whose mean
 * is at most the observed one (the observed assignment included, so p >= 2^-n). Exact enumeration:
 * meant for the few pairs where a t-test cannot be trusted (n <= 20).
 */
export function signFlipTestLess(differences: readonly number[]): { p: number; assignments: number } {
  const n = differences.length;
  if (n < 1) throw new Error('a sign-flip test needs at least 1 pair');
  if (n > 20) throw new Error(`exact sign-flip enumeration is for small samples (n <= 20), got ${n}`);
  const observed = differences.reduce((a, v) => a + v, 0);
  // Sums compared with a tolerance: a flip that reproduces the observed sum must count as "at most".
  const tol = 1e-12 * differences.reduce((a, v) => a + Math.abs(v), 0);
  const total = 2 ** n;
  let atMost = 0;
  for (let mask = 0; mask < total; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += mask & (1 << i) ? -differences[i]! : differences[i]!;
    if (s <= observed + tol) atMost++;
  }
  return { p: atMost / total, assignments: total };
}

/**
 * The report's statistics against independent truths: closed forms of the t distribution (df = 1 is
 * Cauchy, df = 2 has an algebraic CDF), binomial sums for the incomplete beta, factorials for
 * log-gamma, published t-table values, and hand-enumerated sign-flip tests.
 */
import { describe, expect, it } from 'vitest';
import {
  logGamma,
  mean,
  pairedTTestLess,
  regularizedIncompleteBeta,
  sampleStd,
  signFlipTestLess,
  studentTCdf,
  studentTQuantile,
  tInterval,
} from '../../src/main/reports/statistics';

describe('log-gamma and the incomplete beta', () => {
  it('log-gamma matches factorials and Gamma(1/2) = sqrt(pi)', () => {
    let f = 1;
    for (let n = 1; n <= 20; n++) {
      expect(logGamma(n + 1)).toBeCloseTo(Math.log((f *= n)), 10);
    }
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(0.1)).toBeCloseTo(Math.log(9.513507698668732), 10);
  });

  it('I_x(a, b) matches its closed forms and binomial sums', () => {
    for (const x of [0.05, 0.3, 0.5, 0.77, 0.99]) {
      for (const a of [0.5, 1, 2.5, 7]) {
        expect(regularizedIncompleteBeta(x, a, 1)).toBeCloseTo(x ** a, 12);
        expect(regularizedIncompleteBeta(x, 1, a)).toBeCloseTo(1 - (1 - x) ** a, 12);
        // symmetry
        expect(regularizedIncompleteBeta(x, a, 3) + regularizedIncompleteBeta(1 - x, 3, a)).toBeCloseTo(1, 12);
      }
    }
    // integer a, b: I_x(a, b) = P(Binomial(a + b - 1, x) >= a)
    const binomTail = (n: number, k: number, x: number) => {
      let s = 0;
      let c = 1;
      for (let j = 0; j <= n; j++) {
        if (j > 0) c = (c * (n - j + 1)) / j;
        if (j >= k) s += c * x ** j * (1 - x) ** (n - j);
      }
      return s;
    };
    for (const [a, b, x] of [[2, 3, 0.3], [5, 5, 0.5], [10, 4, 0.8], [3, 12, 0.1]] as const) {
      expect(regularizedIncompleteBeta(x, a, b)).toBeCloseTo(binomTail(a + b - 1, a, x), 12);
    }
    expect(regularizedIncompleteBeta(0.3, 2, 3)).toBeCloseTo(0.3483, 12);
  });

  it('rejects arguments outside the domain, naming them', () => {
    expect(() => regularizedIncompleteBeta(1.2, 1, 1)).toThrow(/x must be in \[0, 1\], got 1.2/);
    expect(() => regularizedIncompleteBeta(0.5, 0, 1)).toThrow(/a and b must be positive/);
    expect(() => studentTCdf(1, 0)).toThrow(/degrees of freedom must be positive/);
  });
});

describe("Student's t", () => {
  it('one-sided p of t = 2.0 with 5 degrees of freedom is 0.05097', () => {
    expect(1 - studentTCdf(2, 5)).toBeCloseTo(0.05097, 5);
  });

  it('df = 1 is the Cauchy distribution and df = 2 has an algebraic CDF', () => {
    for (const t of [-30, -2.5, -1, -0.2, 0, 0.7, 1, 4, 100]) {
      expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
      expect(studentTCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 12);
    }
  });

  it('approaches the normal distribution for many degrees of freedom', () => {
    expect(studentTCdf(1.959963984540054, 1e7)).toBeCloseTo(0.975, 6);
  });

  it('quantiles match the t table and invert the CDF', () => {
    const table: [number, number, number][] = [
      [0.975, 1, 12.706204736],
      [0.975, 2, 4.302652730],
      [0.975, 4, 2.776445105],
      [0.975, 9, 2.262157163],
      [0.95, 5, 2.015048373],
      [0.95, 10, 1.812461123],
      [0.99, 10, 2.763769458],
    ];
    for (const [p, df, t] of table) expect(studentTQuantile(p, df)).toBeCloseTo(t, 7);
    expect(studentTQuantile(0.025, 4)).toBeCloseTo(-2.776445105, 7);
    for (const p of [0.6, 0.9, 0.999]) expect(studentTCdf(studentTQuantile(p, 3.5), 3.5)).toBeCloseTo(p, 12);
  });
});

describe('intervals and paired tests', () => {
  it('the t-interval of 10, 12, 14 is 12 -+ t(0.975, 2) * 2 / sqrt 3', () => {
    expect(mean([10, 12, 14])).toBe(12);
    expect(sampleStd([10, 12, 14])).toBe(2);
    const ci = tInterval([10, 12, 14]);
    const half = (4.30265273 * 2) / Math.sqrt(3);
    expect(ci.mean).toBe(12);
    expect(ci.low).toBeCloseTo(12 - half, 6);
    expect(ci.high).toBeCloseTo(12 + half, 6);
  });

  it('the paired t statistic and p of a hand-computed example', () => {
    // d = -1, -2, -3, -1, 0.5, -2: mean -17/12, sum of squared deviations 173/24, so
    // sd = sqrt(173/120) and t = (-17/12) / (sd / sqrt 6) = -2.890087
    const r = pairedTTestLess([-1, -2, -3, -1, 0.5, -2]);
    const t = (-17 / 12) / (Math.sqrt(173 / 120) / Math.sqrt(6));
    expect(r.t).toBeCloseTo(t, 12);
    expect(r.t).toBeCloseTo(-2.890087, 6);
    expect(r.df).toBe(5);
    expect(r.p).toBeCloseTo(studentTCdf(t, 5), 14);
    // between the t table's 0.025 (-2.5706) and 0.01 (-3.3649) points
    expect(r.p).toBeGreaterThan(0.01);
    expect(r.p).toBeLessThan(0.025);
    // every difference equal: t is infinite, p is 0 or 1
    expect(pairedTTestLess([1, 1, 1]).p).toBe(1);
    expect(pairedTTestLess([-1, -1, -1]).p).toBe(0);
  });

  it('the sign-flip test enumerates every sign assignment', () => {
    // all three differences negative: only the observed assignment is as extreme
    expect(signFlipTestLess([-1, -2, -3])).toEqual({ p: 1 / 8, assignments: 8 });
    // (-1, +1): sums 0, -2, +2, 0 -> three of four are <= 0
    expect(signFlipTestLess([-1, 1])).toEqual({ p: 3 / 4, assignments: 4 });
    // (-3, 1, -1): sums over the 8 assignments: -3, -5, -1, -3, 3, 1, 5, 3 (observed -3) -> 3 of 8
    expect(signFlipTestLess([-3, 1, -1]).p).toBe(3 / 8);
    expect(signFlipTestLess([-1, -1, -1, -1, -1]).p).toBe(1 / 32);
    expect(() => signFlipTestLess(new Array(21).fill(1))).toThrow(/n <= 20/);
  });
});

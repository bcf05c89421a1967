import { describe, expect, it } from 'vitest';
import { normalQuantile, normalUpperTail, seededSubsample, shapiroWilk } from '../../src/main/metrics/shapiro-wilk';

// Royston (1995) AS R94 paper's example data, and the two data sets of scipy's TestShapiro
const PAPER = [
  0.139, 0.157, 0.175, 0.256, 0.344, 0.413, 0.503, 0.577, 0.614, 0.655, 0.954, 1.392, 1.557, 1.648, 1.69, 1.994, 2.174, 2.206, 3.245, 3.51,
  3.571, 4.354, 4.98, 6.084, 8.351,
];
const X1 = [0.11, 7.87, 4.61, 10.14, 7.95, 3.14, 0.46, 4.43, 0.21, 4.75, 0.71, 1.52, 3.24, 0.93, 0.42, 4.97, 9.53, 4.55, 0.47, 6.66];
const X2 = [1.36, 1.14, 2.92, 2.55, 1.46, 1.06, 5.27, -1.11, 3.48, 1.1, 0.88, -0.51, 1.46, 0.52, 6.2, 1.69, 0.08, 3.67, 2.81, 3.49];

describe('Shapiro-Wilk (AS R94)', () => {
  it('reproduces the published example: W = 0.83467, p = 0.000914', () => {
    const r = shapiroWilk(PAPER);
    expect(r.w).toBeCloseTo(0.83467, 5);
    expect(r.p).toBeCloseTo(0.000914, 5); // the paper's 7-digit normal approximations round to ...914
    expect(r.p).toBeCloseTo(0.0009134904825887374, 11); // scipy 1.17.1
    expect(r.n).toBe(25);
  });

  it("reproduces scipy's reference values (and scipy 1.17's double-precision swilk to ~1e-9)", () => {
    const r1 = shapiroWilk(X1);
    expect(r1.w).toBeCloseTo(0.90047299861907959, 6);
    expect(r1.p).toBeCloseTo(0.042089745402336121, 6);
    expect(r1.w).toBeCloseTo(0.9004728794391273, 9);
    expect(r1.p).toBeCloseTo(0.04208957544308365, 9);
    const r2 = shapiroWilk(X2);
    expect(r2.w).toBeCloseTo(0.959027, 6);
    expect(r2.p).toBeCloseTo(0.5246, 3);
    expect(r2.p).toBeCloseTo(0.5245979292601223, 8);
  });

  it('n = 3 uses the exact p-value 6/pi (asin(sqrt W) - asin(sqrt(3/4)))', () => {
    const x = [1, 2, 4];
    // W = (x3 - x1)^2 / 2 / SS = 4.5 / (42/9)
    const w = 4.5 / (42 / 9);
    const r = shapiroWilk(x);
    expect(r.w).toBeCloseTo(w, 14);
    expect(r.p).toBeCloseTo((6 / Math.PI) * (Math.asin(Math.sqrt(w)) - Math.asin(Math.sqrt(0.75))), 14);
    expect(shapiroWilk([0, 1, 2]).p).toBeCloseTo(1, 12); // evenly spaced: W = 1
  });

  it('small n (4..11) uses the small-sample branch; order and scale do not matter', () => {
    const x = [3.1, 1.2, 9.7, 4.4, 5.0];
    const r = shapiroWilk(x);
    expect(r.w).toBeCloseTo(0.9329769077348065, 8); // scipy 1.17.1
    expect(r.p).toBeCloseTo(0.616806896804823, 8);
    const moved = shapiroWilk(x.map((v) => 10 - 3 * v));
    expect(moved.w).toBeCloseTo(r.w, 12);
  });

  it('refuses fewer than 3, more than 5000 and constant samples', () => {
    expect(() => shapiroWilk([1, 2])).toThrow(/at least 3/);
    expect(() => shapiroWilk(new Float64Array(5001).map((_, i) => Math.sin(i)))).toThrow(/subsample/);
    expect(() => shapiroWilk([2, 2, 2, 2])).toThrow(/identical/);
  });

  it('the seeded subsample is reproducible, a subset, and a no-op for small inputs', () => {
    const v = Float64Array.from({ length: 20000 }, (_, i) => i);
    const a = seededSubsample(v, 5000, 1);
    expect(a.length).toBe(5000);
    expect(Array.from(a)).toEqual(Array.from(seededSubsample(v, 5000, 1)));
    expect(Array.from(a)).not.toEqual(Array.from(seededSubsample(v, 5000, 2)));
    expect(new Set(a).size).toBe(5000);
    expect(Array.from(seededSubsample([3, 1, 2], 5000, 1))).toEqual([3, 1, 2]);
    expect(shapiroWilk(a).n).toBe(5000);
  });

  it('normal tail and quantile are accurate to ~1e-14', () => {
    // scipy.stats.norm.sf / ppf
    expect(normalUpperTail(1.96)).toBeCloseTo(0.024997895148220435, 15);
    expect(normalUpperTail(5) / 2.866515718791933e-7).toBeCloseTo(1, 12);
    expect(normalUpperTail(20) / 2.7536241186061556e-89).toBeCloseTo(1, 12);
    expect(normalUpperTail(-1)).toBeCloseTo(0.8413447460685429, 15);
    expect(normalQuantile(0.025)).toBeCloseTo(-1.9599639845400545, 13);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 12);
    expect(normalQuantile(0.9)).toBeCloseTo(1.2815515655446004, 13);
  });
});

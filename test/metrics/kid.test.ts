import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { kernelInceptionDistance } from '../../src/main/metrics/kid';

function gaussian(n: number, d: number, key: string, shift = 0): Float32Array {
  const s = new Stream(21, key);
  return new Float32Array(n * d).map(() => s.normal() + shift);
}

/** Unbiased MMD^2 with k(x, y) = (x.y/d + 1)^3 over all rows, written out directly. */
function naiveMmd(x: Float32Array, y: Float32Array, m: number, d: number): number {
  const k = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let dot = 0;
    for (let p = 0; p < d; p++) dot += a[i * d + p]! * b[j * d + p]!;
    return (dot / d + 1) ** 3;
  };
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i !== j) {
        xx += k(x, i, x, j);
        yy += k(y, i, y, j);
      }
      xy += k(x, i, y, j);
    }
  }
  return (xx + yy) / (m * (m - 1)) - (2 * xy) / (m * m);
}

describe('KID', () => {
  const d = 16;

  it('equals the unbiased MMD^2 estimator when a subset is the whole set', () => {
    const m = 60;
    const x = gaussian(m, d, 'x');
    const y = gaussian(m, d, 'y', 0.3);
    const r = kernelInceptionDistance({ data: x, rows: m, cols: d }, { data: y, rows: m, cols: d }, { subsets: 3, subsetSize: 1000 });
    expect(r.subsetSize).toBe(m); // capped at the sample counts
    const want = naiveMmd(x, y, m, d);
    for (const e of r.estimates) expect(e).toBeCloseTo(want, 10); // a permuted subset gives the same statistic
    expect(r.std).toBeLessThan(1e-12);
  });

  it('is ~0 for two samples of one distribution and clearly positive for shifted ones', () => {
    const n = 800;
    const x = { data: gaussian(n, d, 'a'), rows: n, cols: d };
    const same = { data: gaussian(n, d, 'b'), rows: n, cols: d };
    const shifted = { data: gaussian(n, d, 'c', 0.25), rows: n, cols: d };
    const opts = { subsets: 40, subsetSize: 200, seed: 3 };
    const r0 = kernelInceptionDistance(x, same, opts);
    expect(Math.abs(r0.mean)).toBeLessThan(4 * r0.stdErr);
    const r1 = kernelInceptionDistance(x, shifted, opts);
    expect(r1.mean).toBeGreaterThan(10 * r1.stdErr);
    expect(r1.mean).toBeGreaterThan(20 * Math.abs(r0.mean));
  });

  it('is reproducible for a seed and depends on it', () => {
    const n = 300;
    const x = { data: gaussian(n, d, 'p'), rows: n, cols: d };
    const y = { data: gaussian(n, d, 'q', 0.1), rows: n, cols: d };
    const a = kernelInceptionDistance(x, y, { subsets: 5, subsetSize: 100, seed: 1 });
    const b = kernelInceptionDistance(x, y, { subsets: 5, subsetSize: 100, seed: 1 });
    const c = kernelInceptionDistance(x, y, { subsets: 5, subsetSize: 100, seed: 2 });
    expect(Array.from(a.estimates)).toEqual(Array.from(b.estimates));
    expect(a.mean).not.toBe(c.mean);
    expect(() => kernelInceptionDistance(x, { data: new Float32Array(8), rows: 1, cols: 8 })).toThrow(/dimensions differ/);
  });
});

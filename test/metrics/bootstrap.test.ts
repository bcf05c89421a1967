import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { bootstrapFid, percentile } from '../../src/main/metrics/bootstrap';
import { prepareFrechetReference } from '../../src/main/metrics/frechet';
import { gaussianStats } from '../../src/main/metrics/gaussian-stats';

function sample(n: number, d: number, key: string, shift: number): Float32Array {
  const s = new Stream(41, key);
  return new Float32Array(n * d).map((_, i) => s.normal() * (1 + 0.2 * (i % d)) + shift);
}

describe('bootstrap CI for FID', () => {
  const d = 4;
  const reference = gaussianStats({ data: sample(4000, d, 'ref', 0), rows: 4000, cols: d });
  const ref = prepareFrechetReference(reference);

  it('contains the point estimate and shrinks with more samples', () => {
    const small = bootstrapFid(ref, { data: sample(200, d, 'gen', 0.5), rows: 200, cols: d }, { replicates: 200, seed: 1 });
    const large = bootstrapFid(ref, { data: sample(1600, d, 'gen', 0.5), rows: 1600, cols: d }, { replicates: 200, seed: 1 });
    for (const r of [small, large]) {
      expect(r.lower).toBeLessThan(r.fid);
      expect(r.upper).toBeGreaterThan(r.fid);
      expect(r.replicates).toHaveLength(200);
      expect(r.level).toBe(0.95);
    }
    const ratio = (small.upper - small.lower) / (large.upper - large.lower);
    expect(ratio).toBeGreaterThan(2); // ~sqrt(8)
    expect(ratio).toBeLessThan(4.5);
  });

  it('is reproducible, accepts raw statistics, and uses numpy-style percentiles', () => {
    const gen = { data: sample(300, d, 'g2', 0.3), rows: 300, cols: d };
    const a = bootstrapFid(reference, gen, { replicates: 20, seed: 5 });
    const b = bootstrapFid(ref, gen, { replicates: 20, seed: 5 });
    expect(Array.from(a.replicates)).toEqual(Array.from(b.replicates));
    expect(percentile(Float64Array.from([1, 2, 3, 4]), 0.5)).toBe(2.5);
    expect(percentile(Float64Array.from([1, 2, 3, 4, 5]), 0.025)).toBeCloseTo(1.1, 14);
  });

  it('stays around the estimate when the resampling bias is large (few samples, many dimensions)', () => {
    const dd = 32;
    const big = gaussianStats({ data: sample(4000, dd, 'ref32', 0), rows: 4000, cols: dd });
    const r = bootstrapFid(big, { data: sample(60, dd, 'gen32', 0.05), rows: 60, cols: dd }, { replicates: 100, seed: 2 });
    // The replicates' percentiles alone lie above the estimate here...
    const sorted = Float64Array.from(r.replicates).sort();
    expect(percentile(sorted, 0.025)).toBeGreaterThan(r.fid);
    // ...the reported interval is shifted by the bias and contains it.
    expect(r.bias).toBeGreaterThan(0);
    expect(r.lower).toBeLessThan(r.fid);
    expect(r.upper).toBeGreaterThan(r.fid);
    expect(r.lower).toBeCloseTo(percentile(sorted, 0.025) - r.bias, 10);
  });
});

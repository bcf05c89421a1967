import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { precisionRecall } from '../../src/main/metrics/precision-recall';

function cloud(n: number, d: number, key: string, centre = 0, scale = 1): Float32Array {
  const s = new Stream(31, key);
  return new Float32Array(n * d).map(() => centre + scale * s.normal());
}

/** Brute force: k-th neighbour radii (self included at index 0) and the <= membership rule. */
function naive(ref: Float32Array, n1: number, gen: Float32Array, n2: number, d: number, k: number) {
  const dist2 = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let s = 0;
    for (let p = 0; p < d; p++) s += (a[i * d + p]! - b[j * d + p]!) ** 2;
    return s;
  };
  const radii = (x: Float32Array, n: number) =>
    Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => dist2(x, i, x, j)).sort((a, b) => a - b)[k]!);
  const r1 = radii(ref, n1);
  const r2 = radii(gen, n2);
  let precision = 0;
  for (let j = 0; j < n2; j++) if (r1.some((r, i) => dist2(ref, i, gen, j) <= r)) precision++;
  let recall = 0;
  for (let i = 0; i < n1; i++) if (r2.some((r, j) => dist2(ref, i, gen, j) <= r)) recall++;
  return { precision: precision / n2, recall: recall / n1 };
}

describe('improved precision / recall', () => {
  const d = 8;

  it('identical sets give precision = recall = 1', () => {
    const x = cloud(300, d, 'same');
    const r = precisionRecall({ data: x, rows: 300, cols: d }, { data: x, rows: 300, cols: d }, { blockSize: 128 });
    expect(r.precision).toBe(1);
    expect(r.recall).toBe(1);
  });

  it('disjoint far-apart clusters give ~0 for both', () => {
    const ref = cloud(200, d, 'r', 0);
    const gen = cloud(150, d, 'g', 50);
    const r = precisionRecall({ data: ref, rows: 200, cols: d }, { data: gen, rows: 150, cols: d });
    expect(r.precision).toBe(0);
    expect(r.recall).toBe(0);
  });

  it('matches brute force on overlapping sets (blocks smaller than the sets)', () => {
    const [n1, n2] = [170, 130];
    const ref = cloud(n1, d, 'o1', 0, 1);
    const gen = cloud(n2, d, 'o2', 0.7, 0.6); // a narrower, shifted model: precision > recall
    const r = precisionRecall({ data: ref, rows: n1, cols: d }, { data: gen, rows: n2, cols: d }, { blockSize: 64 });
    const want = naive(ref, n1, gen, n2, d, 3);
    expect(r.precision).toBe(want.precision);
    expect(r.recall).toBe(want.recall);
    expect(r.precision).toBeGreaterThan(r.recall);
    expect(r.k).toBe(3);
  });
});

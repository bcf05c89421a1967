import { describe, expect, it } from 'vitest';
import { smoothSeries } from '../../src/renderer/src/screens/run/smoothing';

describe('smoothSeries (debiased exponential moving average)', () => {
  it('matches a hand computation', () => {
    // w = 0.5: m1 = 0.5 -> 0.5/(1-0.5) = 1; m2 = 0.25 + 1 = 1.25 -> 1.25/(1-0.25) = 5/3.
    const [a, b] = smoothSeries([1, 2], 0.5);
    expect(a).toBeCloseTo(1, 12);
    expect(b).toBeCloseTo(5 / 3, 12);
  });

  it('leaves a constant series unchanged (the debiasing removes the pull towards 0)', () => {
    for (const v of smoothSeries([3, 3, 3, 3, 3], 0.97)) expect(v).toBeCloseTo(3, 12);
  });

  it('is the identity at weight 0 and skips missing values', () => {
    expect(smoothSeries([1, 5, 2], 0)).toEqual([1, 5, 2]);
    const s = smoothSeries([1, null, 1, Number.NaN, 1], 0.9);
    expect(s[1]).toBeNull();
    expect(s[3]).toBeNull();
    expect(s[2]).toBeCloseTo(1, 12);
    expect(s[4]).toBeCloseTo(1, 12);
  });
});

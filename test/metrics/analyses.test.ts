import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { deltaT, predictionErrorAnalysis } from '../../src/main/metrics/analyses';

describe('delta_t', () => {
  it('computes sigma-hat and (sigma-hat - sqrt(1 - ab))^2 on hand-made arrays', () => {
    // 2 samples x 2 pixels: per-pixel deviations +-1 around means 0 and 2
    const residuals = [1, 3, -1, 1];
    const [p] = deltaT([{ t: 10, alphaBar: 0.5, residuals }], 2);
    expect(p!.t).toBe(10);
    expect(p!.sigmaHat).toBeCloseTo(Math.SQRT2, 14); // unbiased: var = 2
    expect(p!.expected).toBeCloseTo(Math.sqrt(0.5), 14);
    expect(p!.delta).toBeCloseTo(0.5, 14);
    const [q] = deltaT([{ t: 10, alphaBar: 0.5, residuals }], 2, { ddof: 0 });
    expect(q!.sigmaHat).toBeCloseTo(1, 14);
    expect(q!.delta).toBeCloseTo((1 - Math.sqrt(0.5)) ** 2, 14);
  });

  it('averages the per-pixel std over pixels and handles several steps', () => {
    // pixel 0 spread 0 (all equal), pixel 1 spread std 2 (ddof 0): sigma-hat = 1
    const residuals = [5, 2, 5, -2];
    const out = deltaT(
      [
        { t: 999, alphaBar: 0, residuals },
        { t: 0, alphaBar: 1, residuals },
      ],
      2,
      { ddof: 0 },
    );
    expect(out.map((p) => p.sigmaHat)).toEqual([1, 1]);
    expect(out[0]!.delta).toBeCloseTo(0, 14);
    expect(out[1]!.delta).toBeCloseTo(1, 14);
    expect(() => deltaT([{ t: 1, alphaBar: 0.5, residuals: [1, 2, 3] }], 2)).toThrow(/multiple/);
  });
});

describe('prediction-error histogram', () => {
  it('counts into the right bins with moments', () => {
    const r = predictionErrorAnalysis([0, 0.1, 0.2, 0.9, 1, -5], { bins: 2, range: [0, 1] });
    expect(r.edges).toEqual([0, 0.5, 1]);
    expect(r.counts).toEqual([3, 2]);
    expect(r.outside).toBe(1);
    expect(r.mean).toBeCloseTo((0 + 0.1 + 0.2 + 0.9 + 1 - 5) / 6, 14);
    expect(r.density[0]).toBeCloseTo(3 / (6 * 0.5), 14);
  });

  it('Gaussian errors pass the normality test, skewed ones fail; large inputs are subsampled', () => {
    const s = new Stream(8, 'err');
    const gaussian = Float32Array.from({ length: 20000 }, () => 0.1 * s.normal());
    const g = predictionErrorAnalysis(gaussian, { seed: 1 });
    expect(g.shapiroWilk.subsampled).toBe(true);
    expect(g.shapiroWilk.n).toBe(5000);
    expect(g.shapiroWilk.p).toBeGreaterThan(0.001);
    expect(g.std).toBeCloseTo(0.1, 2);
    expect(g.counts.reduce((a, b) => a + b, 0)).toBe(20000);
    const skewed = Float32Array.from({ length: 3000 }, () => Math.exp(s.normal()));
    expect(predictionErrorAnalysis(skewed).shapiroWilk.p).toBeLessThan(1e-10);
  });
});

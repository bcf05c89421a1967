import { describe, expect, it } from 'vitest';
import { createProcess, fixedLargeVariance, linspace, namedBetaSchedule } from '../../src/main/diffusion/schedule';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('beta schedules', () => {
  it('linear: 1e-4..0.02 at T=1000, ab_t = prod (1 - beta_s), pinned to numpy', () => {
    const p = createProcess('linear', 1000);
    expect(p.betas[0]).toBe(0.0001);
    expect(p.betas[999]).toBe(0.02);
    // hand: beta_1 = 1e-4 + (0.02 - 1e-4) / 999
    expect(p.betas[1]).toBeCloseTo(1e-4 + (0.02 - 1e-4) / 999, 17);
    expect(p.ab[0]).toBe(0.9999);
    expect(rel(p.ab[1]!, 0.9999 * (1 - (1e-4 + (0.02 - 1e-4) / 999)))).toBeLessThan(1e-15);
    // numpy: np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)), printed with repr()
    expect(p.betas[1]).toBe(0.00011991991991991993);
    expect(p.ab[1]).toBe(0.9997800920720721);
    expect(p.ab[9]).toBe(0.9981052047858344);
    expect(p.ab[99]).toBe(0.89701814567496);
    expect(p.ab[500]).toBe(0.07779665836502389);
    expect(p.ab[999]).toBe(4.035829765375676e-5);
  });

  it('linear scales with 1000/T', () => {
    const b = namedBetaSchedule('linear', 100);
    expect(b[0]).toBe(0.001);
    expect(b[99]).toBe(0.2);
    expect(b[1]).toBe(0.00301010101010101); // numpy
    expect(createProcess('linear', 100).ab[99]).toBeCloseTo(2.039008975564078e-5, 18);
  });

  it('linspace matches numpy (i * step + start, last = stop)', () => {
    expect([...linspace(0, 1, 5)]).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect([...linspace(2, 3, 1)]).toEqual([2]);
  });

  it('cosine: ab_t = f(t+1)/f(0) with f(s) = cos^2(((s/T + 0.008)/1.008) pi/2), beta clipped at 0.999', () => {
    const f = (s: number, T: number) => Math.cos(((s / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const T of [1000, 50]) {
      const p = createProcess('cosine', T);
      for (const t of [0, 1, 9, Math.floor(T / 2), T - 2]) {
        expect(rel(p.ab[t]!, f(t + 1, T) / f(0, T))).toBeLessThan(1e-12);
      }
      expect(p.betas[T - 1]).toBe(0.999); // the last beta is clipped
    }
    // numpy values for T = 1000
    const p = createProcess('cosine', 1000);
    expect(rel(p.betas[0]!, 4.128422482196914e-5)).toBeLessThan(1e-12);
    expect(rel(p.ab[500]!, 0.49228517244880304)).toBeLessThan(1e-12);
    expect(rel(p.ab[999]!, 2.4287669070348567e-9)).toBeLessThan(1e-9);
  });

  it('posterior tables follow their definitions', () => {
    const p = createProcess('linear', 1000);
    for (const t of [1, 10, 500, 999]) {
      const bt = (p.betas[t]! * (1 - p.ab[t - 1]!)) / (1 - p.ab[t]!);
      expect(rel(p.posteriorVariance[t]!, bt)).toBeLessThan(1e-14);
      expect(p.posteriorLogVarianceClipped[t]).toBe(Math.log(p.posteriorVariance[t]!));
      expect(rel(p.posteriorMeanCoef1[t]!, (p.betas[t]! * Math.sqrt(p.ab[t - 1]!)) / (1 - p.ab[t]!))).toBeLessThan(1e-14);
      expect(rel(p.posteriorMeanCoef2[t]!, ((1 - p.ab[t - 1]!) * Math.sqrt(1 - p.betas[t]!)) / (1 - p.ab[t]!))).toBeLessThan(1e-14);
    }
    expect(p.posteriorVariance[0]).toBe(0);
    expect(p.posteriorLogVarianceClipped[0]).toBe(Math.log(p.posteriorVariance[1]!));
    expect(p.abPrev[0]).toBe(1);
    expect(p.abNext[999]).toBe(0);
    expect(fixedLargeVariance(p, 0)).toBe(p.posteriorVariance[1]);
    expect(fixedLargeVariance(p, 5)).toBe(p.betas[5]);
    expect(p.timestepMap.slice(0, 3)).toEqual([0, 1, 2]);
  });

  it('rejects unusable step counts', () => {
    expect(() => createProcess('linear', 1)).toThrow();
    expect(() => createProcess('cosine', 0)).toThrow();
  });
});

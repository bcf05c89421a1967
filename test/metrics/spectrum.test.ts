import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { radialPowerSpectrum } from '../../src/main/metrics/spectrum';

function image(h: number, w: number, c: number, f: (y: number, x: number, ch: number) => number): Float32Array {
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = f(y, x, ch);
  return out;
}

describe('radially averaged power spectrum', () => {
  it('a constant image has all its power at radius 0', () => {
    for (const size of [16, 28]) {
      const r = radialPowerSpectrum({ data: image(size, size, 3, () => 0.75), count: 1, height: size, width: size, channels: 3 });
      expect(r.power[0]).toBeCloseTo(0.75 ** 2 * size * size, 9);
      for (let i = 1; i < r.power.length; i++) expect(Math.abs(r.power[i]!)).toBeLessThan(1e-20);
      expect(r.radius[0]).toBe(0);
      expect(r.bins[0]).toBe(1);
    }
  });

  it('a single sinusoid peaks at its frequency, for FFT and direct-DFT sizes', () => {
    for (const [size, k] of [
      [32, 5],
      [28, 3],
      [64, 11],
    ] as const) {
      const data = image(size, size, 1, (y, x) => Math.cos((2 * Math.PI * k * x) / size + 0.3));
      const r = radialPowerSpectrum({ data, count: 1, height: size, width: size, channels: 1 });
      const peak = r.power.indexOf(Math.max(...r.power));
      expect(peak).toBe(k);
      // all the energy sits in the two bins (0, +-k): sum of power equals sum of squares (Parseval)
      const energy = r.power.reduce((a, p, i) => a + p * r.bins[i]!, 0);
      let sq = 0;
      for (const v of data) sq += v * v;
      expect(energy).toBeCloseTo(sq, 6);
      expect(r.power[k]! * r.bins[k]!).toBeCloseTo(sq, 6);
    }
  });

  it('diagonal frequencies land on the rounded radius; batches and channels are averaged', () => {
    const size = 16;
    const diag = image(size, size, 2, (y, x, ch) => (ch + 1) * Math.cos((2 * Math.PI * (3 * x + 4 * y)) / size));
    const r = radialPowerSpectrum({ data: diag, count: 1, height: size, width: size, channels: 2 });
    expect(r.power.indexOf(Math.max(...r.power))).toBe(5); // sqrt(3^2 + 4^2)
    const s = new Stream(2, 'noise');
    const a = image(size, size, 1, () => s.normal());
    const b = image(size, size, 1, () => s.normal());
    const both = new Float32Array([...a, ...b]);
    const ra = radialPowerSpectrum({ data: a, count: 1, height: size, width: size, channels: 1 });
    const rb = radialPowerSpectrum({ data: b, count: 1, height: size, width: size, channels: 1 });
    const rab = radialPowerSpectrum({ data: both, count: 2, height: size, width: size, channels: 1 });
    rab.power.forEach((p, i) => expect(p).toBeCloseTo((ra.power[i]! + rb.power[i]!) / 2, 10));
    const centred = radialPowerSpectrum({ data: a, count: 1, height: size, width: size, channels: 1 }, { subtractMean: true });
    expect(centred.power[0]).toBeCloseTo(0, 10);
  });
});

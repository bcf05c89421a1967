import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import {
  createTimestepSampler,
  LossSecondMomentSampler,
  timestepSamplerFromJSON,
  UniformSampler,
} from '../../src/main/diffusion/timestep-sampling';

describe('UniformSampler', () => {
  it('draws every t with weight 1, reproducibly from the stream', () => {
    const s = new UniformSampler(10);
    const a = s.sample(5000, new Stream(1, 'ts', 0));
    const b = s.sample(5000, new Stream(1, 'ts', 0));
    expect(a.t).toEqual(b.t);
    expect([...a.weights].every((w) => w === 1)).toBe(true);
    const counts = new Array(10).fill(0);
    for (const t of a.t) counts[t]++;
    for (const c of counts) expect(Math.abs(c - 500)).toBeLessThan(5 * Math.sqrt(500 * 0.9));
    expect([...s.probabilities()].every((p) => p === 0.1)).toBe(true);
  });
});

describe('LossSecondMomentSampler', () => {
  it('is uniform (same draws as UniformSampler) until every t has 10 losses', () => {
    const s = new LossSecondMomentSampler(4);
    for (let k = 0; k < 10; k++) s.update([0, 1, 2], [1, 2, 3]);
    expect(s.warmedUp()).toBe(false); // t = 3 has none
    const d = s.sample(100, new Stream(7, 'ts', 3));
    expect(d.t).toEqual(new UniformSampler(4).sample(100, new Stream(7, 'ts', 3)).t);
    expect([...d.weights].every((w) => w === 1)).toBe(true);
    for (let k = 0; k < 9; k++) s.update([3], [4]);
    expect(s.warmedUp()).toBe(false);
    s.update([3], [4]);
    expect(s.warmedUp()).toBe(true);
  });

  it('p_t is proportional to sqrt(E[L_t^2]) mixed with 0.001 uniform; weights are 1/(T p_t)', () => {
    const T = 4;
    const s = new LossSecondMomentSampler(T);
    // t = 0 sees losses 0..9 (RMS sqrt(28.5)); t = 1, 2, 3 constant 1, 2, 4
    for (let k = 0; k < 10; k++) s.update([0, 1, 2, 3], [k, 1, 2, 4]);
    const rms = [Math.sqrt(28.5), 1, 2, 4];
    const sum = rms.reduce((a, b) => a + b, 0);
    const expected = rms.map((r) => (r / sum) * 0.999 + 0.001 / T);
    const p = s.probabilities();
    expected.forEach((e, t) => expect(p[t]).toBeCloseTo(e, 14));

    const draw = s.sample(40000, new Stream(3, 'ts', 0));
    const counts = new Array(T).fill(0);
    let badWeights = 0;
    draw.t.forEach((t, b) => {
      counts[t]++;
      if (draw.weights[b] !== Math.fround(1 / (T * p[t]!))) badWeights++;
    });
    expect(badWeights).toBe(0);
    counts.forEach((c, t) => {
      const n = 40000 * expected[t]!;
      expect(Math.abs(c - n)).toBeLessThan(5 * Math.sqrt(n));
    });
    // the importance-weighted mean of a per-t quantity is unbiased for its uniform mean
    const f = [1, 3, 5, 7];
    let est = 0;
    draw.t.forEach((t, b) => (est += draw.weights[b]! * f[t]!));
    expect(est / 40000).toBeCloseTo(4, 1);
  });

  it('keeps only the last 10 losses per t', () => {
    const s = new LossSecondMomentSampler(2);
    for (let k = 0; k < 10; k++) s.update([0, 1], [100, 1]);
    for (let k = 0; k < 10; k++) s.update([0], [1]); // shifts every 100 out
    const p = s.probabilities();
    expect(p[0]).toBeCloseTo(0.5, 14);
    expect(p[1]).toBeCloseTo(0.5, 14);
    const st = s.toJSON();
    expect(st.kind === 'loss-second-moment' && st.history[0]).toEqual(new Array(10).fill(1));
  });

  it('toJSON/fromJSON resumes exactly', () => {
    const a = new LossSecondMomentSampler(5);
    const feed = (s: LossSecondMomentSampler, step: number) => {
      const str = new Stream(11, 'losses', step);
      const d = s.sample(8, new Stream(11, 'ts', step));
      s.update(d.t, Array.from(d.t, (t) => (t + 1) * (1 + 0.1 * str.normal())));
      return d;
    };
    for (let step = 0; step < 40; step++) feed(a, step);
    const b = timestepSamplerFromJSON(JSON.parse(JSON.stringify(a.toJSON()))) as LossSecondMomentSampler;
    expect(b).toBeInstanceOf(LossSecondMomentSampler);
    expect(a.warmedUp()).toBe(true);
    for (let step = 40; step < 60; step++) {
      const da = feed(a, step);
      const db = feed(b, step);
      expect(db.t).toEqual(da.t);
      expect(db.weights).toEqual(da.weights);
    }
    expect(b.probabilities()).toEqual(a.probabilities());
  });

  it('factory and validation', () => {
    expect(createTimestepSampler('uniform', 10)).toBeInstanceOf(UniformSampler);
    expect(createTimestepSampler('loss-second-moment', 10)).toBeInstanceOf(LossSecondMomentSampler);
    expect(timestepSamplerFromJSON({ kind: 'uniform', numTimesteps: 3 }).numTimesteps).toBe(3);
    const s = new LossSecondMomentSampler(3);
    expect(() => s.update([3], [1])).toThrow();
    expect(() => s.update([0], [Number.NaN])).toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { evenStride, pyRound, respace, respaceBySpec, spacedTimesteps } from '../../src/main/diffusion/respacing';
import { createProcess } from '../../src/main/diffusion/schedule';

const range = (start: number, stop: number, step = 1) => {
  const out: number[] = [];
  for (let i = start; i < stop; i += step) out.push(i);
  return out;
};

// Every list below was printed by the reference space_timesteps (Python 3, sorted).
describe('spacedTimesteps', () => {
  it('"100" of 1000 starts 0,10,20,30,40,50,61 and ends 999', () => {
    const s = spacedTimesteps(1000, '100');
    expect(s.length).toBe(100);
    expect(s.slice(0, 12)).toEqual([0, 10, 20, 30, 40, 50, 61, 71, 81, 91, 101, 111]);
    expect(s.slice(-5)).toEqual([959, 969, 979, 989, 999]);
  });

  it('"50", "20", "10" of 1000', () => {
    expect(spacedTimesteps(1000, '50')).toEqual([
      0, 20, 41, 61, 82, 102, 122, 143, 163, 183, 204, 224, 245, 265, 285, 306, 326, 347, 367, 387, 408, 428, 449, 469, 489, 510, 530, 550,
      571, 591, 612, 632, 652, 673, 693, 714, 734, 754, 775, 795, 816, 836, 856, 877, 897, 917, 938, 958, 979, 999,
    ]);
    expect(spacedTimesteps(1000, '20')).toEqual([0, 53, 105, 158, 210, 263, 315, 368, 421, 473, 526, 578, 631, 684, 736, 789, 841, 894, 946, 999]);
    expect(spacedTimesteps(1000, '10')).toEqual([0, 111, 222, 333, 444, 555, 666, 777, 888, 999]);
  });

  it('banker\'s rounding: where Math.round would keep 167 / 833 the reference keeps 166 / 832', () => {
    expect(spacedTimesteps(1000, '25')).toEqual([
      0, 42, 83, 125, 166, 208, 250, 291, 333, 375, 416, 458, 500, 541, 583, 624, 666, 708, 749, 791, 832, 874, 916, 957, 999,
    ]);
    expect(spacedTimesteps(1000, '7')).toEqual([0, 166, 333, 500, 666, 832, 999]);
    expect(spacedTimesteps(1000, '13')).toEqual([0, 83, 166, 250, 333, 416, 500, 583, 666, 749, 832, 916, 999]);
    expect(spacedTimesteps(10, '3')).toEqual([0, 4, 9]); // stride 4.5: round(4.5) = 4
    expect(spacedTimesteps(6, '3')).toEqual([0, 2, 5]); // stride 2.5: round(2.5) = 2
  });

  it('float accumulation: where k * stride would keep 500 the reference keeps 499', () => {
    expect(spacedTimesteps(1000, '21')).toEqual([
      0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 499, 549, 599, 649, 699, 749, 799, 849, 899, 949, 999,
    ]);
    const s31 = spacedTimesteps(1000, '31');
    expect(s31).toEqual([
      0, 33, 67, 100, 133, 166, 200, 233, 266, 300, 333, 366, 400, 433, 466, 500, 533, 566, 599, 633, 666, 699, 733, 766, 799, 832, 866, 899, 932,
      966, 999,
    ]);
  });

  it('"10,15,20" of 300 respaces each section of 100 on its own', () => {
    expect(spacedTimesteps(300, '10,15,20')).toEqual([
      0, 11, 22, 33, 44, 55, 66, 77, 88, 99, 100, 107, 114, 121, 128, 135, 142, 149, 157, 164, 171, 178, 185, 192, 199, 200, 205, 210, 216, 221,
      226, 231, 236, 242, 247, 252, 257, 263, 268, 273, 278, 283, 289, 294, 299,
    ]);
  });

  it('"ddimN" uses the integer stride from 0', () => {
    expect(spacedTimesteps(1000, 'ddim50')).toEqual(range(0, 1000, 20));
    expect(spacedTimesteps(1000, 'ddim100')).toEqual(range(0, 1000, 10));
    expect(spacedTimesteps(1000, 'ddim1000')).toEqual(range(0, 1000));
    expect(() => spacedTimesteps(1000, 'ddim3000')).toThrow();
  });

  it('other step counts and T', () => {
    const s = spacedTimesteps(4000, '100');
    expect(s.slice(0, 12)).toEqual([0, 40, 81, 121, 162, 202, 242, 283, 323, 364, 404, 444]);
    expect(s.slice(-5)).toEqual([3837, 3878, 3918, 3959, 3999]);
    const s250 = spacedTimesteps(1000, '250');
    expect(s250.slice(0, 12)).toEqual(range(0, 48, 4));
    expect(s250.slice(-5)).toEqual([983, 987, 991, 995, 999]);
    expect(spacedTimesteps(1000, '')).toEqual(range(0, 1000));
    expect(spacedTimesteps(1000, '1000')).toEqual(range(0, 1000));
  });

  it('rejects impossible specs', () => {
    expect(() => spacedTimesteps(10, '11')).toThrow();
    expect(() => spacedTimesteps(100, 'abc')).toThrow();
    expect(() => spacedTimesteps(100, '10,x')).toThrow();
  });

  it('pyRound and evenStride', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 2.4999, 2.5001].map(pyRound)).toEqual([0, 2, 2, 4, 0, -2, 2, 3]);
    expect(evenStride(10, 3)).toEqual([0, 4, 9]);
    expect(evenStride(5, 1)).toEqual([0]);
  });
});

describe('respace', () => {
  it('beta\'_i = 1 - ab_{S_i}/ab_{S_{i-1}}, keeps ab at the kept steps and maps to original timesteps', () => {
    const base = createProcess('linear', 1000);
    const S = spacedTimesteps(1000, '100');
    const p = respace(base, S);
    expect(p.numTimesteps).toBe(100);
    expect(p.timestepMap).toEqual(S);
    expect(p.originalNumTimesteps).toBe(1000);
    expect(p.betas[0]).toBe(1 - base.ab[0]!);
    expect(p.betas[6]).toBe(1 - base.ab[61]! / base.ab[50]!);
    for (let i = 0; i < S.length; i++) expect(Math.abs(p.ab[i]! - base.ab[S[i]!]!) / base.ab[S[i]!]!).toBeLessThan(1e-12);
  });

  it('composes maps when respacing a respaced process', () => {
    const base = createProcess('cosine', 1000);
    const p100 = respaceBySpec(base, '100');
    const keep = [0, 11, 22, 33, 44, 55, 66, 77, 88, 99];
    const p10 = respace(p100, keep);
    const S100 = spacedTimesteps(1000, '100');
    expect(p10.timestepMap).toEqual(keep.map((k) => S100[k]));
    expect(p10.timestepMap.slice(0, 2)).toEqual([0, 111]);
    expect(p10.originalNumTimesteps).toBe(1000);
  });

  it('rejects unsorted or out-of-range steps', () => {
    const base = createProcess('linear', 100);
    expect(() => respace(base, [5, 3])).toThrow();
    expect(() => respace(base, [0, 100])).toThrow();
  });
});

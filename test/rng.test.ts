import { describe, expect, it } from 'vitest';
import { Stream, pairedNormal } from '../src/main/rng';

describe('Stream', () => {
  it('is a pure function of its key', () => {
    const a = new Stream(7, 'eps', 3);
    const b = new Stream(7, 'eps', 3);
    for (let i = 0; i < 100; i++) expect(a.nextU32()).toBe(b.nextU32());
    expect(new Stream(7, 'eps', 4).nextU32()).not.toBe(new Stream(7, 'eps', 3).nextU32());
  });

  it('draws standard normals with the right moments', () => {
    const s = new Stream(1, 'moments');
    const n = 200_000;
    let m = 0;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const x = s.normal();
      m += x;
      v += x * x;
    }
    m /= n;
    v = v / n - m * m;
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(v - 1)).toBeLessThan(0.015);
  });

  it('gives a permutation', () => {
    const p = new Stream(3, 'perm').permutation(1000);
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(1000).keys()]);
  });

  it('pairs noise by sample index, not by batch position', () => {
    const whole = pairedNormal([0, 'xT'], [0, 1, 2, 3], 5);
    const part = pairedNormal([0, 'xT'], [2, 3], 5);
    expect(Array.from(part)).toEqual(Array.from(whole.subarray(10, 20)));
  });
});

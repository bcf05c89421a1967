import { describe, expect, it } from 'vitest';
import { convertChannels } from '../../src/main/data/channels';
import { axisTaps, resizeNHWC } from '../../src/main/data/resize';

describe('resizeNHWC', () => {
  it('keeps a constant image constant when shrinking or enlarging', () => {
    for (const [from, to, c] of [[28, 16, 1], [28, 32, 1], [32, 16, 3], [28, 7, 3], [5, 13, 1]] as const) {
      const src = new Uint8Array(2 * from * from * c).fill(173);
      const out = resizeNHWC(src, 2, from, from, c, to, to);
      expect(out.length).toBe(2 * to * to * c);
      expect(out.every((v) => v === 173)).toBe(true);
    }
  });

  it('halving is exactly the mean of each 2x2 block', () => {
    const h = 4, w = 4;
    const src = Uint8Array.from([
      0, 4, 10, 10,
      8, 12, 20, 30,
      255, 255, 1, 2,
      255, 251, 3, 4,
    ]);
    const out = resizeNHWC(src, 1, h, w, 1, 2, 2);
    // (0+4+8+12)/4 = 6; (10+10+20+30)/4 = 17.5 -> 18; (255*3+251)/4 = 254; (1+2+3+4)/4 = 2.5 -> 3
    expect(Array.from(out)).toEqual([6, 18, 254, 3]);
  });

  it('treats channels independently', () => {
    const src = new Uint8Array(4 * 4 * 3);
    for (let i = 0; i < 16; i++) src.set([i * 10, 7, 255 - i], i * 3);
    const out = resizeNHWC(src, 1, 4, 4, 3, 2, 2);
    for (let p = 0; p < 4; p++) expect(out[p * 3 + 1]).toBe(7);
    // red of the top-left output: mean of pixels 0, 1, 4, 5 -> (0+10+40+50)/4 = 25
    expect(out[0]).toBe(25);
    expect(out[2]).toBe(253); // blue: (255 + 254 + 251 + 250) / 4 = 252.5 -> 253
  });

  it('28 -> 16 uses overlap weights that sum to one and cover every source pixel', () => {
    const t = axisTaps(28, 16);
    const cover = new Float64Array(28);
    for (let i = 0; i < 16; i++) {
      let sum = 0;
      for (let k = t.start[i]!; k < t.start[i + 1]!; k++) {
        sum += t.weight[k]!;
        cover[t.index[k]!]! += t.weight[k]! * (28 / 16);
      }
      expect(sum).toBeCloseTo(1, 12);
    }
    for (const v of cover) expect(v).toBeCloseTo(1, 12);
  });

  it('a horizontal ramp stays a ramp (bilinear when enlarging, area when shrinking)', () => {
    const w = 8;
    const src = Uint8Array.from({ length: w * w }, (_, i) => (i % w) * 32);
    const up = resizeNHWC(src, 1, w, w, 1, 16, 16);
    const row = Array.from(up.subarray(0, 16));
    for (let x = 1; x < 16; x++) expect(row[x]!).toBeGreaterThanOrEqual(row[x - 1]!);
    expect(row[0]).toBe(0); // clamped edge
    expect(row[15]).toBe(224);
    // every row is the same
    for (let y = 1; y < 16; y++) expect(Array.from(up.subarray(y * 16, y * 16 + 16))).toEqual(row);
    const down = resizeNHWC(src, 1, w, w, 1, 4, 4);
    expect(Array.from(down.subarray(0, 4))).toEqual([16, 80, 144, 208]);
  });

  it('returns a copy when the size does not change and rejects bad input', () => {
    const src = Uint8Array.from([1, 2, 3, 4]);
    const out = resizeNHWC(src, 1, 2, 2, 1, 2, 2);
    expect(out).not.toBe(src);
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
    expect(() => resizeNHWC(src, 1, 3, 3, 1, 2, 2)).toThrow(/expected 1x3x3x1/);
    expect(() => resizeNHWC(src, 1, 2, 2, 1, 0, 2)).toThrow(/positive/);
  });
});

describe('convertChannels', () => {
  it('replicates grey to RGB and uses PIL convert("L") luma for RGB to grey', () => {
    expect(Array.from(convertChannels(Uint8Array.from([0, 128, 255]), 3, 1, 3))).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255]);
    // PIL's fixed-point ITU-R 601-2 luma: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30, 200, 100, 50]);
    expect(Array.from(convertChannels(rgb, 6, 3, 1))).toEqual([76, 150, 29, 255, 18, 124]);
    // grey -> RGB -> grey is the identity
    const g = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(convertChannels(convertChannels(g, 256, 1, 3), 256, 3, 1))).toEqual(Array.from(g));
    expect(() => convertChannels(new Uint8Array(4), 1, 4, 3)).toThrow(/not supported/);
  });
});

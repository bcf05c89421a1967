import { describe, expect, it } from 'vitest';
import { batchAt, batchIndices, epochAt, flipMask, type BatchSource } from '../../src/main/data/batches';
import { Stream } from '../../src/main/rng';

/** Image k holds the value k + x / 100 at column x, so content identifies index and orientation. */
function fakeDataset(n: number, h: number, w: number, c: number, flipAllowed: boolean): BatchSource {
  const images = new Float32Array(n * h * w * c);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
      images[((k * h + y) * w + x) * c + ch] = k + x / 100 + ch / 1000;
    }
  }
  return { n, height: h, width: w, channels: c, images, flipAllowed };
}

describe('batch order', () => {
  it('is a pure function of (seed, step, batch size)', () => {
    expect(Array.from(batchIndices(1000, 17, 32, 5))).toEqual(Array.from(batchIndices(1000, 17, 32, 5)));
    // computing later steps first (a resumed run) changes nothing
    const late = Array.from(batchIndices(1000, 400, 32, 5));
    for (let s = 0; s < 5; s++) batchIndices(1000, s, 32, 5);
    expect(Array.from(batchIndices(1000, 400, 32, 5))).toEqual(late);
  });

  it('differs between steps and between seeds', () => {
    expect(Array.from(batchIndices(1000, 3, 32, 5))).not.toEqual(Array.from(batchIndices(1000, 4, 32, 5)));
    expect(Array.from(batchIndices(1000, 3, 32, 5))).not.toEqual(Array.from(batchIndices(1000, 3, 32, 6)));
  });

  it('uses Stream(seed, "shuffle", epoch).permutation(n)', () => {
    const perm = new Stream(9, 'shuffle', 2).permutation(50);
    // batch size 10, n 50: epoch 2 is steps 10..14
    expect(Array.from(batchIndices(50, 12, 10, 9))).toEqual(Array.from(perm.subarray(20, 30)));
    expect(epochAt(50, 12, 10)).toBe(2);
  });

  it('covers every index exactly once per epoch, also when batches straddle epochs', () => {
    const n = 103, B = 10, seed = 1;
    const stream: number[] = [];
    for (let s = 0; s < 31; s++) stream.push(...batchIndices(n, s, B, seed));
    for (let e = 0; e < 3; e++) {
      const epoch = stream.slice(e * n, (e + 1) * n).sort((a, b) => a - b);
      expect(epoch).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    // the straddling batch: step 10 holds positions 100..109 -> 3 from epoch 0, 7 from epoch 1
    const p0 = new Stream(seed, 'shuffle', 0).permutation(n);
    const p1 = new Stream(seed, 'shuffle', 1).permutation(n);
    expect(Array.from(batchIndices(n, 10, B, seed))).toEqual([...p0.subarray(100), ...p1.subarray(0, 7)]);
    // consecutive epochs are shuffled differently
    expect(Array.from(p0)).not.toEqual(Array.from(p1));
  });

  it('handles batches larger than the dataset', () => {
    const idx = Array.from(batchIndices(3, 0, 7, 2));
    expect(idx.length).toBe(7);
    expect(idx.slice(0, 3).sort()).toEqual([0, 1, 2]);
    expect(idx.slice(3, 6).sort()).toEqual([0, 1, 2]);
  });

  it('rejects bad arguments', () => {
    expect(() => batchIndices(0, 0, 4, 1)).toThrow(/empty/);
    expect(() => batchIndices(10, -1, 4, 1)).toThrow(/step/);
    expect(() => batchIndices(10, 1.5, 4, 1)).toThrow(/step/);
    expect(() => batchIndices(10, 0, 0, 1)).toThrow(/batch size/);
  });
});

describe('batchAt', () => {
  it('copies the images of batchIndices in order', () => {
    const ds = fakeDataset(20, 2, 3, 2, false);
    const b = batchAt(ds, 4, 6, 3, false);
    const idx = batchIndices(20, 4, 6, 3);
    const per = 2 * 3 * 2;
    expect(b.length).toBe(6 * per);
    for (let i = 0; i < 6; i++) expect(Array.from(b.subarray(i * per, (i + 1) * per))).toEqual(Array.from(ds.images.subarray(idx[i]! * per, (idx[i]! + 1) * per)));
  });

  it('never flips when the dataset forbids it (digits)', () => {
    const ds = fakeDataset(20, 2, 3, 1, false);
    for (let s = 0; s < 10; s++) expect(Array.from(batchAt(ds, s, 8, 1, true))).toEqual(Array.from(batchAt(ds, s, 8, 1, false)));
  });

  it('flips about half the images when allowed, mirroring rows and keeping channels', () => {
    const h = 2, w = 3, c = 3;
    const ds = fakeDataset(50, h, w, c, true);
    const per = h * w * c;
    let flipped = 0;
    let total = 0;
    for (let s = 0; s < 20; s++) {
      const plain = batchAt(ds, s, 16, 7, false);
      const aug = batchAt(ds, s, 16, 7, true);
      expect(Array.from(batchAt(ds, s, 16, 7, true))).toEqual(Array.from(aug)); // deterministic
      const mask = flipMask(s, 16, 7);
      for (let b = 0; b < 16; b++) {
        total++;
        const k = Math.floor(plain[b * per]!);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
          const srcX = mask[b] ? w - 1 - x : x;
          expect(aug[b * per + (y * w + x) * c + ch]).toBeCloseTo(k + srcX / 100 + ch / 1000, 5);
        }
        flipped += mask[b]!;
      }
    }
    expect(flipped / total).toBeGreaterThan(0.35);
    expect(flipped / total).toBeLessThan(0.65);
  });

  it('flip decisions depend on (seed, step, position) only', () => {
    expect(Array.from(flipMask(5, 8, 1))).toEqual(Array.from(flipMask(5, 16, 1).subarray(0, 8)));
    const a = Array.from({ length: 20 }, (_, s) => Array.from(flipMask(s, 32, 1)).join(''));
    expect(new Set(a).size).toBe(20);
    expect(Array.from(flipMask(5, 32, 1))).not.toEqual(Array.from(flipMask(5, 32, 2)));
  });
});

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/main/data/dataset';
import { loadBundledMnist, parseDigitJson } from '../../src/main/data/mnist-bundled';

const pkgDir = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));

describe('bundled MNIST', () => {
  it('loads 10,000 28x28 digits in [-1, 1] with labels 0..9', async () => {
    const ds = await loadDataset('mnist');
    expect([ds.name, ds.n, ds.height, ds.width, ds.channels, ds.flipAllowed]).toEqual(['mnist', 10000, 28, 28, 1, false]);
    expect(ds.images.length).toBe(10000 * 784);
    let lo = Infinity, hi = -Infinity;
    for (const v of ds.images) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    expect([lo, hi]).toEqual([-1, 1]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  });

  it('recovers the original bytes exactly from the package floats', async () => {
    const set = await loadBundledMnist();
    // the package's own JSON, digit 3, sample 5: floats are byte / 255 to 3 decimals
    const floats = (JSON.parse(readFileSync(join(pkgDir, 'src', 'digits', '3.json'), 'utf8')) as { data: number[] }).data;
    const start = 1001 + 1127 + 991; // first 3 in our digit-major order
    expect(set.labels![start]).toBe(3);
    const ours = set.pixels.subarray((start + 5) * 784, (start + 6) * 784);
    const theirs = floats.slice(5 * 784, 6 * 784);
    expect(Array.from(ours, (b) => Math.round((b / 255) * 1000) / 1000)).toEqual(theirs);
    // the dataset floats are those bytes / 127.5 - 1 in float32
    const ds = await loadDataset('mnist');
    expect(Array.from(ds.images.subarray((start + 5) * 784, (start + 6) * 784))).toEqual(
      Array.from(ours, (b) => Math.fround(Math.fround(b / 127.5) - 1)),
    );
  });

  it('resizes to 16 (and 32x3) quickly, keeping the [-1, 1] range', async () => {
    const t0 = performance.now();
    const ds = await loadDataset('mnist', { imageSize: 16 });
    const ms = performance.now() - t0;
    console.log(`bundled MNIST, resized 28 -> 16: ${ms.toFixed(0)} ms`);
    expect([ds.n, ds.height, ds.width, ds.channels]).toEqual([10000, 16, 16, 1]);
    expect(ds.images.length).toBe(10000 * 256);
    expect(ms).toBeLessThan(3000);
    const rgb = await loadDataset('mnist', { imageSize: 32, channels: 3, limit: 100 });
    expect([rgb.n, rgb.height, rgb.width, rgb.channels]).toEqual([100, 32, 32, 3]);
    expect(new Set(rgb.labels).size).toBe(10); // evenly spaced, so every digit is present
    let grey = true;
    for (let i = 0; i < rgb.images.length; i += 3) grey &&= rgb.images[i + 1] === rgb.images[i] && rgb.images[i + 2] === rgb.images[i];
    expect(grey).toBe(true);
    // digit strokes survive the shrink: a 16x16 digit has both dark and bright pixels
    const first = ds.images.subarray(0, 256);
    expect(Math.min(...first)).toBe(-1);
    expect(Math.max(...first)).toBeGreaterThan(0.5);
  });

  it('rejects a damaged package file naming it', () => {
    expect(() => parseDigitJson(Buffer.from('{"data":[0,0.502,0.2'), '/x/4.json')).toThrow(/\/x\/4\.json: expected ',' or '\]'/);
    expect(() => parseDigitJson(Buffer.from('{"data":[0.5001]}'), '/x/4.json')).toThrow(/more than 3 decimals/);
    expect(() => parseDigitJson(Buffer.from('{"data":[0.5]}'), '/x/4.json')).toThrow(/not a byte\/255/);
    expect(() => parseDigitJson(Buffer.from('[1,2]'), '/x/4.json')).toThrow(/expected \{"data": \[/);
    expect(Array.from(parseDigitJson(Buffer.from('{ "data": [0, 0.004,1 , 0.502]}'), 'ok'))).toEqual([0, 1, 255, 128]);
  });
});

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { gridLayout, gridPixels, gridPng, toUint8 } from '../../src/main/formats/image-grid';

async function decodePng(png: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  // sharp hands a grey PNG back as 3 channels unless told otherwise
  const grey = pngColourType(png) === 0;
  const img = sharp(png);
  const { data, info } = await (grey ? img.toColourspace('b-w') : img).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** PNG colour type from the IHDR chunk: 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA. */
function pngColourType(png: Buffer): number {
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return png[25]!;
}

describe('toUint8', () => {
  it('follows ((x + 1) * 127.5).clamp(0, 255).to(uint8): float32 maths, clamp, truncate', () => {
    const x = Float32Array.from([-1, 1, 0, -2, 2, Number.NaN, 0.999, -0.999, 0.5]);
    // 0 -> 127.5 -> 127 (truncated, not rounded); 0.999 -> 254.87 -> 254; 0.5 -> 191.25 -> 191
    expect(Array.from(toUint8(x))).toEqual([0, 255, 127, 0, 255, 0, 254, 0, 191]);
    expect(Array.from(toUint8(x, 'round'))).toEqual([0, 255, 128, 0, 255, 0, 255, 0, 191]);
  });

  it('rounds each step in float32 like PyTorch does', () => {
    // Data bytes b -> b / 127.5 - 1 (float32) -> toUint8. numpy with float32 operands (same IEEE
    // semantics as torch) gives back b for b = 0 and 64..255, and b - 1 for 1..63.
    const x = Float32Array.from({ length: 256 }, (_, b) => Math.fround(Math.fround(b / 127.5) - 1));
    const expected = Array.from({ length: 256 }, (_, b) => (b >= 1 && b <= 63 ? b - 1 : b));
    expect(Array.from(toUint8(x))).toEqual(expected);
    expect(Array.from(toUint8(x, 'round'))).toEqual(Array.from({ length: 256 }, (_, b) => b));
  });
});

describe('image grid', () => {
  it('lays tiles out like torchvision.make_grid', () => {
    expect(gridLayout(10, 8, 6, 4, 2)).toEqual({ cols: 4, rows: 3, width: 4 * 8 + 2, height: 3 * 10 + 2 });
    expect(gridLayout(9, 4, 4)).toMatchObject({ cols: 3, rows: 3 });
    expect(gridLayout(2, 4, 4, 8, 0)).toEqual({ cols: 2, rows: 1, width: 8, height: 4 });
    expect(() => gridLayout(0, 4, 4)).toThrow(/n must be/);
  });

  it('puts each tile where it belongs (grey stays grey)', async () => {
    const n = 5, h = 3, w = 4, c = 1, pad = 1;
    const imgs = new Uint8Array(n * h * w);
    for (let k = 0; k < n; k++) for (let i = 0; i < h * w; i++) imgs[k * h * w + i] = 10 * (k + 1) + i;
    const png = await gridPng(imgs, n, h, w, c, 3, pad, 255);
    expect(pngColourType(png)).toBe(0);
    const d = await decodePng(png);
    expect([d.width, d.height, d.channels]).toEqual([3 * (w + pad) + pad, 2 * (h + pad) + pad, 1]);
    for (let k = 0; k < n; k++) {
      const y0 = Math.floor(k / 3) * (h + pad) + pad;
      const x0 = (k % 3) * (w + pad) + pad;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expect(d.data[(y0 + y) * d.width + x0 + x]).toBe(10 * (k + 1) + y * w + x);
    }
    expect(d.data[0]).toBe(255); // padding
    // the empty 6th cell is padding colour
    expect(d.data[(1 * (h + pad) + pad) * d.width + 2 * (w + pad) + pad]).toBe(255);
  });

  it('writes RGB grids with exact pixel values', async () => {
    const n = 2, h = 2, w = 2, c = 3;
    const imgs = Uint8Array.from({ length: n * h * w * c }, (_, i) => (i * 29) & 255);
    const png = await gridPng(imgs, n, h, w, c);
    expect(pngColourType(png)).toBe(2);
    const d = await decodePng(png);
    expect([d.width, d.height, d.channels]).toEqual([2 * 4 + 2, 4 + 2, 3]);
    const { pixels } = gridPixels(imgs, n, h, w, c);
    expect(Buffer.from(pixels).equals(d.data)).toBe(true);
    // tile 1, pixel (1, 0), green channel
    expect(d.data[((2 + 1) * d.width + (2 + 2 + 2 + 0)) * 3 + 1]).toBe(imgs[1 * 12 + (1 * 2 + 0) * 3 + 1]);
  });

  it('rejects a buffer that does not match the stated shape', async () => {
    await expect(gridPng(new Uint8Array(10), 2, 2, 2, 1)).rejects.toThrow(/expected 2x2x2x1/);
  });
});

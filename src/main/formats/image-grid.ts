/**
 * Model outputs to 8-bit pixels, and 8-bit batches to one PNG contact sheet.
 *
 * toUint8 must match the reference samplers bit for bit, because FID is computed on these bytes and
 * the published numbers come from ADM's image_sample.py:
 *   sample = ((sample + 1) * 127.5).clamp(0, 255).to(th.uint8)
 * That is float32 arithmetic, then a float->uint8 cast that TRUNCATES (it does not round).
 */
import sharp from 'sharp';

export type Uint8Mode = 'reference' | 'round';

const f32 = Math.fround;

/**
 * [-1, 1] floats to bytes. 'reference' (default) reproduces the PyTorch expression above exactly,
 * including float32 rounding of each operation and truncation; 'round' rounds to nearest instead
 * (unbiased, but then FIDs are not comparable with published ones). NaN maps to 0.
 */
export function toUint8(images: ArrayLike<number>, mode: Uint8Mode = 'reference'): Uint8Array {
  const n = images.length;
  const out = new Uint8Array(n);
  if (mode === 'reference') {
    for (let i = 0; i < n; i++) {
      const v = f32(f32(images[i]! + 1) * 127.5);
      out[i] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = Math.round((images[i]! + 1) * 127.5);
      out[i] = v >= 255 ? 255 : v > 0 ? v : 0;
    }
  }
  return out;
}

export interface GridLayout {
  cols: number;
  rows: number;
  width: number;
  height: number;
}

/** torchvision.make_grid geometry: `pad` pixels around and between every tile. */
export function gridLayout(n: number, h: number, w: number, cols?: number, pad = 2): GridLayout {
  for (const [k, v] of [['n', n], ['h', h], ['w', w]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`image grid: ${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`image grid: pad must be a non-negative integer, got ${pad}`);
  const c0 = cols ?? Math.ceil(Math.sqrt(n));
  if (!Number.isInteger(c0) || c0 <= 0) throw new Error(`image grid: cols must be a positive integer, got ${cols}`);
  const c = Math.min(c0, n);
  const rows = Math.ceil(n / c);
  return { cols: c, rows, width: c * (w + pad) + pad, height: rows * (h + pad) + pad };
}

/** The grid as raw interleaved pixels (height x width x c); tiles in row-major order. */
export function gridPixels(
  images: Uint8Array, n: number, h: number, w: number, c: number, cols?: number, pad = 2, padValue = 0,
): { pixels: Uint8Array; layout: GridLayout } {
  if (![1, 3, 4].includes(c)) throw new Error(`image grid: channels must be 1, 3 or 4, got ${c}`);
  const layout = gridLayout(n, h, w, cols, pad);
  if (images.length !== n * h * w * c) {
    throw new Error(`image grid: expected ${n}x${h}x${w}x${c} = ${n * h * w * c} bytes, got ${images.length}`);
  }
  const { width, height } = layout;
  const out = new Uint8Array(width * height * c).fill(padValue);
  const rowBytes = w * c;
  for (let k = 0; k < n; k++) {
    const y0 = Math.floor(k / layout.cols) * (h + pad) + pad;
    const x0 = (k % layout.cols) * (w + pad) + pad;
    for (let y = 0; y < h; y++) {
      const src = (k * h + y) * rowBytes;
      out.set(images.subarray(src, src + rowBytes), ((y0 + y) * width + x0) * c);
    }
  }
  return { pixels: out, layout };
}

/** PNG of a uint8 NHWC batch; one channel stays a greyscale PNG. */
export async function gridPng(
  images: Uint8Array, n: number, h: number, w: number, c: number, cols?: number, pad = 2, padValue = 0,
): Promise<Buffer> {
  const { pixels, layout } = gridPixels(images, n, h, w, c, cols, pad, padValue);
  const img = sharp(pixels, { raw: { width: layout.width, height: layout.height, channels: c as 1 | 3 | 4 } });
  return (c === 1 ? img.toColourspace('b-w') : img).png({ compressionLevel: 6 }).toBuffer();
}

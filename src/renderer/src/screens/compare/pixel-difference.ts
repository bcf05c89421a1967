/**
 * |A - B| of two RGBA images of the same size (the paired grids of two runs, sampled from the same
 * noise), and where the two differ most. Alpha is kept opaque so the result can be shown as is.
 */
import { cellRect, type GridGeometry } from './grid-geometry';

export function absDifference(a: Uint8ClampedArray, b: Uint8ClampedArray, amplify = 1): Uint8ClampedArray<ArrayBuffer> {
  if (a.length !== b.length) throw new Error(`difference: the images differ in size (${a.length} vs ${b.length} bytes)`);
  if (a.length % 4 !== 0) throw new Error('difference: expected RGBA pixels (4 bytes each)');
  const out = new Uint8ClampedArray(a.length);
  for (let i = 0; i < a.length; i += 4) {
    // Uint8ClampedArray clamps the amplified value to 255.
    out[i] = Math.abs(a[i]! - b[i]!) * amplify;
    out[i + 1] = Math.abs(a[i + 1]! - b[i + 1]!) * amplify;
    out[i + 2] = Math.abs(a[i + 2]! - b[i + 2]!) * amplify;
    out[i + 3] = 255;
  }
  return out;
}

/** Mean |A - B| over the colour channels of each sample's tile (0-255), in sample order. */
export function cellMeanDifferences(a: Uint8ClampedArray, b: Uint8ClampedArray, g: GridGeometry): number[] {
  if (a.length !== g.width * g.height * 4 || b.length !== a.length) {
    throw new Error(`difference: expected two ${g.width}x${g.height} RGBA images`);
  }
  const out: number[] = [];
  for (let k = 0; k < g.count; k++) {
    const r = cellRect(g, k);
    let sum = 0;
    for (let y = r.y; y < r.y + r.height; y++) {
      for (let x = r.x; x < r.x + r.width; x++) {
        const i = (y * g.width + x) * 4;
        sum += Math.abs(a[i]! - b[i]!) + Math.abs(a[i + 1]! - b[i + 1]!) + Math.abs(a[i + 2]! - b[i + 2]!);
      }
    }
    out.push(sum / (3 * r.width * r.height));
  }
  return out;
}

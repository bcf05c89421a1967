/**
 * Image batches stored as .npz the way the OpenAI evaluator stores them (`arr_0`, uint8, NHWC, or
 * NHW for grey), e.g. its reference batches, or samples written by this app.
 */
import { readNpz } from '../formats/npz';
import { basename } from 'node:path';
import type { PixelSet } from './pixel-set';

export async function loadNpzImages(file: string, key = 'arr_0'): Promise<PixelSet> {
  const arrays = await readNpz(file);
  const arr = arrays[key];
  if (!arr) {
    throw new Error(`${file}: no array '${key}' in this .npz (it has ${Object.keys(arrays).join(', ')}); image batches are stored as arr_0`);
  }
  const s = arr.shape;
  if (arr.dtype !== 'uint8' || !(s.length === 3 || (s.length === 4 && (s[3] === 1 || s[3] === 3)))) {
    throw new Error(
      `${file}: '${key}' must be uint8 images shaped [n, h, w] or [n, h, w, 1|3], got ${arr.dtype} [${s.join(', ')}]` +
      (s.length === 4 && s[1] !== undefined && s[1] <= 4 ? ' (channels-first? transpose it to NHWC)' : ''),
    );
  }
  if (s[0] === 0) throw new Error(`${file}: '${key}' holds no images`);
  return {
    name: basename(file).replace(/\.npz$/i, ''),
    source: `${file} [${key}]`,
    n: s[0]!,
    height: s[1]!,
    width: s[2]!,
    channels: s[3] ?? 1,
    pixels: arr.data as Uint8Array,
  };
}

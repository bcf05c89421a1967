/**
 * What every source loader returns: decoded 8-bit images, NHWC, before any resizing or scaling to
 * [-1, 1]. Keeping sources at 8 bits means every later step (resize, channel conversion) works on
 * the same representation the reference Python pipelines use (PIL images).
 */
export interface PixelSet {
  /** Short display name, e.g. 'mnist', 'cifar10', the folder's name. */
  name: string;
  /** Where the pixels came from (files, package), for the run record. */
  source: string;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** n * height * width * channels bytes, NHWC. */
  pixels: Uint8Array;
  labels?: Uint8Array;
  labelNames?: readonly string[];
}

/**
 * Which images a `limit` keeps: evenly spaced over the whole set rather than the first `limit`,
 * because several sources are ordered by class (the bundled MNIST is digit-major; image folders
 * are often one folder per class) and a prefix would then hold a single class.
 */
export function subsetIndices(n: number, limit?: number): Uint32Array | null {
  if (limit === undefined || limit >= n) return null;
  const idx = new Uint32Array(limit);
  for (let i = 0; i < limit; i++) idx[i] = Math.floor((i * n) / limit);
  return idx;
}

export function takeSubset(set: PixelSet, indices: Uint32Array | null): PixelSet {
  if (!indices) return set;
  const per = set.height * set.width * set.channels;
  const pixels = new Uint8Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i]! * per;
    pixels.set(set.pixels.subarray(s, s + per), i * per);
  }
  const out: PixelSet = { ...set, n: indices.length, pixels };
  if (set.labels) {
    const labels = new Uint8Array(indices.length);
    for (let i = 0; i < indices.length; i++) labels[i] = set.labels[indices[i]!]!;
    out.labels = labels;
  }
  return out;
}

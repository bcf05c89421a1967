/**
 * Training batches as a pure function of (seed, step, batchSize).
 *
 * The data stream is the concatenation of epochs, each a seeded permutation of 0..n-1
 * (Stream(seed, 'shuffle', epoch)); batch `step` is positions step*B .. step*B+B-1 of that stream.
 * So a resumed run computes exactly the batches an uninterrupted run would have seen, without
 * replaying earlier steps, every epoch visits each image exactly once (a batch may straddle two
 * epochs), and horizontal flips are drawn per (seed, step, position) from their own stream.
 */
import { Stream } from '../rng';

/** What batching needs from a dataset (Dataset satisfies it). */
export interface BatchSource {
  n: number;
  height: number;
  width: number;
  channels: number;
  /** NHWC */
  images: Float32Array;
  flipAllowed: boolean;
}

const permCache = new Map<string, Uint32Array>();
const PERM_CACHE_SIZE = 4; // a batch touches at most two epochs; a little slack for interleaved callers

export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  const key = `${n}:${seed}:${epoch}`;
  let p = permCache.get(key);
  if (!p) {
    p = new Stream(seed, 'shuffle', epoch).permutation(n);
    permCache.set(key, p);
    if (permCache.size > PERM_CACHE_SIZE) permCache.delete(permCache.keys().next().value!);
  }
  return p;
}

function checkArgs(n: number, step: number, batchSize: number): void {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`batch: the dataset is empty (n = ${n})`);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`batch: step must be a non-negative integer, got ${step}`);
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new Error(`batch: batch size must be a positive integer, got ${batchSize}`);
  if (!Number.isSafeInteger(step * batchSize + batchSize)) throw new Error(`batch: step ${step} x batch size ${batchSize} is too large`);
}

/** Dataset indices of batch `step`. */
export function batchIndices(n: number, step: number, batchSize: number, seed: number): Uint32Array {
  checkArgs(n, step, batchSize);
  const out = new Uint32Array(batchSize);
  const start = step * batchSize;
  let epoch = Math.floor(start / n);
  let pos = start - epoch * n;
  let perm = epochPermutation(n, seed, epoch);
  for (let b = 0; b < batchSize; b++) {
    if (pos === n) {
      epoch++;
      pos = 0;
      perm = epochPermutation(n, seed, epoch);
    }
    out[b] = perm[pos++]!;
  }
  return out;
}

/** The epoch (0-based) that the first image of batch `step` belongs to. */
export function epochAt(n: number, step: number, batchSize: number): number {
  checkArgs(n, step, batchSize);
  return Math.floor((step * batchSize) / n);
}

/** 1 where position b of batch `step` is mirrored; independent of batch size for a given b. */
export function flipMask(step: number, batchSize: number, seed: number): Uint8Array {
  const s = new Stream(seed, 'flip', step);
  const out = new Uint8Array(batchSize);
  for (let b = 0; b < batchSize; b++) out[b] = s.nextU32() >>> 31;
  return out;
}

/**
 * Batch `step` as NHWC floats. `flip` asks for random horizontal flips; they are applied only when
 * the dataset allows them (never for digits, whose mirror images are not digits).
 */
export function batchAt(ds: BatchSource, step: number, batchSize: number, seed: number, flip: boolean): Float32Array {
  const idx = batchIndices(ds.n, step, batchSize, seed);
  const { height: h, width: w, channels: c } = ds;
  const per = h * w * c;
  if (ds.images.length !== ds.n * per) {
    throw new Error(`batch: dataset images hold ${ds.images.length} values, expected ${ds.n}x${h}x${w}x${c}`);
  }
  const out = new Float32Array(batchSize * per);
  const mask = flip && ds.flipAllowed ? flipMask(step, batchSize, seed) : null;
  for (let b = 0; b < batchSize; b++) {
    const src = idx[b]! * per;
    const dst = b * per;
    if (!mask || mask[b] === 0) {
      out.set(ds.images.subarray(src, src + per), dst);
      continue;
    }
    for (let y = 0; y < h; y++) {
      const row = y * w * c;
      for (let x = 0; x < w; x++) {
        const s = src + row + (w - 1 - x) * c;
        const d = dst + row + x * c;
        for (let ch = 0; ch < c; ch++) out[d + ch] = ds.images[s + ch]!;
      }
    }
  }
  return out;
}

/**
 * Any 8-bit image batch to the classifier's input: grey (RGB -> luma, PIL's convert('L')), 28x28
 * (bilinear when enlarging, e.g. 16x16 samples; area averaging when shrinking, as resizeNHWC does),
 * then floats in [-1, 1] exactly as the training data is scaled. Generated images and reference
 * images take this same path, so the comparison is like for like.
 */
import { convertChannels } from '../../data/channels';
import { bytesToUnit } from '../../data/dataset';
import { resizeNHWC } from '../../data/resize';
import type { ImageBatchU8 } from '../feature-network';
import { CLASSIFIER_SIDE } from './architecture';

export function checkImageBatch(images: ImageBatchU8, what = 'images'): void {
  const [n, h, w, c] = images.shape;
  if (![n, h, w, c].every((v) => Number.isInteger(v) && v >= 0) || h < 1 || w < 1) {
    throw new Error(`${what}: bad batch shape [${images.shape.join(', ')}] (expected [n, height, width, channels])`);
  }
  if (c !== 1 && c !== 3) throw new Error(`${what}: ${c} channels; images must be grey (1) or RGB (3)`);
  if (images.data.length !== n * h * w * c) {
    throw new Error(`${what}: ${images.data.length} bytes do not make [${images.shape.join(', ')}] (needs ${n * h * w * c})`);
  }
}

/** Images start .. start+count-1 of the batch as classifier input, [count, 28, 28, 1] floats. */
export function classifierInput(images: ImageBatchU8, start: number, count: number): Float32Array {
  const [, h, w, c] = images.shape;
  const per = h * w * c;
  let px = images.data.subarray(start * per, (start + count) * per);
  if (c === 3) px = convertChannels(px, count * h * w, 3, 1);
  if (h !== CLASSIFIER_SIDE || w !== CLASSIFIER_SIDE) px = resizeNHWC(px, count, h, w, 1, CLASSIFIER_SIDE, CLASSIFIER_SIDE);
  return bytesToUnit(px);
}

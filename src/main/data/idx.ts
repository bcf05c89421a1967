/**
 * IDX files (the MNIST / Fashion-MNIST distribution format), plain or gzipped, and discovery of the
 * Fashion-MNIST that Debian's package `dataset-fashion-mnist` installs.
 *
 * Format: two zero bytes, a dtype byte (0x08 = uint8, ...), the number of dimensions, then each
 * dimension as a big-endian uint32, then the data in C order, big-endian. Images are [n, rows, cols],
 * labels [n].
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { PixelSet } from './pixel-set';

const gunzipAsync = promisify(gunzip);

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  dims: number[];
  data: IdxData;
}

const DTYPE_CODES: Record<number, { dtype: IdxDtype; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

export const FASHION_MNIST_LABEL_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

function hex4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Parses (already gunzipped) IDX bytes; `file` names the file in error messages. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  const code = DTYPE_CODES[bytes[2] ?? -1];
  const ndims = bytes[3] ?? 0;
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || !code || ndims < 1 || ndims > 8) {
    throw new Error(
      `${file}: not an IDX file (magic bytes ${hex4(bytes) || 'missing'}; expected 00 00 08 03 for images or 00 00 08 01 for labels). ` +
      'Check that it is an MNIST-style *-idx3-ubyte / *-idx1-ubyte file and not an HTML page or a different archive.',
    );
  }
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) {
    throw new Error(`${file}: truncated IDX header (${bytes.length} bytes, needs ${headerLen}); the file is incomplete, download it again`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(dv.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const need = count * code.size;
  const have = bytes.length - headerLen;
  if (have < need) {
    throw new Error(
      `${file}: truncated IDX file: the header says [${dims.join(' x ')}] ${code.dtype} (${need} data bytes) but only ${have} are present; download it again`,
    );
  }
  if (have > need) {
    throw new Error(
      `${file}: IDX file has ${have - need} bytes more than its header [${dims.join(' x ')}] ${code.dtype} describes; the header or the file is corrupt, download it again`,
    );
  }
  let data: IdxData;
  const body = bytes.subarray(headerLen);
  if (code.dtype === 'uint8') data = body.slice();
  else if (code.dtype === 'int8') data = new Int8Array(body.slice().buffer);
  else {
    // IDX is big-endian; typed arrays are host-endian, so read element by element.
    const bdv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (code.dtype === 'int16') {
      const a = new Int16Array(count);
      for (let i = 0; i < count; i++) a[i] = bdv.getInt16(2 * i, false);
      data = a;
    } else if (code.dtype === 'int32') {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = bdv.getInt32(4 * i, false);
      data = a;
    } else if (code.dtype === 'float32') {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = bdv.getFloat32(4 * i, false);
      data = a;
    } else {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = bdv.getFloat64(8 * i, false);
      data = a;
    }
  }
  return { dtype: code.dtype, dims, data };
}

/** File bytes, gunzipped when the content is gzip (decided by magic bytes, not by the name). */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read file (${(e as Error).message})`, { cause: e });
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw new Error(`${file}: corrupt or truncated gzip data (${(e as Error).message}); download the file again`, { cause: e });
    }
  }
  return bytes;
}

export async function readIdx(file: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzip(file), file);
}

export interface IdxFiles {
  images: string;
  labels?: string;
}

export type IdxSplit = 'train' | 'test';

const SPLIT_PREFIX: Record<IdxSplit, string> = { train: 'train', test: 't10k' };

function firstExisting(dir: string, names: string[]): string | undefined {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  return undefined;
}

function withGz(names: string[]): string[] {
  return names.flatMap((n) => [n, `${n}.gz`]);
}

/** The standard MNIST-style file names of one split in `dir` (both '-idx3' and '.idx3' spellings, with or without .gz). */
export function findIdxFiles(dir: string, split: IdxSplit = 'train'): IdxFiles | null {
  const p = SPLIT_PREFIX[split];
  const images = firstExisting(dir, withGz([`${p}-images-idx3-ubyte`, `${p}-images.idx3-ubyte`]));
  if (!images) return null;
  const labels = firstExisting(dir, withGz([`${p}-labels-idx1-ubyte`, `${p}-labels.idx1-ubyte`]));
  return labels ? { images, labels } : { images };
}

/** The labels file that goes with an images file by the standard naming, if it exists. */
export function labelsFileFor(imagesFile: string): string | undefined {
  const name = basename(imagesFile).replace(/\.gz$/, '');
  const labelsName = name.replace(/images([-.])idx3/, 'labels$1idx1');
  if (labelsName === name) return undefined;
  return firstExisting(dirname(imagesFile), withGz([labelsName]));
}

/** Where Fashion-MNIST is looked for: $XLAB_FASHION_MNIST_DIR, Debian's package, then the Keras cache. */
export function fashionMnistDirs(): string[] {
  const dirs: string[] = [];
  const env = process.env['XLAB_FASHION_MNIST_DIR'];
  if (env) dirs.push(env);
  const dataHome = process.env['XDG_DATA_HOME'] || join(homedir(), '.local', 'share');
  dirs.push(
    '/usr/share/datasets/fashion-mnist', // dataset-fashion-mnist (Debian)
    '/usr/local/share/datasets/fashion-mnist',
    join(dataHome, 'datasets', 'fashion-mnist'),
    join(homedir(), '.keras', 'datasets', 'fashion-mnist'),
  );
  return dirs;
}

export function discoverFashionMnist(split: IdxSplit = 'train', dirs: string[] = fashionMnistDirs()): IdxFiles | null {
  for (const d of dirs) {
    const f = findIdxFiles(d, split);
    if (f) return f;
  }
  return null;
}

/** Resolves a user path (a folder holding the standard names, or an images file) to IDX files. */
export function resolveIdxPath(path: string, split: IdxSplit = 'train'): IdxFiles {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${path}: no such file or folder (expected an IDX images file or a folder with ${SPLIT_PREFIX[split]}-images-idx3-ubyte[.gz])`);
  }
  if (st.isDirectory()) {
    const f = findIdxFiles(path, split);
    if (!f) {
      throw new Error(
        `${path}: no ${SPLIT_PREFIX[split]}-images-idx3-ubyte[.gz] in this folder; give the images file itself (idx:FILE) or a folder with the standard MNIST file names`,
      );
    }
    return f;
  }
  if (/labels[-.]idx1/.test(basename(path))) {
    throw new Error(`${path}: this is a labels file; give the images file (…-images-idx3-ubyte), its labels are found beside it`);
  }
  const labels = labelsFileFor(path);
  return labels ? { images: path, labels } : { images: path };
}

export async function loadIdxFiles(files: IdxFiles, name: string, labelNames?: readonly string[]): Promise<PixelSet> {
  const img = await readIdx(files.images);
  if (img.dtype !== 'uint8') {
    throw new Error(`${files.images}: IDX images must be unsigned bytes (type 0x08), this file holds ${img.dtype}`);
  }
  const d = img.dims;
  if (!(d.length === 3 || (d.length === 4 && (d[3] === 1 || d[3] === 3)))) {
    throw new Error(
      `${files.images}: IDX images must be [n, rows, cols] (or [n, rows, cols, 1|3]), this file is [${d.join(' x ')}]` +
      (d.length === 1 ? ' — it looks like a labels file' : ''),
    );
  }
  const [n, height, width] = d as [number, number, number];
  if (n === 0 || height === 0 || width === 0) throw new Error(`${files.images}: IDX file holds no images ([${d.join(' x ')}])`);
  const set: PixelSet = {
    name,
    source: files.labels ? `${files.images} + ${files.labels}` : files.images,
    n,
    height,
    width,
    channels: d[3] ?? 1,
    pixels: img.data as Uint8Array,
  };
  if (files.labels) {
    const lab = await readIdx(files.labels);
    if (lab.dtype !== 'uint8' || lab.dims.length !== 1) {
      throw new Error(`${files.labels}: IDX labels must be a 1-D array of unsigned bytes, this file is [${lab.dims.join(' x ')}] ${lab.dtype}`);
    }
    if (lab.dims[0] !== n) {
      throw new Error(
        `${files.labels}: holds ${lab.dims[0]} labels but ${files.images} holds ${n} images; the two files do not belong together (mixed train/test or a partial download)`,
      );
    }
    set.labels = lab.data as Uint8Array;
    if (labelNames) set.labelNames = labelNames;
  }
  return set;
}

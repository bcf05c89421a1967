/**
 * CIFAR-10 "binary version" batches (cifar-10-batches-bin): each record is 1 label byte then 3072
 * pixel bytes, the 1024 red, then green, then blue values of a 32x32 image in row-major order (CHW).
 * The standard training set is data_batch_1..5.bin (10,000 records each); test_batch.bin is the test set.
 */
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PixelSet } from './pixel-set';

export const CIFAR10_SIDE = 32;
export const CIFAR10_RECORD_BYTES = 1 + 3 * CIFAR10_SIDE * CIFAR10_SIDE;
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_LABEL_NAMES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

/** One batch file's bytes to NHWC pixels and labels; `file` names it in error messages. */
export function parseCifar10Batch(bytes: Uint8Array, file: string): { n: number; pixels: Uint8Array; labels: Uint8Array } {
  if (bytes.length === 0) throw new Error(`${file}: empty file; download the CIFAR-10 binary version again`);
  if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    const hint =
      bytes.length % (CIFAR10_RECORD_BYTES + 1) === 0
        ? ' It looks like CIFAR-100 (2 label bytes per record), which is not CIFAR-10.'
        : bytes[0] === 0x80 || bytes[0] === 0x1f || bytes[0] === 0x4d
          ? ' It looks like the python (pickle), gzip or matlab version; use the binary version (cifar-10-binary.tar.gz, extracted).'
          : ' The file is truncated or not a CIFAR-10 binary batch; download and extract cifar-10-binary.tar.gz again.';
    throw new Error(
      `${file}: wrong record size: ${bytes.length} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte records (1 label byte + 3072 pixel bytes).${hint}`,
    );
  }
  const n = bytes.length / CIFAR10_RECORD_BYTES;
  const plane = CIFAR10_SIDE * CIFAR10_SIDE;
  const pixels = new Uint8Array(n * plane * 3);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const r = k * CIFAR10_RECORD_BYTES;
    const label = bytes[r]!;
    if (label > 9) {
      throw new Error(`${file}: record ${k} has label ${label}, but CIFAR-10 labels are 0..9; the file is corrupt or not CIFAR-10`);
    }
    labels[k] = label;
    const o = k * plane * 3;
    for (let i = 0; i < plane; i++) {
      pixels[o + 3 * i] = bytes[r + 1 + i]!;
      pixels[o + 3 * i + 1] = bytes[r + 1 + plane + i]!;
      pixels[o + 3 * i + 2] = bytes[r + 1 + 2 * plane + i]!;
    }
  }
  return { n, pixels, labels };
}

/** The batch files a path stands for: a folder means the training batches, a file means itself. */
export function cifar10Files(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${path}: no such file or folder (expected cifar-10-batches-bin or one of its .bin files)`);
  }
  if (!st.isDirectory()) return [path];
  const present = new Set(readdirSync(path));
  const train = CIFAR10_TRAIN_FILES.filter((f) => present.has(f));
  if (train.length === CIFAR10_TRAIN_FILES.length) return train.map((f) => join(path, f));
  if (train.length > 0) {
    const missing = CIFAR10_TRAIN_FILES.filter((f) => !present.has(f));
    throw new Error(
      `${path}: incomplete CIFAR-10 training set: missing ${missing.join(', ')}. Extract cifar-10-binary.tar.gz again, or name one batch file (cifar10:${join(path, train[0]!)}) to use only it`,
    );
  }
  if (present.has(CIFAR10_TEST_FILE)) {
    throw new Error(`${path}: holds only ${CIFAR10_TEST_FILE}; to use the test set say so explicitly: cifar10:${join(path, CIFAR10_TEST_FILE)}`);
  }
  throw new Error(`${path}: no CIFAR-10 binary batches here (expected ${CIFAR10_TRAIN_FILES.join(', ')}); point at the extracted cifar-10-batches-bin folder`);
}

export async function loadCifar10(path: string): Promise<PixelSet> {
  const files = cifar10Files(path);
  const parts = await Promise.all(
    files.map(async (f) => {
      let bytes: Uint8Array;
      try {
        bytes = await readFile(f);
      } catch (e) {
        throw new Error(`${f}: cannot read file (${(e as Error).message})`, { cause: e });
      }
      return parseCifar10Batch(bytes, f);
    }),
  );
  const n = parts.reduce((s, p) => s + p.n, 0);
  const per = CIFAR10_SIDE * CIFAR10_SIDE * 3;
  const pixels = new Uint8Array(n * per);
  const labels = new Uint8Array(n);
  let k = 0;
  for (const p of parts) {
    pixels.set(p.pixels, k * per);
    labels.set(p.labels, k);
    k += p.n;
  }
  return {
    name: 'cifar10',
    source: files.join(' + '),
    n,
    height: CIFAR10_SIDE,
    width: CIFAR10_SIDE,
    channels: 3,
    pixels,
    labels,
    labelNames: CIFAR10_LABEL_NAMES,
  };
}

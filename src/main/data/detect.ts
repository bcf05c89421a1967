/**
 * What kind of dataset a bare path is, judged by content rather than by name where it can be, so
 * `xlab train --data ~/somewhere` works without a prefix.
 */
import { readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { CIFAR10_RECORD_BYTES } from './cifar10';
import { findIdxFiles, readMaybeGzip } from './idx';

export type SourceKind = 'idx' | 'cifar10' | 'folder' | 'npz';

const HOW = 'say which it is with a prefix: idx:PATH, cifar10:PATH, folder:PATH or npz:PATH';

async function head(file: string, n: number): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function looksLikeIdx(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0 && b[1] === 0 && [0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e].includes(b[2]!) && b[3]! >= 1 && b[3]! <= 4;
}

export async function detectSourceKind(path: string): Promise<SourceKind> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${path}: no such file or folder (and not a known dataset name: mnist, fashion-mnist)`);
  }
  if (st.isDirectory()) {
    const names = readdirSync(path);
    if (names.some((n) => /^(data_batch_\d+|test_batch)\.bin$/.test(n))) return 'cifar10';
    if (findIdxFiles(path, 'train') || findIdxFiles(path, 'test')) return 'idx';
    return 'folder';
  }
  const b = await head(path, 8);
  if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'npz';
  if (looksLikeIdx(b)) return 'idx';
  if (b[0] === 0x1f && b[1] === 0x8b) {
    // Only IDX files come gzipped among the formats we read; confirm by the magic inside.
    if (looksLikeIdx((await readMaybeGzip(path)).subarray(0, 4))) return 'idx';
    throw new Error(`${path}: a gzip file that does not hold an IDX file; unpack it first, or ${HOW}`);
  }
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    throw new Error(`${path}: a single PNG image is not a dataset; give the folder that holds the images`);
  }
  if (b[0] === 0xff && b[1] === 0xd8) {
    throw new Error(`${path}: a single JPEG image is not a dataset; give the folder that holds the images`);
  }
  if (st.size > 0 && st.size % CIFAR10_RECORD_BYTES === 0 && b[0]! <= 9) return 'cifar10';
  throw new Error(`${path}: cannot tell what kind of dataset this file is (not IDX, CIFAR-10 binary or .npz by its content); ${HOW}`);
}

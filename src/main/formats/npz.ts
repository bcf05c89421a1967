/**
 * NumPy .npz archives: a zip of `<key>.npy` members, stored (numpy.savez) or deflated
 * (numpy.savez_compressed).
 *
 * The OpenAI evaluator reads sample batches as `arr_0` (uint8 NHWC) and statistics as `mu`/`sigma`
 * (float64) from such files, so writeNpz produces what numpy would: one .npy per key, members dated
 * 1980-01-01 like numpy does (which also makes the bytes reproducible).
 */
import { readFile } from 'node:fs/promises';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { writeFileAtomic } from './atomic-file';
import { decodeNpy, encodeNpy, type NpyArray } from './npy';

export type NpzArrays = Record<string, NpyArray>;

export interface NpzWriteOptions {
  /** Deflate members like numpy.savez_compressed; default stored like numpy.savez. */
  compress?: boolean;
}

// fflate writes no zip64 records, so archives (and members) must stay below 4 GiB.
const ZIP32_LIMIT = 0xffffffff;
const NUMPY_ZIP_DATE = new Date(1980, 0, 1, 0, 0, 0);

export function encodeNpz(arrays: NpzArrays, opts: NpzWriteOptions = {}, name = '.npz archive'): Uint8Array {
  const keys = Object.keys(arrays);
  if (keys.length === 0) throw new Error(`${name}: nothing to write (no arrays given)`);
  const files: Zippable = {};
  let total = 0;
  for (const key of keys) {
    if (key.length === 0 || key.includes('\\')) throw new Error(`${name}: bad array name '${key}'`);
    const npy = encodeNpy(arrays[key]!, `${name} [${key}]`);
    if (npy.length >= ZIP32_LIMIT) {
      throw new Error(`${name}: array '${key}' is ${npy.length} bytes, over the 4 GiB zip limit; write it in several files`);
    }
    total += npy.length;
    files[`${key}.npy`] = [npy, { level: opts.compress ? 6 : 0, mtime: NUMPY_ZIP_DATE }];
  }
  if (total >= ZIP32_LIMIT) throw new Error(`${name}: ${total} bytes of arrays, over the 4 GiB zip limit; write them in several files`);
  return zipSync(files);
}

export function decodeNpz(bytes: Uint8Array, name = '.npz archive'): NpzArrays {
  if (bytes.length < 22 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new Error(`${name}: not a .npz file (not a zip archive); was it saved with numpy.savez?`);
  }
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (e) {
    throw new Error(`${name}: corrupt or truncated .npz (zip) archive: ${(e as Error).message}; re-create the file`, { cause: e });
  }
  const out: NpzArrays = {};
  for (const [member, data] of Object.entries(members)) {
    // numpy exposes only `.npy` members as arrays; anything else in the zip is not ours to interpret.
    if (!member.endsWith('.npy')) continue;
    out[member.slice(0, -4)] = decodeNpy(data, `${name} [${member}]`);
  }
  if (Object.keys(out).length === 0) throw new Error(`${name}: the archive holds no .npy arrays`);
  return out;
}

export async function readNpz(path: string): Promise<NpzArrays> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read .npz file: ${(e as Error).message}`, { cause: e });
  }
  return decodeNpz(bytes, path);
}

export async function writeNpz(path: string, arrays: NpzArrays, opts: NpzWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, opts, path));
}

/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0), C order only.
 *
 * This is the interchange with the reference Python tooling (the OpenAI evaluator reads sample
 * batches and statistics as .npz of .npy), so the writer emits exactly what numpy.save emits
 * (version 1.0 unless the header needs 2.0, header padded to a multiple of 64 bytes) and the reader
 * accepts anything numpy.save or numpy.savez can produce for the plain numeric dtypes.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-file';

export type NpyDtype =
  | 'float32' | 'float64'
  | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64'
  | 'bool';

export type NpyData =
  | Float32Array | Float64Array
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | BigUint64Array | BigInt64Array;

/** A dense C-order array. int64/uint64 use BigInt arrays; bool uses a Uint8Array of 0/1. */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

interface DtypeInfo {
  descr: string; // what we write
  size: number;
  ctor: { new (buf: ArrayBuffer): NpyData; readonly name: string };
}

const DTYPES: Record<NpyDtype, DtypeInfo> = {
  float32: { descr: '<f4', size: 4, ctor: Float32Array },
  float64: { descr: '<f8', size: 8, ctor: Float64Array },
  uint8: { descr: '|u1', size: 1, ctor: Uint8Array },
  int8: { descr: '|i1', size: 1, ctor: Int8Array },
  uint16: { descr: '<u2', size: 2, ctor: Uint16Array },
  int16: { descr: '<i2', size: 2, ctor: Int16Array },
  uint32: { descr: '<u4', size: 4, ctor: Uint32Array },
  int32: { descr: '<i4', size: 4, ctor: Int32Array },
  uint64: { descr: '<u8', size: 8, ctor: BigUint64Array },
  int64: { descr: '<i8', size: 8, ctor: BigInt64Array },
  bool: { descr: '|b1', size: 1, ctor: Uint8Array },
};

const KIND_TO_DTYPE: Record<string, NpyDtype> = {
  f4: 'float32', f8: 'float64',
  u1: 'uint8', i1: 'int8', u2: 'uint16', i2: 'int16', u4: 'uint32', i4: 'int32', u8: 'uint64', i8: 'int64',
  b1: 'bool',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

// Typed arrays read and write in platform byte order; .npy written here is little-endian.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigUint64Array) return 'uint64';
  return 'int64';
}

function product(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}

function checkArray(arr: NpyArray, what: string): DtypeInfo {
  const info = DTYPES[arr.dtype];
  if (!info) throw new Error(`${what}: unsupported dtype '${String(arr.dtype)}' (use one of ${Object.keys(DTYPES).join(', ')})`);
  for (const d of arr.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${what}: bad shape [${arr.shape.join(', ')}]: dimensions must be non-negative integers`);
  }
  if (!(arr.data instanceof info.ctor)) {
    throw new Error(`${what}: dtype '${arr.dtype}' needs a ${info.ctor.name}, got ${arr.data.constructor.name}`);
  }
  const count = product(arr.shape);
  if (arr.data.length !== count) {
    throw new Error(`${what}: shape [${arr.shape.join(', ')}] holds ${count} elements but data has ${arr.data.length}`);
  }
  return info;
}

function headerText(descr: string, shape: readonly number[]): string {
  // numpy's own spelling, including the 1-tuple comma and the trailing ', }'.
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
}

// numpy leaves room to rewrite the first dimension in place (GROWTH_AXIS_MAX_DIGITS in numpy.lib.format).
const GROWTH_AXIS_MAX_DIGITS = 21;
const ARRAY_ALIGN = 64;

/** Encodes an array byte for byte as numpy.save would (numpy.lib.format._write_array_header). */
export function encodeNpy(arr: NpyArray, what = 'npy array'): Uint8Array {
  const info = checkArray(arr, what);
  let dict = headerText(info.descr, arr.shape);
  if (arr.shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(arr.shape[0]).length));
  const hlen = dict.length + 1; // + the final newline
  let version = 1;
  let prefix = 10; // magic(6) + version(2) + uint16 length
  let padlen = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN); // 1..64, as numpy computes it
  if (hlen + padlen > 0xffff) {
    version = 2;
    prefix = 12; // uint32 length
    padlen = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  }
  const headerLen = hlen + padlen;
  const total = prefix + headerLen;
  const header = dict + ' '.repeat(padlen) + '\n';
  const dataBytes = arr.data.length * info.size;
  const out = new Uint8Array(total + dataBytes);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  const src = new Uint8Array(arr.data.buffer, arr.data.byteOffset, dataBytes);
  out.set(src, total);
  if (!LITTLE_ENDIAN_HOST && info.size > 1) byteSwapInPlace(out.subarray(total), info.size);
  return out;
}

function byteSwapInPlace(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

interface ParsedHeader {
  dtype: NpyDtype;
  bigEndian: boolean;
  shape: number[];
  dataOffset: number;
}

function parseHeader(bytes: Uint8Array, name: string): ParsedHeader {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new Error(`${name}: not a .npy file (missing the \\x93NUMPY magic); was it saved with numpy.save?`);
  }
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let prefix: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    prefix = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`${name}: truncated .npy header; the file is incomplete, re-create it`);
    headerLen = dv.getUint32(8, true);
    prefix = 12;
  } else {
    throw new Error(`${name}: unsupported .npy format version ${major}.${bytes[7]} (supported: 1.0, 2.0, 3.0)`);
  }
  if (prefix + headerLen > bytes.length) {
    throw new Error(`${name}: truncated .npy header (needs ${prefix + headerLen} bytes, file has ${bytes.length}); the file is incomplete, re-create it`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(prefix, prefix + headerLen));

  const descrM = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrM) {
    throw new Error(`${name}: .npy header has no simple 'descr' (structured/record dtypes are not supported): ${header.trim()}`);
  }
  const descr = descrM[2]!;
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fortranM) throw new Error(`${name}: .npy header has no 'fortran_order': ${header.trim()}`);
  if (fortranM[1] === 'True') {
    throw new Error(`${name}: array is stored in Fortran (column-major) order, which is not supported; re-save it from numpy with np.save(path, np.ascontiguousarray(a))`);
  }
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeM) throw new Error(`${name}: .npy header has no 'shape' tuple: ${header.trim()}`);
  const shape = shapeM[1]!
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name}: bad dimension '${s}' in .npy shape`);
      return v;
    });

  const order = descr[0];
  const kind = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const dtype = KIND_TO_DTYPE[kind];
  if (!dtype) {
    throw new Error(`${name}: unsupported .npy dtype '${descr}' (supported: ${Object.values(DTYPES).map((d) => d.descr).join(', ')}); convert it in numpy with a.astype(...)`);
  }
  const bigEndian = order === '>' || (order === '=' && !LITTLE_ENDIAN_HOST);
  return { dtype, bigEndian, shape, dataOffset: prefix + headerLen };
}

/** Decodes .npy bytes; `name` (usually the file path) is used in error messages. */
export function decodeNpy(bytes: Uint8Array, name = '.npy data'): NpyArray {
  const h = parseHeader(bytes, name);
  const info = DTYPES[h.dtype];
  const count = product(h.shape);
  const need = count * info.size;
  const have = bytes.length - h.dataOffset;
  if (have < need) {
    throw new Error(`${name}: truncated .npy data: shape [${h.shape.join(', ')}] of ${h.dtype} needs ${need} bytes, file has ${have}; the file is incomplete, re-create it`);
  }
  // Copy into a fresh buffer: the source slice may be misaligned for 4/8-byte typed arrays.
  const buf = new ArrayBuffer(need);
  const raw = new Uint8Array(buf);
  raw.set(bytes.subarray(h.dataOffset, h.dataOffset + need));
  if (info.size > 1 && h.bigEndian === LITTLE_ENDIAN_HOST) byteSwapInPlace(raw, info.size);
  const data = new info.ctor(buf);
  if (h.dtype === 'bool') {
    for (let i = 0; i < raw.length; i++) if (raw[i]! > 1) raw[i] = 1;
  }
  return { dtype: h.dtype, shape: h.shape, data };
}

export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read .npy file: ${(e as Error).message}`, { cause: e });
  }
  return decodeNpy(bytes, path);
}

export async function writeNpy(path: string, arr: NpyArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(arr, path));
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, readNpy, writeNpy, type NpyArray } from '../../src/main/formats/npy';

const dir = mkdtempSync(join(tmpdir(), 'xlab-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLES: NpyArray[] = [
  { dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 0.25, -1.5, 3.4028234663852886e38, Number.NaN, -0]) },
  { dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -1e-300, Number.POSITIVE_INFINITY]) },
  { dtype: 'uint8', shape: [2, 2, 2, 3], data: Uint8Array.from({ length: 24 }, (_, i) => i * 11) },
  { dtype: 'int8', shape: [4], data: Int8Array.from([-128, -1, 0, 127]) },
  { dtype: 'uint16', shape: [2], data: Uint16Array.from([0, 65535]) },
  { dtype: 'int16', shape: [2], data: Int16Array.from([-32768, 32767]) },
  { dtype: 'uint32', shape: [2], data: Uint32Array.from([0, 4294967295]) },
  { dtype: 'int32', shape: [2, 2], data: Int32Array.from([-2147483648, -1, 0, 2147483647]) },
  { dtype: 'uint64', shape: [2], data: BigUint64Array.from([0n, 18446744073709551615n]) },
  { dtype: 'int64', shape: [3], data: BigInt64Array.from([-9223372036854775808n, 0n, 9223372036854775807n]) },
  { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
  { dtype: 'float64', shape: [], data: Float64Array.from([5.5]) },
  { dtype: 'int32', shape: [0, 5], data: new Int32Array(0) },
];

function sameData(a: NpyArray, b: NpyArray): void {
  expect(b.dtype).toBe(a.dtype);
  expect(b.shape).toEqual(a.shape);
  expect(b.data.constructor).toBe(a.data.constructor);
  // Compare bytes so NaN and -0 count as equal to themselves.
  const bytes = (x: NpyArray) => new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
  expect(Buffer.from(bytes(b)).equals(Buffer.from(bytes(a)))).toBe(true);
}

function header(text: string, version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const padded = text + ' '.repeat((64 - ((prefix + text.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(prefix + padded.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, padded.length, true);
  else dv.setUint32(8, padded.length, true);
  for (let i = 0; i < padded.length; i++) out[prefix + i] = padded.charCodeAt(i);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

describe('npy', () => {
  it('round-trips every dtype through bytes and files', async () => {
    for (const a of SAMPLES) {
      sameData(a, decodeNpy(encodeNpy(a)));
      const file = join(dir, `${a.dtype}-${a.shape.length}.npy`);
      await writeNpy(file, a);
      sameData(a, await readNpy(file));
    }
  });

  it('writes exactly the bytes numpy.save writes', () => {
    // np.save(f, (np.arange(6, dtype='<f4') / 4).reshape(2, 3)) with numpy 2.4
    const numpy = Buffer.from(
      'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAAoD8=',
      'base64',
    );
    const ours = encodeNpy({ dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 0.25, 0.5, 0.75, 1, 1.25]) });
    expect(Buffer.from(ours).equals(numpy)).toBe(true);
    // data starts on a 64-byte boundary
    expect((ours.length - 24) % 64).toBe(0);
  });

  it('reads version 2.0 headers, big-endian data, and the |u1/<u1 spellings', () => {
    const v2 = concat(header("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 2), Uint8Array.from([1, 0, 0, 0, 255, 255, 255, 255]));
    const a = decodeNpy(v2);
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.data as Int32Array)).toEqual([1, -1]);

    const be = concat(header("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }"), Uint8Array.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]));
    expect(Array.from(decodeNpy(be).data as Float64Array)).toEqual([1.5]);

    const u1 = concat(header("{'descr': '<u1', 'fortran_order': False, 'shape': (3,), }"), Uint8Array.from([7, 8, 9]));
    expect(decodeNpy(u1).dtype).toBe('uint8');
  });

  it('rejects fortran_order=True with advice', () => {
    const f = concat(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), new Uint8Array(16));
    expect(() => decodeNpy(f, 'weights.npy')).toThrow(/weights\.npy.*Fortran.*ascontiguousarray/);
  });

  it('names the file when it is truncated, has no magic, or an unsupported dtype', async () => {
    const good = encodeNpy(SAMPLES[0]!);
    const cut = join(dir, 'cut.npy');
    writeFileSync(cut, good.subarray(0, good.length - 3));
    await expect(readNpy(cut)).rejects.toThrow(/cut\.npy.*truncated/);
    const hdrCut = join(dir, 'hdrcut.npy');
    writeFileSync(hdrCut, good.subarray(0, 40));
    await expect(readNpy(hdrCut)).rejects.toThrow(/hdrcut\.npy.*truncated/);
    expect(() => decodeNpy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy')).toThrow(/x\.npy.*not a \.npy/);
    const c8 = concat(header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), new Uint8Array(8));
    expect(() => decodeNpy(c8, 'z.npy')).toThrow(/z\.npy.*unsupported .npy dtype '<c8'/);
    const rec = concat(header("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }"), new Uint8Array(4));
    expect(() => decodeNpy(rec, 'r.npy')).toThrow(/r\.npy.*structured/);
    await expect(readNpy(join(dir, 'missing.npy'))).rejects.toThrow(/missing\.npy/);
  });

  it('refuses arrays whose data does not match dtype or shape', () => {
    expect(() => encodeNpy({ dtype: 'float32', shape: [3], data: new Float64Array(3) })).toThrow(/Float32Array/);
    expect(() => encodeNpy({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) })).toThrow(/4 elements/);
  });
});

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy, type NpyArray } from '../../src/main/formats/npy';
import { decodeNpz, encodeNpz, readNpz, writeNpz } from '../../src/main/formats/npz';

const dir = mkdtempSync(join(tmpdir(), 'xlab-npz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ARRAYS: Record<string, NpyArray> = {
  arr_0: { dtype: 'uint8', shape: [2, 4, 4, 3], data: Uint8Array.from({ length: 96 }, (_, i) => (i * 37) & 255) },
  mu: { dtype: 'float64', shape: [3], data: Float64Array.from([0.5, -1.25, 1e-12]) },
  sigma: { dtype: 'float64', shape: [3, 3], data: Float64Array.from([1, 0.1, 0, 0.1, 2, 0, 0, 0, 3]) },
  f4: { dtype: 'float32', shape: [2], data: Float32Array.from([1.5, -2]) },
  i4: { dtype: 'int32', shape: [2], data: Int32Array.from([-7, 7]) },
  i8: { dtype: 'int64', shape: [2], data: BigInt64Array.from([-1n, 1n << 40n]) },
};

function expectSame(a: NpyArray, b: NpyArray | undefined): void {
  expect(b).toBeDefined();
  expect(b!.dtype).toBe(a.dtype);
  expect(b!.shape).toEqual(a.shape);
  expect(Array.from(b!.data as ArrayLike<number | bigint>)).toEqual(Array.from(a.data as ArrayLike<number | bigint>));
}

/**
 * A zip written by hand from the APPNOTE layout, the way numpy.savez does it: every local header
 * forced to zip64 (sizes 0xFFFFFFFF plus a zip64 extra field), plain 32-bit sizes in the central
 * directory, members dated 1980-01-01.
 */
function numpyStyleZip(members: Record<string, Uint8Array>, deflate: boolean, forceZip64 = true): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  for (const [name, raw] of Object.entries(members)) {
    const data = deflate ? deflateRawSync(raw) : Buffer.from(raw);
    const crc = crc32(raw);
    const nameBytes = Buffer.from(name, 'utf8');
    const extra = Buffer.alloc(forceZip64 ? 20 : 0);
    if (forceZip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(raw.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
    }
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(forceZip64 ? 45 : 20, 4);
    lh.writeUInt16LE(0, 6);
    lh.writeUInt16LE(deflate ? 8 : 0, 8);
    lh.writeUInt16LE(0, 10);
    lh.writeUInt16LE(DOS_DATE, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(forceZip64 ? 0xffffffff : data.length, 18);
    lh.writeUInt32LE(forceZip64 ? 0xffffffff : raw.length, 22);
    lh.writeUInt16LE(nameBytes.length, 26);
    lh.writeUInt16LE(extra.length, 28);
    const local = Buffer.concat([lh, nameBytes, extra, data]);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(0x032d, 4);
    ch.writeUInt16LE(forceZip64 ? 45 : 20, 6);
    ch.writeUInt16LE(0, 8);
    ch.writeUInt16LE(deflate ? 8 : 0, 10);
    ch.writeUInt16LE(0, 12);
    ch.writeUInt16LE(DOS_DATE, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(raw.length, 24);
    ch.writeUInt16LE(nameBytes.length, 28);
    ch.writeUInt32LE(0o600 << 16, 38);
    ch.writeUInt32LE(offset, 42);
    centrals.push(Buffer.concat([ch, nameBytes]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(centrals.length, 8);
  eocd.writeUInt16LE(centrals.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Uint8Array.from(Buffer.concat([...locals, cd, eocd]));
}

describe('npz', () => {
  it('round-trips every dtype, stored and deflated', async () => {
    for (const compress of [false, true]) {
      const file = join(dir, `rt-${compress}.npz`);
      await writeNpz(file, ARRAYS, { compress });
      const back = await readNpz(file);
      expect(Object.keys(back).sort()).toEqual(Object.keys(ARRAYS).sort());
      for (const k of Object.keys(ARRAYS)) expectSame(ARRAYS[k]!, back[k]);
    }
    // atomic writes leave no temp files behind
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes the evaluator layout: arr_0.npy uint8 NHWC, stored, reproducibly', () => {
    const a = encodeNpz({ arr_0: ARRAYS['arr_0']! });
    const b = encodeNpz({ arr_0: ARRAYS['arr_0']! });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const text = Buffer.from(a).toString('latin1');
    expect(text.startsWith('PK\x03\x04')).toBe(true);
    expect(text).toContain('arr_0.npy');
    // stored: the .npy bytes appear verbatim inside the zip
    expect(Buffer.from(a).indexOf(Buffer.from(encodeNpy(ARRAYS['arr_0']!)))).toBeGreaterThan(0);
    expect(Buffer.from(a).readUInt16LE(8)).toBe(0); // compression method of the first member
  });

  it('reads numpy-style archives built by hand (zip64 local headers), stored and deflated', () => {
    const members = { 'arr_0.npy': encodeNpy(ARRAYS['arr_0']!), 'mu.npy': encodeNpy(ARRAYS['mu']!) };
    for (const deflate of [false, true]) {
      for (const zip64 of [true, false]) {
        const back = decodeNpz(numpyStyleZip(members, deflate, zip64), 'hand.npz');
        expectSame(ARRAYS['arr_0']!, back['arr_0']);
        expectSame(ARRAYS['mu']!, back['mu']);
      }
    }
  });

  it('reads archives that numpy itself wrote (np.savez and np.savez_compressed)', () => {
    // np.savez(f, arr_0=np.arange(24, dtype=np.uint8).reshape(2,2,2,3), mu=np.array([1.5, -2.0])), numpy 2.4
    const savez = Buffer.from(
      'UEsDBC0AAAAAAAAAIQCFOo9T//////////8JABQAYXJyXzAubnB5AQAQAJgAAAAAAAAAmAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICd8dTEnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiwgMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgABAgMEBQYHCAkKCwwNDg8QERITFBUWF1BLAwQtAAAAAAAAACEAsJjFQf//////////BgAUAG11Lm5weQEAEACQAAAAAAAAAJAAAAAAAAAAk05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAADAUEsBAi0DLQAAAAAAAAAhAIU6j1OYAAAAmAAAAAkAAAAAAAAAAAAAAIABAAAAAGFycl8wLm5weVBLAQItAy0AAAAAAAAAIQCwmMVBkAAAAJAAAAAGAAAAAAAAAAAAAACAAdMAAABtdS5ucHlQSwUGAAAAAAIAAgBrAAAAmwEAAAAA',
      'base64',
    );
    // np.savez_compressed(f, arr_0=<same>, sigma=np.eye(2))
    const compressed = Buffer.from(
      'UEsDBC0AAAAIAAAAIQCFOo9T//////////8JABQAYXJyXzAubnB5AQAQAJgAAAAAAAAAYAAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBeU2qorqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOgoQZKypo1CrQAbgYmBkYmZhZWPn4OTi5uHl4xcQFBIWERUTBwBQSwMELQAAAAgAAAAhAGeMTGf//////////wkAFABzaWdtYS5ucHkBABAAoAAAAAAAAABQAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CkaaOgq1CmQDLgYw+GDPgBV8sAcAUEsBAi0DLQAAAAgAAAAhAIU6j1NgAAAAmAAAAAkAAAAAAAAAAAAAAIABAAAAAGFycl8wLm5weVBLAQItAy0AAAAIAAAAIQBnjExnUAAAAKAAAAAJAAAAAAAAAAAAAACAAZsAAABzaWdtYS5ucHlQSwUGAAAAAAIAAgBuAAAAJgEAAAAA',
      'base64',
    );
    const digits: NpyArray = { dtype: 'uint8', shape: [2, 2, 2, 3], data: Uint8Array.from({ length: 24 }, (_, i) => i) };
    const a = decodeNpz(savez);
    expectSame(digits, a['arr_0']);
    expectSame({ dtype: 'float64', shape: [2], data: Float64Array.from([1.5, -2]) }, a['mu']);
    const b = decodeNpz(compressed);
    expectSame(digits, b['arr_0']);
    expectSame({ dtype: 'float64', shape: [2, 2], data: Float64Array.from([1, 0, 0, 1]) }, b['sigma']);
  });

  it('names the file when the archive is not a zip, truncated, or holds a bad member', async () => {
    const notZip = join(dir, 'plain.npz');
    writeFileSync(notZip, encodeNpy(ARRAYS['mu']!));
    await expect(readNpz(notZip)).rejects.toThrow(/plain\.npz.*not a \.npz/);

    const good = encodeNpz(ARRAYS);
    const cut = join(dir, 'cut.npz');
    writeFileSync(cut, good.subarray(0, Math.floor(good.length * 0.6)));
    await expect(readNpz(cut)).rejects.toThrow(/cut\.npz/);

    const npy = encodeNpy(ARRAYS['sigma']!);
    const badMember = numpyStyleZip({ 'sigma.npy': npy.subarray(0, npy.length - 8) }, false);
    expect(() => decodeNpz(badMember, 'stats.npz')).toThrow(/stats\.npz \[sigma\.npy\].*truncated/);

    expect(() => decodeNpz(numpyStyleZip({ 'readme.txt': Uint8Array.from([65]) }, false), 'empty.npz')).toThrow(/empty\.npz.*no \.npy/);
  });
});

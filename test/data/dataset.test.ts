import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subsetIndices } from '../../src/main/data/pixel-set';
import { batchAt, bytesToUnit, datasetFromPixels, loadDataset, parseDatasetSpec } from '../../src/main/data/dataset';
import { detectSourceKind } from '../../src/main/data/detect';
import { writeNpz } from '../../src/main/formats/npz';

const root = mkdtempSync(join(tmpdir(), 'xlab-ds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function idx(dims: number[], data: ArrayLike<number>): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(Uint8Array.from(data))]);
}

const P = {
  idxDir: join(root, 'idxdir'),
  idxFile: join(root, 'idxdir', 'train-images-idx3-ubyte.gz'),
  cifarDir: join(root, 'cifar'),
  cifarFile: join(root, 'one.bin'),
  folder: join(root, 'pics'),
  npz: join(root, 'ref.npz'),
  junk: join(root, 'junk.dat'),
  png: join(root, 'single.png'),
};

beforeAll(async () => {
  mkdirSync(P.idxDir);
  writeFileSync(P.idxFile, gzipSync(idx([3, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])));
  mkdirSync(P.cifarDir);
  for (let i = 1; i <= 5; i++) writeFileSync(join(P.cifarDir, `data_batch_${i}.bin`), Buffer.alloc(3073, 1));
  writeFileSync(P.cifarFile, Buffer.alloc(3073 * 2, 2));
  mkdirSync(P.folder);
  await sharp(Buffer.alloc(8 * 8 * 3, 100), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(P.folder, 'x.png'));
  await sharp(Buffer.alloc(8 * 8 * 3, 100), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(P.png);
  await writeNpz(P.npz, { arr_0: { dtype: 'uint8', shape: [2, 4, 4, 3], data: Uint8Array.from({ length: 96 }, (_, i) => i) } });
  writeFileSync(P.junk, 'hello world');
});

describe('dataset specs', () => {
  it('parses names, prefixes and bare paths', () => {
    expect(parseDatasetSpec('mnist')).toEqual({ kind: 'mnist' });
    expect(parseDatasetSpec('MNIST')).toEqual({ kind: 'mnist' });
    expect(parseDatasetSpec('mnist:/d/mnist')).toEqual({ kind: 'idx', path: '/d/mnist', name: 'mnist' });
    expect(parseDatasetSpec('fashion-mnist')).toEqual({ kind: 'fashion-mnist', split: 'train' });
    expect(parseDatasetSpec('fashion-mnist:test')).toEqual({ kind: 'fashion-mnist', split: 'test' });
    expect(parseDatasetSpec('fashion-mnist:/x')).toEqual({ kind: 'fashion-mnist', path: '/x', split: 'train' });
    expect(parseDatasetSpec('cifar10:/data/cifar-10-batches-bin')).toEqual({ kind: 'cifar10', path: '/data/cifar-10-batches-bin' });
    expect(parseDatasetSpec('CIFAR-10:rel')).toEqual({ kind: 'cifar10', path: resolve('rel') });
    expect(parseDatasetSpec('folder:~/faces')).toEqual({ kind: 'folder', path: join(homedir(), 'faces') });
    expect(parseDatasetSpec('idx:a.gz')).toEqual({ kind: 'idx', path: resolve('a.gz') });
    expect(parseDatasetSpec('npz:/r.npz')).toEqual({ kind: 'npz', path: '/r.npz' });
    expect(parseDatasetSpec('/some/where')).toEqual({ kind: 'auto', path: '/some/where' });
    expect(parseDatasetSpec('C:\\data\\x')).toMatchObject({ kind: 'auto' });
    expect(() => parseDatasetSpec('cifar10:')).toThrow(/needs a path after 'cifar10:'/);
    expect(() => parseDatasetSpec('  ')).toThrow(/empty dataset spec/);
  });

  it('detects the kind of a bare path from its content', async () => {
    expect(await detectSourceKind(P.idxDir)).toBe('idx');
    expect(await detectSourceKind(P.idxFile)).toBe('idx');
    expect(await detectSourceKind(P.cifarDir)).toBe('cifar10');
    expect(await detectSourceKind(P.cifarFile)).toBe('cifar10');
    expect(await detectSourceKind(P.folder)).toBe('folder');
    expect(await detectSourceKind(P.npz)).toBe('npz');
    await expect(detectSourceKind(P.junk)).rejects.toThrow(/junk\.dat: cannot tell what kind of dataset.*idx:PATH/);
    await expect(detectSourceKind(P.png)).rejects.toThrow(/single\.png: a single PNG image is not a dataset/);
    await expect(detectSourceKind(join(root, 'nope'))).rejects.toThrow(/nope: no such file or folder/);
  });

  it('loads each kind from a bare path with the right flip policy', async () => {
    const idxDs = await loadDataset(P.idxFile);
    expect([idxDs.n, idxDs.height, idxDs.channels, idxDs.flipAllowed]).toEqual([3, 2, 1, false]);
    expect((await loadDataset(P.cifarDir)).flipAllowed).toBe(true);
    expect((await loadDataset(P.cifarFile)).n).toBe(2);
    const folder = await loadDataset(P.folder);
    expect([folder.n, folder.height, folder.channels, folder.flipAllowed]).toEqual([1, 8, 3, true]);
    const npz = await loadDataset(P.npz);
    expect([npz.n, npz.height, npz.width, npz.channels, npz.flipAllowed]).toEqual([2, 4, 4, 3, true]);
    expect(Array.from(npz.pixels!)).toEqual(Array.from({ length: 96 }, (_, i) => i));
  });

  it('validates options', async () => {
    await expect(loadDataset('mnist', { imageSize: 0 })).rejects.toThrow(/image size/);
    await expect(loadDataset('mnist', { imageSize: 2.5 })).rejects.toThrow(/image size/);
    await expect(loadDataset('mnist', { channels: 2 as 1 })).rejects.toThrow(/channels must be 1 or 3/);
    await expect(loadDataset('mnist', { limit: 0 })).rejects.toThrow(/limit/);
  });
});

describe('pixels to model input', () => {
  const set = {
    name: 't', source: 'test', n: 4, height: 4, width: 2, channels: 3,
    pixels: Uint8Array.from({ length: 4 * 4 * 2 * 3 }, (_, i) => i * 2), labels: Uint8Array.from([3, 1, 4, 1]),
  };

  it('maps bytes with numpy float32 arithmetic: 0 -> -1, 255 -> 1', () => {
    const f = bytesToUnit(Uint8Array.from([0, 1, 127, 128, 255]));
    expect(Array.from(f)).toEqual([-1, Math.fround(Math.fround(1 / 127.5) - 1), Math.fround(Math.fround(127 / 127.5) - 1), Math.fround(Math.fround(128 / 127.5) - 1), 1]);
  });

  it('keeps non-square images as they are, but refuses to distort them', () => {
    const ds = datasetFromPixels(set, {}, true);
    expect([ds.n, ds.height, ds.width, ds.channels]).toEqual([4, 4, 2, 3]);
    expect(() => datasetFromPixels(set, { imageSize: 2 }, true)).toThrow(/test: images are 4x2, not square/);
  });

  it('limit keeps evenly spaced images with their labels', () => {
    expect(Array.from(subsetIndices(10, 4)!)).toEqual([0, 2, 5, 7]);
    expect(subsetIndices(10, 10)).toBeNull();
    expect(subsetIndices(10)).toBeNull();
    const ds = datasetFromPixels(set, { limit: 2 }, true);
    expect(Array.from(ds.labels!)).toEqual([3, 4]);
    expect(Array.from(ds.pixels!)).toEqual([...set.pixels.subarray(0, 24), ...set.pixels.subarray(48, 72)]); // images 0 and 2
  });

  it('RGB -> grey and grey -> RGB', () => {
    const grey = datasetFromPixels(set, { channels: 1 }, true);
    expect(grey.channels).toBe(1);
    expect(grey.pixels![0]).toBe((0 * 19595 + 2 * 38470 + 4 * 7471 + 0x8000) >>> 16);
    const back = datasetFromPixels({ ...grey, source: 'g', pixels: grey.pixels! }, { channels: 3 }, true);
    expect(back.channels).toBe(3);
    expect(Array.from(back.pixels!.subarray(0, 3))).toEqual([grey.pixels![0], grey.pixels![0], grey.pixels![0]]);
  });

  it('a loaded dataset feeds batchAt directly', async () => {
    const ds = await loadDataset('mnist', { imageSize: 16, limit: 500 });
    const b = batchAt(ds, 3, 32, 42, true);
    expect(b.length).toBe(32 * 256);
    expect(Array.from(batchAt(ds, 3, 32, 42, true))).toEqual(Array.from(b));
    expect(Array.from(b)).toEqual(Array.from(batchAt(ds, 3, 32, 42, false))); // digits: never flipped
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fashionMnistNotFound, loadDataset } from '../../src/main/data/dataset';
import {
  discoverFashionMnist,
  fashionMnistDirs,
  findIdxFiles,
  loadIdxFiles,
  parseIdx,
  readIdx,
  resolveIdxPath,
} from '../../src/main/data/idx';

const root = mkdtempSync(join(tmpdir(), 'xlab-idx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function idx(dims: number[], data: ArrayLike<number>, dtype = 0x08): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = dtype;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(Uint8Array.from(data))]);
}

/** n images of h x w where pixel (y, x) of image k is (k * 31 + y * w + x) mod 256. */
function images(n: number, h: number, w: number): Uint8Array {
  return Uint8Array.from({ length: n * h * w }, (_, i) => {
    const k = Math.floor(i / (h * w));
    return (k * 31 + (i % (h * w))) & 255;
  });
}

function writeSplit(dir: string, prefix: string, n: number, gz: boolean, h = 4, w = 4): void {
  mkdirSync(dir, { recursive: true });
  const img = idx([n, h, w], images(n, h, w));
  const lab = idx([n], Array.from({ length: n }, (_, k) => k % 10));
  const ext = gz ? '.gz' : '';
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte${ext}`), gz ? gzipSync(img) : img);
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte${ext}`), gz ? gzipSync(lab) : lab);
}

describe('IDX parsing', () => {
  it('reads plain and gzipped files identically', async () => {
    writeSplit(join(root, 'plain'), 'train', 6, false);
    writeSplit(join(root, 'gz'), 'train', 6, true);
    const a = await readIdx(join(root, 'plain', 'train-images-idx3-ubyte'));
    const b = await readIdx(join(root, 'gz', 'train-images-idx3-ubyte.gz'));
    expect(a.dtype).toBe('uint8');
    expect(a.dims).toEqual([6, 4, 4]);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    expect(Array.from(a.data)).toEqual(Array.from(images(6, 4, 4)));
  });

  it('decodes big-endian multi-byte dtypes', () => {
    const be = Buffer.alloc(8);
    be.writeInt32BE(-5, 0);
    be.writeInt32BE(70000, 4);
    const a = parseIdx(Buffer.concat([idx([2], [], 0x0c), be]), 'i32');
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.data)).toEqual([-5, 70000]);
    const f = Buffer.alloc(4);
    f.writeFloatBE(1.5, 0);
    expect(Array.from(parseIdx(Buffer.concat([idx([1], [], 0x0d), f]), 'f32').data)).toEqual([1.5]);
  });

  it('loads images with labels through loadDataset (idx:FILE, idx:FOLDER, mnist:FOLDER)', async () => {
    const dir = join(root, 'gz');
    for (const spec of [`idx:${join(dir, 'train-images-idx3-ubyte.gz')}`, `idx:${dir}`, `mnist:${dir}`]) {
      const ds = await loadDataset(spec);
      expect([ds.n, ds.height, ds.width, ds.channels]).toEqual([6, 4, 4, 1]);
      expect(Array.from(ds.labels!)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(Array.from(ds.pixels!)).toEqual(Array.from(images(6, 4, 4)));
      expect(ds.images[0]).toBe(-1);
      expect(ds.flipAllowed).toBe(false);
    }
    expect((await loadDataset(`mnist:${dir}`)).name).toBe('mnist');
  });

  it('finds the standard names of both splits, with either spelling', () => {
    const dir = join(root, 'both');
    writeSplit(dir, 'train', 3, true);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 't10k-images.idx3-ubyte'), idx([2, 4, 4], images(2, 4, 4)));
    writeFileSync(join(dir, 't10k-labels.idx1-ubyte'), idx([2], [1, 2]));
    expect(findIdxFiles(dir, 'train')).toEqual({
      images: join(dir, 'train-images-idx3-ubyte.gz'),
      labels: join(dir, 'train-labels-idx1-ubyte.gz'),
    });
    expect(findIdxFiles(dir, 'test')).toEqual({ images: join(dir, 't10k-images.idx3-ubyte'), labels: join(dir, 't10k-labels.idx1-ubyte') });
    expect(findIdxFiles(join(root, 'nowhere'), 'train')).toBeNull();
  });
});

describe('IDX errors name the file and the problem', () => {
  const bad = join(root, 'bad');
  mkdirSync(bad, { recursive: true });

  it('truncated data', async () => {
    const full = idx([5, 4, 4], images(5, 4, 4));
    const f = join(bad, 'cut-images-idx3-ubyte');
    writeFileSync(f, full.subarray(0, full.length - 7));
    await expect(readIdx(f)).rejects.toThrow(/cut-images-idx3-ubyte: truncated IDX file.*\[5 x 4 x 4\].*download it again/);
    const g = join(bad, 'cut2-images-idx3-ubyte.gz');
    writeFileSync(g, gzipSync(full).subarray(0, 30));
    await expect(readIdx(g)).rejects.toThrow(/cut2-images-idx3-ubyte\.gz: corrupt or truncated gzip/);
    const hdr = join(bad, 'hdr-images-idx3-ubyte');
    writeFileSync(hdr, full.subarray(0, 9));
    await expect(readIdx(hdr)).rejects.toThrow(/hdr-images-idx3-ubyte: truncated IDX header/);
  });

  it('wrong magic', async () => {
    const f = join(bad, 'html-images-idx3-ubyte');
    writeFileSync(f, '<html>not found</html>');
    await expect(readIdx(f)).rejects.toThrow(/html-images-idx3-ubyte: not an IDX file \(magic bytes 3c 68 74 6d/);
  });

  it('extra bytes after the data', async () => {
    const f = join(bad, 'long-images-idx3-ubyte');
    writeFileSync(f, Buffer.concat([idx([1, 2, 2], [1, 2, 3, 4]), Buffer.from([0])]));
    await expect(readIdx(f)).rejects.toThrow(/long-images-idx3-ubyte: IDX file has 1 bytes more/);
  });

  it('image and label counts that do not match', async () => {
    const dir = join(bad, 'mismatch');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([4, 2, 2], images(4, 2, 2)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([3], [0, 1, 2]));
    await expect(loadDataset(`idx:${dir}`)).rejects.toThrow(/train-labels-idx1-ubyte: holds 3 labels but .*train-images-idx3-ubyte holds 4 images/);
  });

  it('a labels file, or non-byte images, where images are expected', async () => {
    const dir = join(root, 'plain');
    await expect(loadDataset(`idx:${join(dir, 'train-labels-idx1-ubyte')}`)).rejects.toThrow(/train-labels-idx1-ubyte: this is a labels file/);
    const f = join(bad, 'f32-images-idx3-ubyte');
    writeFileSync(f, Buffer.concat([idx([1, 1, 1], [], 0x0d), Buffer.alloc(4)]));
    await expect(loadIdxFiles({ images: f }, 'x')).rejects.toThrow(/f32-images-idx3-ubyte: IDX images must be unsigned bytes/);
    const flat = join(bad, 'flat-images-idx3-ubyte');
    writeFileSync(flat, idx([4], [1, 2, 3, 4]));
    await expect(loadIdxFiles({ images: flat }, 'x')).rejects.toThrow(/flat-images-idx3-ubyte: IDX images must be \[n, rows, cols\].*labels file/);
  });

  it('a folder without the standard names, or a missing path', () => {
    expect(() => resolveIdxPath(bad)).toThrow(/bad: no train-images-idx3-ubyte\[\.gz\] in this folder/);
    expect(() => resolveIdxPath(join(root, 'missing'))).toThrow(/missing: no such file or folder/);
  });
});

describe('Fashion-MNIST discovery', () => {
  const saved = process.env['XLAB_FASHION_MNIST_DIR'];
  afterEach(() => {
    if (saved === undefined) delete process.env['XLAB_FASHION_MNIST_DIR'];
    else process.env['XLAB_FASHION_MNIST_DIR'] = saved;
  });

  it("looks in Debian's location first, after an explicit override", () => {
    delete process.env['XLAB_FASHION_MNIST_DIR'];
    expect(fashionMnistDirs()[0]).toBe('/usr/share/datasets/fashion-mnist');
    process.env['XLAB_FASHION_MNIST_DIR'] = '/somewhere';
    expect(fashionMnistDirs().slice(0, 2)).toEqual(['/somewhere', '/usr/share/datasets/fashion-mnist']);
  });

  it('finds a Debian-style layout (gzipped standard names) in the first folder that has it', () => {
    const deb = join(root, 'usr-share-datasets', 'fashion-mnist');
    writeSplit(deb, 'train', 4, true);
    writeSplit(deb, 't10k', 2, true);
    const found = discoverFashionMnist('train', [join(root, 'empty'), deb]);
    expect(found).toEqual({ images: join(deb, 'train-images-idx3-ubyte.gz'), labels: join(deb, 'train-labels-idx1-ubyte.gz') });
    expect(discoverFashionMnist('test', [deb])!.images).toBe(join(deb, 't10k-images-idx3-ubyte.gz'));
    expect(discoverFashionMnist('train', [join(root, 'empty')])).toBeNull();
  });

  it("loads 'fashion-mnist' from the override folder, and 'fashion-mnist:PATH' / ':test'", async () => {
    const deb = join(root, 'usr-share-datasets', 'fashion-mnist');
    process.env['XLAB_FASHION_MNIST_DIR'] = deb;
    const train = await loadDataset('fashion-mnist');
    expect([train.name, train.n, train.flipAllowed]).toEqual(['fashion-mnist', 4, false]);
    expect(train.labelNames?.[9]).toBe('Ankle boot');
    expect((await loadDataset('fashion-mnist:test')).n).toBe(2);
    delete process.env['XLAB_FASHION_MNIST_DIR'];
    expect((await loadDataset(`fashion-mnist:${deb}`)).n).toBe(4);
  });

  it('says how to get it when it is missing', () => {
    const e = fashionMnistNotFound('train');
    expect(e.message).toMatch(/apt-get install dataset-fashion-mnist/);
    expect(e.message).toMatch(/\/usr\/share\/datasets\/fashion-mnist/);
    expect(e.message).toMatch(/fashion-mnist:\/path/);
  });

  const installed = findIdxFiles('/usr/share/datasets/fashion-mnist', 'train') !== null;
  it.runIf(installed)('loads the real Debian package when it is installed (60,000 28x28, resized to 16)', async () => {
    delete process.env['XLAB_FASHION_MNIST_DIR'];
    const ds = await loadDataset('fashion-mnist', { imageSize: 16 });
    expect([ds.n, ds.height, ds.width, ds.channels]).toEqual([60000, 16, 16, 1]);
    expect(ds.labels!.length).toBe(60000);
    expect(Math.max(...ds.labels!)).toBe(9);
  });
});

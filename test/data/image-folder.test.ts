import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/main/data/dataset';
import { listImageFiles, loadImageFolder } from '../../src/main/data/image-folder';

const root = mkdtempSync(join(tmpdir(), 'xlab-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function solid(w: number, h: number, rgb: [number, number, number]): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) b.set(rgb, i * 3);
  return b;
}

/** 40x20: red 10-pixel bands left and right of a green 20x20 centre, which a centre crop keeps. */
function banded(): Buffer {
  const w = 40, h = 20;
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b.set(x >= 10 && x < 30 ? [0, 255, 0] : [255, 0, 0], (y * w + x) * 3);
  return b;
}

const good = join(root, 'good');

beforeAll(async () => {
  mkdirSync(join(good, 'a'), { recursive: true });
  mkdirSync(join(good, 'b'), { recursive: true });
  await sharp(Buffer.alloc(16 * 16, 77), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(join(good, 'a', 'img0.png'));
  await sharp(solid(24, 16, [200, 100, 50]), { raw: { width: 24, height: 16, channels: 3 } }).jpeg({ quality: 100 }).toFile(join(good, 'a', 'img1.jpg'));
  await sharp(banded(), { raw: { width: 40, height: 20, channels: 3 } }).png().toFile(join(good, 'b', 'img2.png'));
  // RGBA with an uppercase extension: alpha is dropped
  const rgba = Buffer.alloc(12 * 12 * 4);
  for (let i = 0; i < 144; i++) rgba.set([10, 20, 30, 128], i * 4);
  await sharp(rgba, { raw: { width: 12, height: 12, channels: 4 } }).png().toFile(join(good, 'c.PNG'));
  writeFileSync(join(good, 'notes.txt'), 'not an image');
  writeFileSync(join(good, '.DS_Store'), 'hidden');
  writeFileSync(join(good, 'a', '._img0.png'), 'AppleDouble junk');
});

function pixel(ds: { pixels?: Uint8Array; height: number; width: number; channels: number }, k: number, y: number, x: number): number[] {
  const per = ds.height * ds.width * ds.channels;
  const o = k * per + (y * ds.width + x) * ds.channels;
  return Array.from(ds.pixels!.subarray(o, o + ds.channels));
}

function near(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(tol));
}

describe('image folders', () => {
  it('lists images recursively in path order, skipping hidden and non-image files', async () => {
    const { files, skipped } = await listImageFiles(good);
    expect(files).toEqual([join(good, 'a', 'img0.png'), join(good, 'a', 'img1.jpg'), join(good, 'b', 'img2.png'), join(good, 'c.PNG')]);
    expect(skipped).toBe(1);
  });

  it('decodes PNG and JPEG, centre-crops to a square and resizes, as RGB', async () => {
    const ds = await loadDataset(`folder:${good}`, { imageSize: 8 });
    expect([ds.n, ds.height, ds.width, ds.channels, ds.flipAllowed]).toEqual([4, 8, 8, 3, true]);
    expect(ds.name).toBe('good');
    for (const [y, x] of [[0, 0], [3, 4], [7, 7]] as const) {
      expect(pixel(ds, 0, y, x)).toEqual([77, 77, 77]); // grey PNG comes out as RGB
      near(pixel(ds, 1, y, x), [200, 100, 50], 3); // JPEG is lossy
      near(pixel(ds, 2, y, x), [0, 255, 0], 1); // the red side bands were cropped away
      expect(pixel(ds, 3, y, x)).toEqual([10, 20, 30]); // alpha dropped
    }
    // images are the bytes mapped to [-1, 1]
    expect(ds.images[0]).toBeCloseTo(77 / 127.5 - 1, 6);
  });

  it('converts to grey with the luma formula and defaults the size to the first image', async () => {
    const ds = await loadImageFolder(good, { channels: 1 });
    expect([ds.n, ds.height, ds.width, ds.channels]).toEqual([4, 16, 16, 1]);
    expect(pixel(ds, 0, 5, 5)).toEqual([77]);
    near(pixel(ds, 2, 8, 8), [150], 1); // (0, 255, 0) -> 150
  });

  it('is deterministic and honours limit (evenly spaced)', async () => {
    const a = await loadDataset(good, { imageSize: 4 }); // bare path: detected as a folder
    const b = await loadDataset(`folder:${good}`, { imageSize: 4 });
    expect(Buffer.from(a.pixels!).equals(Buffer.from(b.pixels!))).toBe(true);
    const two = await loadDataset(`folder:${good}`, { imageSize: 4, limit: 2 });
    expect(two.n).toBe(2);
    expect(Array.from(two.pixels!)).toEqual([...a.pixels!.subarray(0, 48), ...a.pixels!.subarray(96, 144)]);
  });

  it('an image-named file that is not an image is an error naming it', async () => {
    const dir = join(root, 'junk');
    mkdirSync(dir);
    await sharp(solid(8, 8, [1, 2, 3]), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(dir, 'a.png'));
    writeFileSync(join(dir, 'b.png'), 'this is text, not a PNG');
    await expect(loadDataset(`folder:${dir}`, { imageSize: 8 })).rejects.toThrow(/junk\/b\.png: cannot decode image.*replace or remove this file/);
  });

  it('a truncated JPEG is an error naming it', async () => {
    const dir = join(root, 'trunc');
    mkdirSync(dir);
    const f = join(dir, 'photo.jpg');
    await sharp(banded(), { raw: { width: 40, height: 20, channels: 3 } }).jpeg().toFile(f);
    const bytes = readFileSync(f);
    writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(loadDataset(`folder:${dir}`, { imageSize: 8 })).rejects.toThrow(/trunc\/photo\.jpg: cannot decode image/);
  });

  it('a folder without images says what it looked for', async () => {
    const dir = join(root, 'none');
    mkdirSync(dir);
    writeFileSync(join(dir, 'readme.md'), '#');
    await expect(loadDataset(`folder:${dir}`)).rejects.toThrow(/none: no images found \(looked recursively for \.png, \.jpg, \.jpeg; 1 other files were skipped\)/);
    await expect(loadDataset(`folder:${join(root, 'absent')}`)).rejects.toThrow(/absent: cannot read image folder/);
  });
});

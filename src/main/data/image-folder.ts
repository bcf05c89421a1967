/**
 * A folder tree of PNG/JPEG images (CelebA, FFHQ, LSUN exports, your own photos), decoded with
 * sharp, centre-cropped to a square and resized to a fixed size.
 *
 * Files are listed recursively and sorted by relative path (code-unit order, not locale order) so
 * the dataset, and therefore every batch of a seeded run, is identical on every machine. Hidden
 * files and files with other extensions are skipped (folders often carry LICENSE.txt, .DS_Store,
 * ._* AppleDouble files); a file with an image extension that does not decode is an error, because
 * silently dropping it would change the dataset.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { convertChannels } from './channels';
import { subsetIndices, type PixelSet } from './pixel-set';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

export interface ImageListing {
  files: string[];
  skipped: number;
}

/** All image files under `dir`, sorted by relative path; symlinked folders are followed once. */
export async function listImageFiles(dir: string): Promise<ImageListing> {
  const found: { rel: string; abs: string }[] = [];
  let skipped = 0;
  const seen = new Set<string>();
  async function walk(d: string): Promise<void> {
    const st = await stat(d);
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = join(d, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const t = await stat(abs).catch(() => null);
        isDir = !!t?.isDirectory();
        isFile = !!t?.isFile();
      }
      if (isDir) await walk(abs);
      else if (isFile && isImageName(e.name)) found.push({ rel: relative(dir, abs).split(sep).join('/'), abs });
      else if (isFile) skipped++;
    }
  }
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a folder');
  } catch (e) {
    throw new Error(`${dir}: cannot read image folder (${(e as Error).message})`, { cause: e });
  }
  await walk(dir);
  found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files: found.map((f) => f.abs), skipped };
}

/**
 * One image as size x size x channels bytes: centre square crop, then a bicubic (Catmull-Rom, as
 * PIL's BICUBIC) antialiased resize. Always decoded to sRGB first so grey output uses the same
 * luma formula as every other source (see channels.ts).
 */
export async function decodeImageFile(file: string, size: number, channels: 1 | 3): Promise<Uint8Array> {
  try {
    const meta = await sharp(file).metadata();
    const w = meta.width;
    const h = meta.height;
    if (!w || !h) throw new Error('image has no size');
    const side = Math.min(w, h);
    // sharp resizes in premultiplied alpha whatever order the calls are written in, which shifts
    // colours under partial transparency; drop alpha in a pass of its own (as PIL's convert('RGB')).
    let input = sharp(file);
    if (meta.hasAlpha) {
      const flat = await input.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      input = sharp(flat.data, { raw: { width: flat.info.width, height: flat.info.height, channels: flat.info.channels } });
    }
    const { data, info } = await input
      .extract({ left: Math.floor((w - side) / 2), top: Math.floor((h - side) / 2), width: side, height: side })
      .resize(size, size, { kernel: 'cubic', fit: 'fill' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || info.channels !== 3 || data.length !== size * size * 3) {
      throw new Error(`decoder returned ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    return convertChannels(new Uint8Array(data.buffer, data.byteOffset, data.length), size * size, 3, channels);
  } catch (e) {
    throw new Error(
      `${file}: cannot decode image (${(e as Error).message}); replace or remove this file, or rename it if it is not an image`,
      { cause: e },
    );
  }
}

export interface ImageFolderOptions {
  /** Output side in pixels; default: the shorter side of the first image. */
  size?: number;
  channels?: 1 | 3;
  /** Keep this many images, evenly spaced over the sorted list (see subsetIndices). */
  limit?: number;
  /** Images decoded at once (sharp runs them on libuv's thread pool). */
  concurrency?: number;
}

export async function loadImageFolder(dir: string, opts: ImageFolderOptions = {}): Promise<PixelSet> {
  const { files: all, skipped } = await listImageFiles(dir);
  if (all.length === 0) {
    throw new Error(`${dir}: no images found (looked recursively for ${IMAGE_EXTENSIONS.join(', ')}${skipped ? `; ${skipped} other files were skipped` : ''})`);
  }
  const pick = subsetIndices(all.length, opts.limit);
  const files = pick ? Array.from(pick, (i) => all[i]!) : all;
  const channels = opts.channels ?? 3;
  let size = opts.size;
  if (size === undefined) {
    try {
      const m = await sharp(files[0]!).metadata();
      size = Math.min(m.width ?? 0, m.height ?? 0);
    } catch (e) {
      throw new Error(`${files[0]}: cannot decode image (${(e as Error).message}); replace or remove this file`, { cause: e });
    }
    if (!size) throw new Error(`${files[0]}: cannot tell the image size; pass an explicit image size`);
  }
  const per = size * size * channels;
  const pixels = new Uint8Array(files.length * per);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const k = next++;
      pixels.set(await decodeImageFile(files[k]!, size, channels), k * per);
    }
  };
  const conc = Math.max(1, Math.min(opts.concurrency ?? 4, files.length));
  await Promise.all(Array.from({ length: conc }, worker));
  return {
    name: basename(dir),
    source: `${dir} (${files.length} of ${all.length} images${skipped ? `, ${skipped} non-image files skipped` : ''})`,
    n: files.length,
    height: size,
    width: size,
    channels,
    pixels,
  };
}

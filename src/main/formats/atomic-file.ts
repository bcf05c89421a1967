/**
 * Atomic file replacement: write a temp file in the same folder, fsync it, rename it over the target,
 * then fsync the folder. A reader (or a restarted app after a crash or power loss) sees either the
 * old complete file or the new complete file, never a torn one — which is what checkpoints, sample
 * tensors and grids referenced from the database rely on.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

function tempNameFor(path: string): string {
  // Same folder so the rename cannot cross filesystems; pid + random so concurrent writers never collide.
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function asBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename itself durable. Some platforms (Windows) cannot open a folder: the rename is
  // still atomic there, only its durability across power loss is weaker.
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // best effort, see above
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempNameFor(path);
  const bytes = asBytes(data);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
      off += bytesWritten;
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new Error(`could not write ${path} atomically: ${(e as Error).message}`, { cause: e });
  }
  await fsyncDir(dirname(path));
}

export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempNameFor(path);
  const bytes = asBytes(data);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
    }
    try { fs.unlinkSync(tmp); } catch { /* may not exist */ }
    throw new Error(`could not write ${path} atomically: ${(e as Error).message}`, { cause: e });
  }
  try {
    const dfd = fs.openSync(dirname(path), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch {
    // best effort, as in fsyncDir
  }
}

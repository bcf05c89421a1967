import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/main/formats/atomic-file';

const dir = mkdtempSync(join(tmpdir(), 'xlab-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('creates and replaces files without leaving temp files', async () => {
    const f = join(dir, 'ckpt.bin');
    writeFileSync(f, 'old');
    await writeFileAtomic(f, Uint8Array.from([1, 2, 3]));
    expect(Array.from(readFileSync(f))).toEqual([1, 2, 3]);
    await writeFileAtomic(f, 'text ✓');
    expect(readFileSync(f, 'utf8')).toBe('text ✓');
    writeFileAtomicSync(f, Uint8Array.from([9]));
    expect(Array.from(readFileSync(f))).toEqual([9]);
    expect(readdirSync(dir)).toEqual(['ckpt.bin']);
  });

  it('concurrent writers never produce a torn file', async () => {
    const f = join(dir, 'race.bin');
    const a = new Uint8Array(200_000).fill(1);
    const b = new Uint8Array(200_000).fill(2);
    await Promise.all([writeFileAtomic(f, a), writeFileAtomic(f, b), writeFileAtomic(f, a)]);
    const got = readFileSync(f);
    expect(got.length).toBe(200_000);
    expect(got.every((v) => v === got[0])).toBe(true);
    expect(readdirSync(dir).filter((x) => x.endsWith('.tmp'))).toEqual([]);
  });

  it('names the target when the folder does not exist, and leaves nothing behind', async () => {
    const f = join(dir, 'no-such-dir', 'x.bin');
    await expect(writeFileAtomic(f, 'x')).rejects.toThrow(/no-such-dir\/x\.bin/);
    expect(() => writeFileAtomicSync(f, 'x')).toThrow(/no-such-dir\/x\.bin/);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  assertSafeRelativePath,
  ensureRunDir,
  relativeToDataDir,
  resolveArtifact,
  resolveInDataDir,
  runDirRelative,
  runFileRelative,
} from '../../src/main/store/artifacts';
import { openStore } from '../../src/main/store/store';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-artifacts-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('relative artifact paths', () => {
  it('accepts ordinary run files', () => {
    expect(assertSafeRelativePath('runs/01abc/ckpt-000100.xlck')).toBe('runs/01abc/ckpt-000100.xlck');
    expect(runDirRelative('01abc')).toBe('runs/01abc');
    expect(runFileRelative('01abc', 'samples/grid.png')).toBe('runs/01abc/samples/grid.png');
  });

  it.each([
    ['..', 'parent'],
    ['../secret', 'parent'],
    ['runs/../../etc/passwd', 'parent inside'],
    ['runs/./x', 'dot segment'],
    ['/etc/passwd', 'posix absolute'],
    ['C:/Windows/win.ini', 'drive letter'],
    ['C:evil', 'drive-relative'],
    ['\\\\server\\share\\x', 'UNC'],
    ['runs\\..\\..\\x', 'backslash traversal'],
    ['runs//x', 'empty segment'],
    ['runs/x\u0000.png', 'NUL'],
    ['runs/CON', 'Windows device name'],
    ['runs/x.', 'trailing dot'],
    ['', 'empty'],
  ])('rejects %j (%s)', (p) => {
    expect(() => assertSafeRelativePath(p)).toThrow(/unsafe artifact path/);
  });

  it('refuses run ids that are not plain folder names', () => {
    for (const id of ['..', 'a/b', 'A', '', 'x'.repeat(65), 'a\\b']) {
      expect(() => runDirRelative(id)).toThrow(/cannot be used as a folder name/);
    }
    expect(() => runFileRelative('abc', '../../x')).toThrow(/unsafe/);
  });

  it('resolves inside the data dir and never outside it', () => {
    const dataDir = tmp();
    expect(resolveInDataDir(dataDir, 'runs/a/b.png')).toBe(path.join(dataDir, 'runs', 'a', 'b.png'));
    expect(() => resolveInDataDir(dataDir, '../x')).toThrow();
    expect(relativeToDataDir(dataDir, path.join(dataDir, 'runs', 'a', 'b.png'))).toBe('runs/a/b.png');
    expect(() => relativeToDataDir(dataDir, path.join(dataDir, '..', 'elsewhere'))).toThrow(/not inside/);
  });

  it('refuses a symlink that leads out of the data dir', () => {
    const dataDir = tmp();
    const outside = tmp();
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    const runDir = ensureRunDir(dataDir, 'abc');
    expect(fs.statSync(runDir).isDirectory()).toBe(true);
    fs.symlinkSync(outside, path.join(runDir, 'link'));
    expect(() => resolveInDataDir(dataDir, 'runs/abc/link/secret.txt')).toThrow(/through a link/);
    // a link that stays inside is fine
    fs.mkdirSync(path.join(dataDir, 'runs', 'other'));
    fs.symlinkSync(path.join(dataDir, 'runs', 'other'), path.join(runDir, 'inside'));
    expect(resolveInDataDir(dataDir, 'runs/abc/inside/f')).toBe(path.join(runDir, 'inside', 'f'));
  });
});

describe('opaque artifact ids', () => {
  it('maps store-issued ids to files and nothing else', () => {
    const dataDir = tmp();
    const store = openStore(dataDir);
    try {
      const run = store.createRun({ name: 'r', kind: 'train', config: {}, seed: 1 });
      const dir = ensureRunDir(dataDir, run.id);
      fs.writeFileSync(path.join(dir, 'ckpt-10.xlck'), 'x');
      const ckpt = store.addCheckpoint({ runId: run.id, step: 10, path: `${run.dir}/ckpt-10.xlck`, bytes: 1 });
      expect(ckpt.artifactId).toMatch(/^a[0-9a-f]{24}$/);
      expect(resolveArtifact(store, dataDir, ckpt.artifactId!)).toBe(path.join(dir, 'ckpt-10.xlck'));

      // Ids are not paths: anything that is not an issued id is simply unknown.
      expect(resolveArtifact(store, dataDir, `${run.dir}/ckpt-10.xlck`)).toBeUndefined();
      expect(resolveArtifact(store, dataDir, '../../etc/passwd')).toBeUndefined();
      expect(resolveArtifact(store, dataDir, 'a' + '0'.repeat(24))).toBeUndefined();

      // The store refuses unsafe paths before they are ever recorded.
      expect(() => store.addCheckpoint({ runId: run.id, step: 20, path: '../outside.xlck' })).toThrow(/unsafe/);
      expect(() =>
        store.registerArtifact({ runId: run.id, relPath: '/etc/passwd', kind: 'other' }),
      ).toThrow(/unsafe/);
      expect(() =>
        store.addSampleSet({ runId: run.id, sampler: { name: 'ddim' }, seed: 1, count: 1, gridPath: 'runs/../../x.png' }),
      ).toThrow(/unsafe/);
      expect(store.listCheckpoints(run.id)).toHaveLength(1);

      // Even a row tampered with after the fact cannot be resolved outside the data dir.
      const evil = { getArtifact: () => ({ relPath: '../../etc/passwd' }) };
      expect(() => resolveArtifact(evil, dataDir, 'a' + '1'.repeat(24))).toThrow(/unsafe/);
    } finally {
      store.close();
    }
  });
});

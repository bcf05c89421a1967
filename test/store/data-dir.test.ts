import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DataDirError,
  defaultDataDir,
  ensureDataDir,
  resolveDataDir,
  resolveDataDirPath,
} from '../../src/main/store/data-dir';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-datadir-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('resolveDataDirPath', () => {
  const home = '/home/ada';

  it('prefers --data-dir over XLAB_HOME over the platform default', () => {
    const env = { XLAB_HOME: '/srv/xlab', XDG_DATA_HOME: '/xdg' };
    expect(resolveDataDirPath({ dataDirArg: '/data/lab', env, homeDir: home, platform: 'linux' })).toEqual({
      path: '/data/lab',
      source: 'argument',
    });
    expect(resolveDataDirPath({ env, homeDir: home, platform: 'linux' })).toEqual({ path: '/srv/xlab', source: 'env' });
    expect(resolveDataDirPath({ env: { XDG_DATA_HOME: '/xdg' }, homeDir: home, platform: 'linux' })).toEqual({
      path: '/xdg/exposure-lab',
      source: 'default',
    });
  });

  it('ignores empty values, resolves relative ones against cwd and expands ~', () => {
    expect(
      resolveDataDirPath({ dataDirArg: '  ', env: { XLAB_HOME: '' }, homeDir: home, platform: 'linux' }).source,
    ).toBe('default');
    expect(resolveDataDirPath({ dataDirArg: 'lab', cwd: '/work', env: {}, homeDir: home }).path).toBe('/work/lab');
    expect(resolveDataDirPath({ dataDirArg: '~/lab', env: {}, homeDir: home }).path).toBe('/home/ada/lab');
    expect(resolveDataDirPath({ env: { XLAB_HOME: '~/x' }, homeDir: home }).path).toBe('/home/ada/x');
  });

  it('follows each platform convention', () => {
    expect(defaultDataDir('linux', {}, home)).toBe('/home/ada/.local/share/exposure-lab');
    expect(defaultDataDir('linux', { XDG_DATA_HOME: '/d' }, home)).toBe('/d/exposure-lab');
    // XDG: relative values are invalid and must be ignored
    expect(defaultDataDir('linux', { XDG_DATA_HOME: 'rel/d' }, home)).toBe('/home/ada/.local/share/exposure-lab');
    expect(defaultDataDir('darwin', {}, '/Users/ada')).toBe('/Users/ada/Library/Application Support/Exposure Lab');
    expect(defaultDataDir('win32', { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, 'C:\\Users\\ada')).toBe(
      'C:\\Users\\ada\\AppData\\Roaming\\Exposure Lab',
    );
    expect(defaultDataDir('win32', {}, 'C:\\Users\\ada')).toBe('C:\\Users\\ada\\AppData\\Roaming\\Exposure Lab');
  });
});

describe('ensureDataDir', () => {
  it('creates the folder, runs/ and reports the layout', () => {
    const root = path.join(tmp(), 'a', 'b', 'lab');
    const layout = ensureDataDir(root);
    expect(layout.root).toBe(root);
    expect(layout.dbPath).toBe(path.join(root, 'lab.sqlite'));
    expect(fs.statSync(layout.runsDir).isDirectory()).toBe(true);
    // the write probe leaves nothing behind
    expect(fs.readdirSync(root)).toEqual(['runs']);
  });

  it('resolveDataDir goes through the same checks', () => {
    const root = path.join(tmp(), 'from-env');
    const layout = resolveDataDir({ env: { XLAB_HOME: root } });
    expect(layout.source).toBe('env');
    expect(fs.existsSync(layout.runsDir)).toBe(true);
  });

  // Tests run as root, and chmod does not stop root. A path *below a regular file* fails mkdir for
  // everyone (ENOTDIR), which is the portable way to get an unwritable data dir here. A truly
  // read-only file system is exercised in disk.test.ts with a private read-only tmpfs mount.
  it('names the path and the way out when the folder cannot be created', () => {
    const file = path.join(tmp(), 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const target = path.join(file, 'lab');
    let err: unknown;
    try {
      ensureDataDir(target, 'env');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataDirError);
    const msg = (err as Error).message;
    expect(msg).toContain(target);
    expect(msg).toContain('XLAB_HOME');
    expect(msg).toContain('--data-dir');
    expect(msg).toMatch(/from \$XLAB_HOME/);
    expect(msg).toMatch(/not a folder/);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it('refuses an existing file in place of the folder', () => {
    const file = path.join(tmp(), 'lab');
    fs.writeFileSync(file, 'keep me');
    expect(() => ensureDataDir(file)).toThrow(/exists and is not a folder/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });
});

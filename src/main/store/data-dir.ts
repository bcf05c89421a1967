/**
 * Where Exposure Lab keeps its history: `--data-dir` > $XLAB_HOME > the platform's per-user data
 * folder. Layout:
 *
 *   <data dir>/lab.sqlite        run history (plus -wal/-shm while open)
 *   <data dir>/runs/<run-id>/    that run's artifacts (checkpoints, sample tensors, grids, logs)
 *
 * Electron's app.getPath('userData') is deliberately not used: the CLI, the HTTP server and the
 * desktop app must agree on one folder without importing electron, and the Electron name would
 * depend on the packaged product name.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RUNS_SUBDIR } from './artifacts';
import { StoreError, type StoreErrorCode } from './types';

export const DB_FILE_NAME = 'lab.sqlite';
export const ENV_VAR = 'XLAB_HOME';

/**
 * Thrown when the data dir cannot be created or written; the message says how to pick another.
 * A StoreError, so callers handle one error type (code NOT_WRITABLE, DISK_FULL or IO).
 */
export class DataDirError extends StoreError {
  readonly path: string;
  constructor(code: StoreErrorCode, message: string, dirPath: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DataDirError';
    this.path = dirPath;
  }
}

export type DataDirSource = 'argument' | 'env' | 'default';

export interface DataDirLayout {
  /** Absolute path of the data directory. */
  root: string;
  dbPath: string;
  runsDir: string;
  /** How it was chosen, when known (openStore is handed a bare path). */
  source?: DataDirSource;
}

export interface ResolveDataDirOptions {
  /** The value of `--data-dir`, if given. */
  dataDirArg?: string | undefined;
  /** Injected for tests; defaults to process.env / process.platform / os.homedir(). */
  env?: Readonly<Record<string, string | undefined>>;
  platform?: NodeJS.Platform;
  homeDir?: string;
  cwd?: string;
}

function nonEmpty(v: string | undefined): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

/** The per-user default, following each platform's convention for application data. */
export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: Readonly<Record<string, string | undefined>> = process.env,
  homeDir: string = os.homedir(),
): string {
  // path.win32 / path.posix rather than path: the answer must not depend on the host (tests).
  if (platform === 'win32') {
    const appData = nonEmpty(env.APPDATA) ? env.APPDATA : path.win32.join(homeDir, 'AppData', 'Roaming');
    return path.win32.join(appData, 'Exposure Lab');
  }
  if (platform === 'darwin') {
    return path.posix.join(homeDir, 'Library', 'Application Support', 'Exposure Lab');
  }
  // XDG says relative values must be ignored.
  const xdg = env.XDG_DATA_HOME;
  const base = nonEmpty(xdg) && path.posix.isAbsolute(xdg) ? xdg : path.posix.join(homeDir, '.local', 'share');
  return path.posix.join(base, 'exposure-lab');
}

function expandHome(p: string, homeDir: string): string {
  // `--data-dir=~/x` reaches us unexpanded (the shell only expands a leading ~ of a word).
  if (p === '~') return homeDir;
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(homeDir, p.slice(2));
  return p;
}

/** Picks the data dir path without touching the disk. */
export function resolveDataDirPath(opts: ResolveDataDirOptions = {}): { path: string; source: DataDirSource } {
  const env = opts.env ?? process.env;
  const homeDir = opts.homeDir ?? os.homedir();
  const cwd = opts.cwd ?? process.cwd();
  if (nonEmpty(opts.dataDirArg)) {
    return { path: path.resolve(cwd, expandHome(opts.dataDirArg, homeDir)), source: 'argument' };
  }
  const fromEnv = env[ENV_VAR];
  if (nonEmpty(fromEnv)) return { path: path.resolve(cwd, expandHome(fromEnv, homeDir)), source: 'env' };
  return { path: defaultDataDir(opts.platform ?? process.platform, env, homeDir), source: 'default' };
}

function describeSource(source: DataDirSource | undefined): string {
  switch (source) {
    case 'argument':
      return ' (from --data-dir)';
    case 'env':
      return ` (from $${ENV_VAR})`;
    case 'default':
      return ' (the default location)';
    default:
      return '';
  }
}

function codeFor(err: unknown): StoreErrorCode {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'DISK_FULL';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST') {
    return 'NOT_WRITABLE';
  }
  return 'IO';
}

function reasonFor(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk is full';
    case 'ENOTDIR':
      return 'a parent of it is a file, not a folder';
    case 'EEXIST':
      return 'it exists and is not a folder';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Recursive mkdir reports ENOENT when it cannot create a missing ancestor (seen on a read-only
 * mount), which hides the real cause; the nearest existing ancestor tells it.
 */
function betterMkdirError(root: string, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return err;
  let dir = path.dirname(root);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (accessErr) {
    return accessErr;
  }
  return err;
}

/**
 * Creates the data dir (and runs/) if missing and proves it is writable by creating and removing a
 * probe file: access(W_OK) is not enough, since it says yes to root on a read-only mount's
 * permission bits and cannot see a full disk's quota.
 */
export function ensureDataDir(dir: string, source?: DataDirSource): DataDirLayout {
  const root = path.resolve(dir);
  const fail = (err: unknown): never => {
    throw new DataDirError(
      codeFor(err),
      `Exposure Lab cannot use the data directory ${root}${describeSource(source)}: ${reasonFor(err)}. ` +
        `Choose a writable folder with --data-dir <path> or the ${ENV_VAR} environment variable` +
        (source === 'default' ? '.' : ', or fix the permissions of this one.'),
      root,
      { cause: err },
    );
  };
  try {
    const st = fs.statSync(root, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) fail(Object.assign(new Error('not a directory'), { code: 'EEXIST' }));
    try {
      fs.mkdirSync(root, { recursive: true });
    } catch (err) {
      throw betterMkdirError(root, err);
    }
    fs.mkdirSync(path.join(root, RUNS_SUBDIR), { recursive: true });
    const probe = path.join(root, `.xlab-write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fd = fs.openSync(probe, 'wx');
    try {
      fs.writeSync(fd, 'ok');
    } finally {
      fs.closeSync(fd);
      fs.rmSync(probe, { force: true });
    }
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    fail(err);
  }
  return layoutOf(root, source);
}

/** Paths only, for read-only use of an existing data dir. */
export function layoutOf(dir: string, source?: DataDirSource): DataDirLayout {
  const root = path.resolve(dir);
  const layout: DataDirLayout = { root, dbPath: path.join(root, DB_FILE_NAME), runsDir: path.join(root, RUNS_SUBDIR) };
  if (source) layout.source = source;
  return layout;
}

/** The CLI / server entry point: resolve by precedence, then create and check. */
export function resolveDataDir(opts: ResolveDataDirOptions = {}): DataDirLayout {
  const { path: p, source } = resolveDataDirPath(opts);
  return ensureDataDir(p, source);
}

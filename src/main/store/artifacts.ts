/**
 * Artifact paths under the data directory. Path-only on purpose: writing files atomically is the
 * formats/ layer's job; this module decides where files live and refuses anything that would
 * escape the data dir.
 *
 * The database stores artifact paths relative to the data dir with forward slashes
 * (`runs/<run-id>/ckpt-001000.xlck`), so a data dir can be moved or copied between machines and
 * operating systems. The UI never sees or sends a path: it receives opaque artifact ids from the
 * store (the `artifacts` table) and asks for files by id; `resolveArtifact` maps an id back to an
 * absolute path and re-checks it, so even a tampered database row cannot point outside the data dir.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ARTIFACT_ID_PATTERN } from './ids';
import { StoreError } from './types';

export const RUNS_SUBDIR = 'runs';

/** A run id as it may appear in a folder name: no separators, no dots, nothing case-sensitive. */
const RUN_DIR_NAME = /^[0-9a-z][0-9a-z_-]{0,63}$/;

// Windows device names are reserved in every directory, with any extension.
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * Validates a stored relative path and returns it unchanged. Rejects: empty, absolute (POSIX or
 * Windows, including drive letters and UNC), backslashes (a separator on Windows, so
 * `runs\..\..\x` would escape there), `.`/`..`/empty segments, NUL and other control characters,
 * and Windows-reserved names or trailing dots/spaces (which Windows silently strips, aliasing
 * another name).
 */
export function assertSafeRelativePath(rel: string): string {
  const bad = (why: string): never => {
    throw new StoreError('INVALID', `unsafe artifact path ${JSON.stringify(rel)}: ${why}`);
  };
  if (typeof rel !== 'string' || rel.length === 0) bad('empty');
  if (rel.length > 1024) bad('too long');
  if (/[\u0000-\u001f]/.test(rel)) bad('control character');
  if (rel.includes('\\')) bad('backslash (use forward slashes)');
  if (rel.startsWith('/') || path.win32.isAbsolute(rel) || /^[a-zA-Z]:/.test(rel)) bad('absolute path');
  for (const seg of rel.split('/')) {
    if (seg === '') bad('empty path segment');
    if (seg === '.' || seg === '..') bad(`"${seg}" segment`);
    if (WINDOWS_RESERVED.test(seg)) bad(`reserved name "${seg}"`);
    if (/[. ]$/.test(seg)) bad('segment ends with a dot or space');
    if (/[<>:"|?*]/.test(seg)) bad('character not allowed on Windows');
  }
  return rel;
}

/** Relative folder of a run's artifacts, as stored in runs.dir. */
export function runDirRelative(runId: string): string {
  if (!RUN_DIR_NAME.test(runId)) {
    throw new StoreError('INVALID', `run id ${JSON.stringify(runId)} cannot be used as a folder name`);
  }
  return `${RUNS_SUBDIR}/${runId}`;
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Absolute path of a stored relative path. Besides the lexical checks, if the target (or its
 * nearest existing ancestor) exists, its real path must still be inside the data dir's real path:
 * a symlink planted under runs/ must not lead out of it.
 */
export function resolveInDataDir(dataDir: string, rel: string): string {
  assertSafeRelativePath(rel);
  const root = path.resolve(dataDir);
  const abs = path.resolve(root, ...rel.split('/'));
  if (!isInside(root, abs) || abs === root) {
    throw new StoreError('INVALID', `artifact path ${JSON.stringify(rel)} resolves outside ${root}`);
  }
  let probe = abs;
  while (!fs.existsSync(probe) && probe !== root) probe = path.dirname(probe);
  let realRoot: string;
  let realProbe: string;
  try {
    realRoot = fs.realpathSync(root);
    realProbe = fs.realpathSync(probe);
  } catch {
    return abs; // the data dir itself does not exist yet: nothing can be a symlink
  }
  if (!isInside(realRoot, realProbe)) {
    throw new StoreError('INVALID', `artifact path ${JSON.stringify(rel)} leads outside ${root} through a link`);
  }
  return abs;
}

/** Inverse of resolveInDataDir: the portable relative form of an absolute path inside the data dir. */
export function relativeToDataDir(dataDir: string, absPath: string): string {
  const root = path.resolve(dataDir);
  const abs = path.resolve(absPath);
  if (!isInside(root, abs) || abs === root) {
    throw new StoreError('INVALID', `${abs} is not inside the data dir ${root}`);
  }
  return assertSafeRelativePath(path.relative(root, abs).split(path.sep).join('/'));
}

/** Creates `<dataDir>/runs/<runId>/` (idempotent) and returns its absolute path. */
export function ensureRunDir(dataDir: string, runId: string): string {
  const abs = resolveInDataDir(dataDir, runDirRelative(runId));
  fs.mkdirSync(abs, { recursive: true });
  return abs;
}

/** Relative path of a file inside a run's folder, validated. */
export function runFileRelative(runId: string, fileName: string): string {
  return assertSafeRelativePath(`${runDirRelative(runId)}/${fileName}`);
}

export interface ArtifactLookup {
  getArtifact(id: string): { relPath: string } | undefined;
}

/**
 * What the HTTP server / app:// protocol handler calls with an id from the UI. Returns undefined
 * for ids that are malformed or unknown (a 404, never an exception carrying a path back).
 */
export function resolveArtifact(store: ArtifactLookup, dataDir: string, id: string): string | undefined {
  if (typeof id !== 'string' || !ARTIFACT_ID_PATTERN.test(id)) return undefined;
  const row = store.getArtifact(id);
  if (!row) return undefined;
  return resolveInDataDir(dataDir, row.relPath);
}

/** Where the e2e tests find the checkout and their own build of the app. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The e2e builds (main, preload, renderer), apart from out/ which `npm run build` owns. Each
 * build gets a folder of its own, named in CURRENT_FILE: a run keeps serving the build it started
 * with even if another run rebuilds meanwhile (a rebuild in place would delete the lazily loaded
 * chunks under a page that is still open).
 */
export const E2E_BUILD_ROOT = process.env['XLAB_E2E_BUILD_DIR'] ?? path.join(ROOT, 'node_modules', '.cache', 'xlab-e2e');
const CURRENT_FILE = path.join(E2E_BUILD_ROOT, 'current');
/** Set by global-setup.ts for the workers of this run. */
export const BUILD_ENV = 'XLAB_E2E_BUILD';

/** The build this run uses: the one global setup chose, else the newest one, else none. */
export function currentBuild(): string | null {
  const chosen = process.env[BUILD_ENV];
  if (chosen) return chosen;
  try {
    const dir = fs.readFileSync(CURRENT_FILE, 'utf8').trim();
    return fs.existsSync(path.join(dir, 'renderer', 'index.html')) ? dir : null;
  } catch {
    return null;
  }
}

export function setCurrentBuild(dir: string): void {
  fs.writeFileSync(CURRENT_FILE, dir + '\n');
}

/** Where the electron package says its binary is, without require('electron') (which would try to download it). */
export function electronBinary(): { path: string | null; why: string } {
  const pkg = path.join(ROOT, 'node_modules', 'electron');
  const pathFile = path.join(pkg, 'path.txt');
  if (!fs.existsSync(pathFile)) return { path: null, why: 'no Electron binary on this machine (node_modules/electron/path.txt missing: the binary was never downloaded)' };
  const bin = path.join(pkg, 'dist', fs.readFileSync(pathFile, 'utf8').trim());
  if (!fs.existsSync(bin)) return { path: null, why: `no Electron binary on this machine (${bin} does not exist)` };
  return { path: bin, why: '' };
}


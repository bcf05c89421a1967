import { electronBinary } from './paths';
/**
 * Builds the app for the e2e tests into a folder of its own (see paths.ts), so neither a build in
 * out/ nor another e2e run's rebuild can change what this run serves. A new build is made when the
 * newest one is missing or older than any source of the renderer or of src/shared;
 * XLAB_E2E_NO_BUILD=1 skips it (out/renderer is then served unless an e2e build exists).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILD_ENV, E2E_BUILD_ROOT, ROOT, currentBuild, setCurrentBuild } from './paths';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds older than an hour are no longer served by any run. */
function removeOldBuilds(keep: string): void {
  const cutoff = Date.now() - 3600_000;
  for (const entry of fs.readdirSync(E2E_BUILD_ROOT, { withFileTypes: true })) {
    const dir = path.join(E2E_BUILD_ROOT, entry.name);
    if (!entry.isDirectory() || !entry.name.startsWith('build-') || dir === keep) continue;
    if (fs.statSync(dir).mtimeMs < cutoff) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export default function globalSetup(): void {
  // The list reporter shows a skipped test without its reason: say it once here.
  const electron = electronBinary();
  if (electron.path === null) process.stderr.write(`e2e/electron.spec.ts will be skipped: ${electron.why}; the browser-mode specs cover the same screens\n`);
  if (process.env['XLAB_E2E_NO_BUILD']) return;
  fs.mkdirSync(E2E_BUILD_ROOT, { recursive: true });
  const sources = Math.max(
    newestMtime(path.join(ROOT, 'src', 'renderer')),
    newestMtime(path.join(ROOT, 'src', 'shared')),
    fs.statSync(path.join(ROOT, 'electron.vite.config.ts')).mtimeMs,
  );
  const existing = currentBuild();
  if (existing && fs.statSync(path.join(existing, 'renderer', 'index.html')).mtimeMs >= sources) {
    process.env[BUILD_ENV] = existing;
    return;
  }
  const dir = path.join(E2E_BUILD_ROOT, `build-${Date.now()}-${process.pid}`);
  const r = spawnSync('npx', ['electron-vite', 'build', '--outDir', dir, '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building the app for the e2e tests failed (npx electron-vite build exited with ${r.status})`);
  setCurrentBuild(dir);
  process.env[BUILD_ENV] = dir;
  removeOldBuilds(dir);
}

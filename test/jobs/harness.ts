/**
 * Shared by the job, API and CLI tests: temp data dirs, the tiny training config, polling, and the
 * history checks every fault test makes (database integrity, metric steps).
 */
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainConfigInput } from '../../src/shared/config';
import type { Store } from '../../src/main/store/store';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const dirs: string[] = [];
export function tmpDataDir(prefix = 'xlab-jobs-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function removeTmpDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** The tiny model: a step takes well under a second on one core. */
export function tinyConfig(over: TrainConfigInput = {}): TrainConfigInput {
  return {
    preset: 'tiny-test',
    dataset: 'mnist',
    imageSize: 16,
    batch: 4,
    steps: 8,
    checkpointEvery: 3,
    logEvery: 1,
    seed: 1,
    backend: 'wasm',
    ...over,
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 90_000,
  intervalMs = 100,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function integrityCheck(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** Steps of a run's loss series, in order. */
export function lossSteps(store: Store, runId: string): number[] {
  return store.metricSeries(runId, 'loss').step;
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** Small seeded generator, so "random moments" are the same on every run of the suite. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What an `xlab` child process printed and how it ended. */
export interface XlabResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `xlab` as a user does: bin/xlab.mjs in a child process (XLAB_HOME unset unless given). */
export function runXlab(args: string[], opts: { env?: Record<string, string | undefined>; onStart?: (pid: number) => void } = {}): Promise<XlabResult> {
  const env = { ...process.env, XLAB_HOME: undefined, ...opts.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'xlab.mjs'), ...args], {
      cwd: repoRoot,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    opts.onStart?.(child.pid!);
  });
}

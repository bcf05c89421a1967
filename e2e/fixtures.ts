/**
 * The e2e fixture: a real `xlab serve` (the same engine as the desktop app: store, job
 * supervisor, HTTP + SSE) in a fresh temporary data dir, one per worker, and helpers to reach it.
 *
 *   import { test, expect } from './fixtures';
 *   test('…', async ({ page, server }) => {
 *     await page.goto(server.url + '#/runs');           // the UI
 *     await server.api.listRuns({ limit: 5 });           // the LabApi, from the test (setup, checks)
 *     await snap(page, 'runs');                          // test-results/ (and docs/screenshots/runs.png, see snap)
 *   });
 *
 * The page served is this run's e2e build of the renderer (global-setup.ts builds it under
 * node_modules/.cache/xlab-e2e when the sources are newer), not out/.
 *
 * The server lives for the worker (workers: 1, so for the whole run): files share one data dir.
 * Give experiments unique names (uniqueName()) and filter by them instead of counting all runs.
 * Worker options: serverConcurrency (jobs at once, default 2).
 */
import { test as base, expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LabCallable } from '../src/shared/api';
import { LAB_METHOD_PARAMS, type LabMethod } from '../src/shared/lab-methods';
import { ROOT, currentBuild } from './paths';

export { ROOT };

export interface LabServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  token: string | null;
  dataDir: string;
  /** The LabApi over HTTP, for setup and checks from the test process. */
  api: LabCallable;
  /** What the server printed on stderr so far (job failures show up here). */
  stderr(): string;
}

/** A LabApi client for Node: one POST per call, arguments keyed by parameter name. */
export function httpApi(url: string, token: string | null): LabCallable {
  const client: Record<string, unknown> = {};
  for (const method of Object.keys(LAB_METHOD_PARAMS) as LabMethod[]) {
    client[method] = async (...args: unknown[]) => {
      const body: Record<string, unknown> = {};
      (LAB_METHOD_PARAMS[method] as readonly string[]).forEach((name, i) => {
        if (args[i] !== undefined) body[name] = args[i];
      });
      const res = await fetch(new URL(`api/${method}`, url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      const parsed: unknown = text ? JSON.parse(text) : null;
      if (!res.ok) {
        const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
        throw new Error(`${method}: ${e?.code ?? res.status}: ${e?.message ?? text}`);
      }
      return parsed;
    };
  }
  return client as unknown as LabCallable;
}

const E2E_CLASSIFIER = JSON.stringify({ steps: 150, trainCount: 3000 });

/** Starts `xlab serve --json` on a free port; resolves once it printed where it listens. */
export async function startLabServer(opts: { dataDir: string; concurrency?: number; jobs?: boolean }): Promise<{ server: LabServer; stop: () => Promise<void> }> {
  // The page comes from the e2e build (global-setup.ts), unless it was skipped.
  const build = currentBuild();
  const args = ['bin/xlab.mjs', 'serve', '--data-dir', opts.dataDir, '--port', '0', '--json'];
  if (build) args.push('--renderer', path.join(build, 'renderer'));
  if (opts.jobs === false) args.push('--no-jobs');
  else args.push('--concurrency', String(opts.concurrency ?? 2));
  // The MNIST feature network is trained on first use: a small one (seconds, not minutes) keeps the
  // suite fast; its id records the settings, so its scores are labelled as what they are.
  const env = { ...process.env, XLAB_CLASSIFIER_TRAINING: process.env.XLAB_CLASSIFIER_TRAINING ?? E2E_CLASSIFIER };
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    // Keep the tail only: a long run logs a lot.
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const info = await new Promise<{ url: string; token: string | null; dataDir: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`xlab serve did not start within 60 s; stderr:\n${stderr}`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split('\n').find((l) => l.trim().startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`xlab serve exited with code ${code} before listening; stderr:\n${stderr}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // SIGTERM: running jobs write a checkpoint and stop, then the server exits.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  return { server: { ...info, api: httpApi(info.url, info.token), stderr: () => stderr }, stop };
}

let counter = 0;
/** A name no other test in this run uses (experiment names must be unique). */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/**
 * A screenshot at the viewport size (1280x800) into the test's output folder; with
 * XLAB_UPDATE_DOCS_SCREENSHOTS=1 also copied to docs/screenshots/<name>.png as the documentation's
 * current picture (off by default, so a test run leaves the checkout as it was).
 */
export async function snap(page: Page, name: string): Promise<string> {
  const file = base.info().outputPath(`${name}.png`);
  await page.screenshot({ path: file, fullPage: false, animations: 'disabled' });
  if (process.env['XLAB_UPDATE_DOCS_SCREENSHOTS'] === '1') {
    const docs = path.join(ROOT, 'docs', 'screenshots');
    fs.mkdirSync(docs, { recursive: true });
    fs.copyFileSync(file, path.join(docs, `${name}.png`));
  }
  return file;
}

export const test = base.extend<{ server: LabServer }, { serverConcurrency: number; labServer: LabServer }>({
  serverConcurrency: [2, { option: true, scope: 'worker' }],
  labServer: [
    async ({ serverConcurrency }, use) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-e2e-'));
      const { server, stop } = await startLabServer({ dataDir, concurrency: serverConcurrency });
      try {
        await use(server);
      } finally {
        await stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  server: async ({ labServer, page }, use) => {
    // A page error is a bug in the UI: fail the test that caused it.
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await use(labServer);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  },
});

export { expect };

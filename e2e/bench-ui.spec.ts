/**
 * Benchmark, not a test (tagged @bench: left out of `npm run e2e`):
 *
 *   XLAB_BENCH=1 npx playwright test --grep @bench
 *
 * The Runs screen with 10,000 runs in the store (seeded directly through the store API, as
 * scripts/bench-api.ts does): time from navigation start to the first run row on screen, and
 * from a jump to the end of the list to its last row on screen; and, as the baseline that shows
 * what the page costs by itself on this machine right now, the same page over an empty store
 * (navigation start to its "no runs yet" message). Prints one JSON line and writes
 * it to test-results/bench-ui.json. Timings depend on the machine and its load; compare runs on
 * the same machine only.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrainConfig } from '../src/shared/config';
import { openStore } from '../src/main/store/store';
import { ROOT, expect, startLabServer, test } from './fixtures';

const RUNS = Number(process.env['XLAB_BENCH_RUNS'] ?? 10_000);
const REPEAT = Number(process.env['XLAB_BENCH_REPEAT'] ?? 5);

function seed(dir: string): { oldest: string } {
  const store = openStore(dir);
  try {
    const statuses = ['done', 'done', 'failed', 'interrupted', 'cancelled', 'paused'] as const;
    const exp = store.createExperiment({ name: 'bench' });
    let oldest = '';
    store.transaction(() => {
      for (let i = 0; i < RUNS; i++) {
        const objective = i % 2 ? 'adm-ip' : 'adm';
        const config = parseTrainConfig({ objective, seed: i, steps: 2000 + (i % 7) * 1000, preset: 'bench-s-mnist16' });
        const run = store.createRun({
          name: `${objective} seed ${i}`,
          kind: 'train',
          experimentId: i % 10 === 0 ? exp.id : null,
          objective,
          gamma: i % 2 ? 0.1 : null,
          dataset: 'mnist',
          preset: config.preset,
          config: { ...config },
          seed: i,
          status: statuses[i % statuses.length],
          stepsDone: 1000,
          stepsPlanned: config.steps,
          createdAt: 1_700_000_000_000 + i * 60_000,
          backend: 'wasm',
          machine: { hostname: 'bench', platform: 'linux', arch: 'x64', cpuCount: 2 },
          appVersion: '0.1.0',
          gitCommit: '0123456789abcdef0123456789abcdef01234567',
        });
        if (i % 3 === 0) store.tag(run.id, i % 2 ? 'ip' : 'baseline');
        if (i === 0) oldest = run.id;
      }
    });
    return { oldest };
  } finally {
    store.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

test('runs screen first paint with 10,000 runs @bench', async ({ browser }) => {
  test.setTimeout(300_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-bench-ui-'));
  const t0 = Date.now();
  const { oldest } = seed(dir);
  const seedMs = Date.now() - t0;
  // No job runner: the seeded 'running' states must stay as they are, and nothing competes for CPU.
  const { server, stop } = await startLabServer({ dataDir: dir, jobs: false });
  try {
    const firstRow: number[] = [];
    const lastRow: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      // A fresh context each time: no cache, as on a cold start of the page.
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.addInitScript(() => {
        const w = window as unknown as { __firstRow?: number };
        new MutationObserver((_, obs) => {
          if (document.querySelector('[data-testid="runs-row"]')) {
            w.__firstRow = performance.now();
            obs.disconnect();
          }
        }).observe(document, { childList: true, subtree: true });
      });
      await page.goto(`${server.url}#/runs`);
      await expect(page.getByTestId('runs-row').first()).toBeVisible();
      await expect(page.getByTestId('runs-total')).toHaveText(`${RUNS.toLocaleString('en-US')} runs`);
      firstRow.push(await page.evaluate(() => (window as unknown as { __firstRow: number }).__firstRow));

      // Jump to the end: the last page is fetched on demand and drawn.
      const start = await page.getByTestId('runs-scroll').evaluate((el) => {
        el.scrollTop = el.scrollHeight;
        return performance.now();
      });
      const end = await page.waitForFunction(
        (id) => (document.querySelector(`[data-testid="runs-row"][data-run-id="${id}"]`) ? performance.now() : null),
        oldest,
        { timeout: 60_000 },
      );
      lastRow.push(((await end.jsonValue()) as number) - start);
      await context.close();
    }
    // Baseline: the same page over an empty store.
    const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-bench-ui-empty-'));
    const empty = await startLabServer({ dataDir: emptyDir, jobs: false });
    const emptyPaint: number[] = [];
    try {
      for (let i = 0; i < REPEAT; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        await page.goto(`${empty.server.url}#/runs`);
        const t = await page.waitForFunction(() => (document.querySelector('[data-testid="runs-empty"]') ? performance.now() : null));
        emptyPaint.push((await t.jsonValue()) as number);
        await context.close();
      }
    } finally {
      await empty.stop();
      fs.rmSync(emptyDir, { recursive: true, force: true });
    }
    const result = {
      bench: 'ui-runs-screen',
      runs: RUNS,
      repeat: REPEAT,
      seedMs,
      firstRowMs: { median: Math.round(median(firstRow)), all: firstRow.map(Math.round) },
      jumpToEndMs: { median: Math.round(median(lastRow)), all: lastRow.map(Math.round) },
      emptyStoreFirstPaintMs: { median: Math.round(median(emptyPaint)), all: emptyPaint.map(Math.round) },
      loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
    };
    console.log(JSON.stringify(result));
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'test-results', 'bench-ui.json'), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

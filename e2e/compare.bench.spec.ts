/**
 * Benchmark, not a test (tagged @bench: left out of `npm run e2e`):
 *
 *   XLAB_BENCH=1 npx playwright test e2e/compare.bench.spec.ts
 *
 * The Compare screen with 2 runs x 64 samples whose paired sample sets exist already, on the e2e
 * build of the renderer (minified, as shipped):
 * - navToDecodedMs: from navigation start to both grid PNGs decoded and shown (the screen's first
 *   'compare-grids-decoded' performance mark). The screen shows the newest paired sets the runs
 *   have on arrival, without a click: here the seed-1 pair, made last.
 * - clickToDecodedMs: once the rest of the screen has loaded, the seed set to 0 and one click on
 *   "Compare samples" (the seed-0 pair exists too, so nothing is sampled), to the second mark,
 *   when those grids are shown.
 * A fresh browser context per repetition (cold cache), then the same page loaded again (warm).
 * Prints one JSON line (with the load average) and writes test-results/compare-bench.json.
 * Timings depend on the machine and its load; compare numbers from the same machine only.
 *
 * Making the paired runs and sets takes minutes. XLAB_BENCH_DATA_DIR=<dir> keeps them in <dir>
 * (created when missing, never deleted) for the next run; XLAB_BENCH_TRACE=1 prints when each
 * resource of the first cold load started and ended; XLAB_BENCH_REPEAT=<n> (default 5).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from '@playwright/test';
import { ROOT, expect, startLabServer, test } from './fixtures';
import { pairedRuns } from './paired-runs';

/** A data dir kept between benchmark runs (the paired runs and their sample sets are made once). */
const KEEP_DIR = process.env['XLAB_BENCH_DATA_DIR'];
/** Prints the page's resource timings (what loaded when, from navigation start) of the first cold load. */
const TRACE = Boolean(process.env['XLAB_BENCH_TRACE']);

const REPEAT = Number(process.env['XLAB_BENCH_REPEAT'] ?? 5);
const N = 64;

interface Timing {
  navToDecodedMs: number;
  clickToDecodedMs: number;
}

const decodedMarks = (page: Page) => page.evaluate(() => performance.getEntriesByName('compare-grids-decoded').map((e) => e.startTime));

async function measure(page: Page, url: string): Promise<Timing> {
  await page.goto(url);
  await page.waitForFunction(() => performance.getEntriesByName('compare-grids-decoded').length >= 1, null, { timeout: 60_000 });
  const [arrived] = await decodedMarks(page);
  const shown = page.locator('[data-testid="sample-grid"][data-decoded="true"][data-count="64"]');
  await expect(shown).toHaveCount(2);
  await expect(page.getByTestId('grid-card').first()).toContainText('seed 1');

  // The click comes once the rest of the screen (charts, tables) has loaded, as a user's would.
  await expect(page.getByRole('region', { name: 'Scores' }).locator('[data-testid="key-conflict"], [data-testid^="curve-"]').first()).toBeVisible();
  await expect(page.getByRole('region', { name: 'Tables' }).locator('[data-testid="key-conflict"], [data-testid="report"]').first()).toBeVisible();
  await page.evaluate(() => new Promise((resolve) => requestIdleCallback(resolve, { timeout: 1000 })));
  const panel = page.getByRole('region', { name: 'Paired samples' });
  await panel.getByLabel('seed').fill('0');
  const clickAt = await page.evaluate(() => performance.now());
  await page.getByTestId('compare-samples').click();
  await page.waitForFunction(() => performance.getEntriesByName('compare-grids-decoded').length >= 2, null, { timeout: 60_000 });
  const [, asked] = await decodedMarks(page);
  await expect(shown).toHaveCount(2);
  await expect(page.getByTestId('grid-card').first()).toContainText('seed 0');
  return { navToDecodedMs: arrived!, clickToDecodedMs: asked! - clickAt };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function trace(page: Page): Promise<void> {
  const rows = await page.evaluate(() => {
    const entries = [...performance.getEntriesByType('resource'), ...performance.getEntriesByType('mark'), ...performance.getEntriesByType('paint')];
    return entries
      .map((e) => ({
        at: Math.round(e.startTime),
        end: Math.round(e.startTime + e.duration),
        name: e.name.replace(/^https?:\/\/[^/]+/, '').replace(/\?token=.*$/, ''),
        kind: e.entryType,
        bytes: (e as PerformanceResourceTiming).transferSize ?? 0,
      }))
      .sort((a, b) => a.at - b.at);
  });
  for (const r of rows) console.log(`  ${String(r.at).padStart(5)}-${String(r.end).padEnd(5)} ${r.kind.padEnd(8)} ${r.name}${r.bytes ? ` (${r.bytes} B)` : ''}`);
}

test('@bench Compare: navigation to both 64-sample grids decoded', async ({ browser }) => {
  test.setTimeout(900_000);
  const dataDir = KEEP_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-bench-'));
  fs.mkdirSync(dataDir, { recursive: true });
  const { server, stop } = await startLabServer({ dataDir, concurrency: 2 });
  try {
    const { adm, ip } = await pairedRuns(server);
    // Make the paired sets first (seed 0, then seed 1, the newest): the benchmark times the screen, not the sampler.
    for (const seed of [0, 1]) {
      const request = { runIds: [adm.id, ip.id], sampler: { kind: 'ddpm' as const, steps: '20' }, n: N, seed, weights: 'ema' as const };
      await expect
        .poll(async () => (await server.api.compareSamples(request)).every((e) => e.sampleSet !== null), { timeout: 600_000, intervals: [2000] })
        .toBe(true);
    }

    const url = `${server.url}#/compare?runs=${adm.id},${ip.id}`;
    const cold: Timing[] = [];
    const warm: Timing[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      cold.push(await measure(page, url));
      if (TRACE && i === 0) await trace(page);
      await page.goto('about:blank');
      warm.push(await measure(page, url));
      await context.close();
      expect(errors, 'uncaught errors in the page').toEqual([]);
    }
    const summary = (xs: Timing[]) => ({
      navToDecodedMs: { median: Math.round(median(xs.map((x) => x.navToDecodedMs))), all: xs.map((x) => Math.round(x.navToDecodedMs)) },
      clickToDecodedMs: { median: Math.round(median(xs.map((x) => x.clickToDecodedMs))), all: xs.map((x) => Math.round(x.clickToDecodedMs)) },
    });
    const result = { bench: 'compare-grids', runs: 2, samplesPerRun: N, repeat: REPEAT, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))), cold: summary(cold), warm: summary(warm) };
    const line = JSON.stringify(result);
    console.log(line);
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'test-results', 'compare-bench.json'), line + '\n');
    test.info().annotations.push({ type: 'bench', description: line });
  } finally {
    await stop();
    if (!KEEP_DIR) fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

/**
 * Benchmark, not a test (tagged @bench: left out of `npm run e2e`):
 *
 *   XLAB_BENCH=1 npx playwright test e2e/compare.bench.spec.ts
 *
 * The Compare screen with 2 runs x 64 samples whose paired sample sets exist already: the time
 * from navigation start to both grid PNGs decoded (the screen's 'compare-grids-decoded'
 * performance mark), with the one click on "Compare samples" in between, and from that click to
 * the grids. A fresh browser context per repetition (cold cache), then the same page reloaded
 * (warm). Prints one JSON line and writes test-results/compare-bench.json. Timings depend on the
 * machine and its load; compare numbers from the same machine only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from '@playwright/test';
import { ROOT, expect, test } from './fixtures';
import { pairedRuns } from './paired-runs';

const REPEAT = Number(process.env['XLAB_BENCH_REPEAT'] ?? 5);
const N = 64;

async function measure(page: Page, url: string): Promise<{ navToDecodedMs: number; clickToDecodedMs: number }> {
  await page.goto(url);
  await page.getByTestId('steps-select').selectOption('20');
  const clickAt = await page.evaluate(() => performance.now());
  await page.getByTestId('compare-samples').click();
  await expect(page.locator('[data-testid="sample-grid"][data-decoded="true"]')).toHaveCount(2, { timeout: 60_000 });
  const decodedAt = await page.evaluate(() => performance.getEntriesByName('compare-grids-decoded')[0]?.startTime ?? NaN);
  expect(decodedAt).toBeGreaterThan(0);
  return { navToDecodedMs: decodedAt, clickToDecodedMs: decodedAt - clickAt };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

test('@bench Compare: navigation to both 64-sample grids decoded', async ({ browser, server }) => {
  test.setTimeout(900_000);
  const { adm, ip } = await pairedRuns(server);
  // Make the paired sets first: the benchmark times the screen, not the sampler.
  const request = { runIds: [adm.id, ip.id], sampler: { kind: 'ddpm' as const, steps: '20' }, n: N, seed: 0, weights: 'ema' as const };
  await expect
    .poll(async () => (await server.api.compareSamples(request)).every((e) => e.sampleSet !== null), { timeout: 600_000, intervals: [2000] })
    .toBe(true);

  const url = `${server.url}#/compare?runs=${adm.id},${ip.id}`;
  const cold: { navToDecodedMs: number; clickToDecodedMs: number }[] = [];
  const warm: { navToDecodedMs: number; clickToDecodedMs: number }[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    cold.push(await measure(page, url));
    await page.goto('about:blank');
    warm.push(await measure(page, url));
    await context.close();
  }
  const summary = (xs: { navToDecodedMs: number; clickToDecodedMs: number }[]) => ({
    navToDecodedMs: { median: Math.round(median(xs.map((x) => x.navToDecodedMs))), all: xs.map((x) => Math.round(x.navToDecodedMs)) },
    clickToDecodedMs: { median: Math.round(median(xs.map((x) => x.clickToDecodedMs))), all: xs.map((x) => Math.round(x.clickToDecodedMs)) },
  });
  const result = { bench: 'compare-grids', runs: 2, samplesPerRun: N, repeat: REPEAT, cold: summary(cold), warm: summary(warm) };
  const line = JSON.stringify(result);
  console.log(line);
  fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'test-results', 'compare-bench.json'), line + '\n');
  test.info().annotations.push({ type: 'bench', description: line });
});

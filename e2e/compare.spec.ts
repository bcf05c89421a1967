/**
 * The Compare screen on two tiny finished runs (ADM and ADM-IP, seeded over the LabApi): the paired
 * sets the runs already have shown on arrival, paired sample grids from one click, the shared selection, flicker and difference views, FID against
 * training iterations for both runs (with the key picker when the scores span several keys), and
 * CSV export of a chart and of the paper-style report.
 */
import * as fs from 'node:fs';
import { expect, snap, test } from './fixtures';
import { pairedRuns } from './paired-runs';

test('Compare: paired grids, FID curves for both runs and CSV export', async ({ page, server }) => {
  test.setTimeout(900_000);
  const { adm, ip } = await pairedRuns(server);

  await page.goto(`${server.url}#/compare?runs=${adm.id},${ip.id}`);
  await expect(page.getByTestId('screen-compare')).toBeVisible();
  await expect(page.getByTestId('run-card')).toHaveCount(2);
  // The plain ADM run is the baseline by default.
  await expect(page.locator(`[data-testid="run-card"][data-run="${adm.id}"] input[name="baseline"]`)).toBeChecked();

  // On arrival, without a click: the newest paired sets the runs have (the scheduled evaluation
  // sampled both at every checkpoint from seed 0), with the form set to ask for exactly those.
  const panel = page.getByRole('region', { name: 'Paired samples' });
  const grids = page.locator('[data-testid="sample-grid"][data-decoded="true"]');
  await expect(panel.getByTestId('saved-samples-note')).toBeVisible();
  await expect(grids).toHaveCount(2);
  const savedN = await panel.getByLabel('samples n').inputValue();
  expect(await grids.evaluateAll((els) => els.map((e) => e.getAttribute('data-count')))).toEqual([savedN, savedN]);
  await expect(page.getByTestId('sample-status')).toHaveCount(2);

  // One click: both runs sample 64 from the same noise (T' = 20 keeps it quick).
  await page.getByTestId('steps-select').selectOption('20');
  await panel.getByLabel('samples n').fill('64');
  await panel.getByLabel('seed').fill('0');
  await page.getByTestId('compare-samples').click();
  await expect(panel.getByTestId('saved-samples-note')).toHaveCount(0);
  await expect(page.getByTestId('sample-status')).toHaveCount(2);
  await expect(page.locator('[data-testid="sample-grid"][data-decoded="true"][data-count="64"]')).toHaveCount(2, { timeout: 600_000 });
  for (const g of await grids.all()) await expect(g).toBeVisible();
  const counts = await grids.evaluateAll((els) => els.map((e) => e.getAttribute('data-count')));
  expect(counts).toEqual(['64', '64']);
  const sizes = await grids.evaluateAll((els) => els.map((e) => `${(e as HTMLImageElement).naturalWidth}x${(e as HTMLImageElement).naturalHeight}`));
  expect(sizes[0]).toBe(sizes[1]);
  expect(sizes[0]).toBe('146x146'); // 8 x 8 tiles of 16 px with 2 px padding

  // The selection is shared: the slider moves sample k in every grid, the arrow keys too.
  const slider = page.getByTestId('sample-slider');
  await slider.fill('9');
  await expect(page.getByText('#10 / 64')).toBeVisible();
  await page.locator(`[data-testid="grid-card"][data-run="${ip.id}"] .grid-frame`).focus();
  await page.keyboard.press('ArrowDown');
  await expect(slider).toHaveValue('17');
  await expect(page.locator('.cell-canvas')).toHaveCount(2);

  await page.getByLabel('Flicker').check();
  await expect(page.getByTestId('flicker-view')).toBeVisible();
  await page.getByLabel('Difference |A − B|').check();
  await expect(page.getByTestId('difference-view')).toContainText('Mean |A − B|');
  await page.getByLabel('Side by side').check();

  // FID against training iterations: the scheduled evaluation scored T' = 10 and 20, two keys, so
  // the screen asks which one to plot instead of mixing them.
  const conflict = page.getByTestId('key-conflict').first();
  const iterations = page.getByTestId('curve-iteration').first();
  await expect(conflict.or(iterations)).toBeVisible({ timeout: 60_000 });
  if (await conflict.isVisible()) {
    await expect(conflict).toContainText('sampling steps');
    await conflict.locator('input[type="radio"]').first().click();
  }
  await expect(iterations).toHaveAttribute('data-points', /^[1-9]\d*,[1-9]\d*$/);
  await expect(iterations.locator('.recharts-line')).toHaveCount(2);
  await expect(iterations.getByTestId('key-caption')).toContainText('feature network');

  // The chart's numbers as CSV.
  const [chartCsv] = await Promise.all([
    page.waitForEvent('download'),
    iterations.getByRole('group', { name: /Export FID vs training iterations/ }).getByRole('button', { name: 'CSV' }).click(),
  ]);
  expect(chartCsv.suggestedFilename()).toMatch(/^fid-vs-iterations_adm-tiny_adm-ip-tiny\.csv$/);
  const csv = fs.readFileSync((await chartCsv.path())!, 'utf8').trim().split('\n');
  expect(csv[0]).toMatch(/^series,training iterations,FID \([^)]+\)/);
  const bodies = csv.slice(1);
  expect(bodies.filter((l) => l.startsWith('ADM tiny,')).length).toBeGreaterThan(0);
  expect(bodies.filter((l) => l.startsWith('ADM-IP tiny,')).length).toBeGreaterThan(0);
  for (const line of bodies) {
    const [, x, fid] = line.split(',');
    expect(Number(x)).toBeGreaterThan(0);
    expect(Number(fid)).toBeGreaterThan(0);
  }

  // The chart as SVG: a standalone figure with the legend and the key.
  const [svg] = await Promise.all([
    page.waitForEvent('download'),
    iterations.getByRole('group', { name: /Export FID vs training iterations/ }).getByRole('button', { name: 'SVG' }).click(),
  ]);
  const svgText = fs.readFileSync((await svg.path())!, 'utf8');
  expect(svgText.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svgText).toContain('>ADM-IP tiny</text>');
  expect(svgText).toContain('Comparability key: feature network');

  // The paper-style report of the experiment, as CSV: the engine's own text, for the key shown.
  const tables = page.getByRole('region', { name: 'Tables' });
  const report = tables.getByTestId('report');
  const reportConflict = tables.getByTestId('key-conflict');
  await expect(report.or(reportConflict)).toBeVisible({ timeout: 60_000 });
  let key: string | undefined;
  if (await reportConflict.isVisible()) {
    const first = reportConflict.locator('input[type="radio"]').first();
    key = (await first.getAttribute('value')) ?? undefined;
    await first.click();
  }
  await expect(report.getByTestId('table-fid')).toBeVisible({ timeout: 60_000 });
  const [reportCsv] = await Promise.all([
    page.waitForEvent('download'),
    report.getByRole('group', { name: 'Export the whole report' }).getByRole('button', { name: 'CSV' }).click(),
  ]);
  const expected = await server.api.compareExperiment(adm.experimentId!, { baselineRunId: adm.id, ...(key ? { key } : {}) });
  expect(fs.readFileSync((await reportCsv.path())!, 'utf8')).toBe(expected.csv);
  expect(expected.csv).toContain('ADM');

  // The picture for the docs: the paired grids, with the sample selection enlarged beside them.
  await page.locator('#samples-title').scrollIntoViewIfNeeded();
  await page.locator('#samples-title').evaluate((h) => h.scrollIntoView({ block: 'start' }));
  await page.mouse.move(0, 0); // no tooltip in the picture
  await snap(page, 'compare');
});

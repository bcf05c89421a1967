/**
 * The Analyses screen on the tiny ADM / ADM-IP pair: each analysis started from its own small
 * form, followed to the end, and drawn: prediction-error histograms with their Shapiro-Wilk
 * table, delta_t along the chain, power spectra of samples and data, and the chain-length grids.
 */
import * as fs from 'node:fs';
import { expect, snap, test } from './fixtures';
import { pairedRuns } from './paired-runs';

test('Analyses: every analysis runs from the screen and is drawn for both runs', async ({ page, server }) => {
  test.setTimeout(900_000);
  const { adm, ip } = await pairedRuns(server);

  await page.goto(`${server.url}#/analyses?runs=${adm.id},${ip.id}`);
  await expect(page.getByTestId('screen-analyses')).toBeVisible();

  const start = async (kind: string, fields: Record<string, string>) => {
    const section = page.getByTestId(`analysis-${kind}`);
    await section.locator('summary').click();
    for (const [name, value] of Object.entries(fields)) await section.locator(`input[name="${name}"]`).fill(value);
    await section.getByTestId(`start-${kind}`).click();
    await expect(section.getByTestId('analysis-job')).toHaveCount(2);
  };
  // Small settings: the point is the path from button to picture, not the numbers.
  await start('prediction-error', { n: '32', timesteps: '100, 500, 900' });
  await start('delta-t', { n: '16', steps: '20' });
  await start('spectrum', { n: '32', steps: '20' });
  await start('chain-length', { n: '4', tStarts: '100, 500' });

  const long = { timeout: 800_000 };
  // Prediction error: one chart per t, both runs overlaid, and a W and p per run and t.
  await expect(page.getByTestId('prediction-error-chart')).toHaveCount(3, long);
  for (const chart of await page.getByTestId('prediction-error-chart').all()) {
    await expect(chart).toHaveAttribute('data-points', /^[1-9]\d*,[1-9]\d*$/);
  }
  const rows = page.getByTestId('shapiro-table').locator('tbody tr');
  await expect(rows).toHaveCount(6);
  for (const w of await rows.locator('td:nth-child(6)').allInnerTexts()) {
    expect(Number(w)).toBeGreaterThan(0);
    expect(Number(w)).toBeLessThanOrEqual(1);
  }

  await expect(page.getByTestId('delta-t-chart')).toHaveAttribute('data-points', /^[1-9]\d*,[1-9]\d*$/, long);
  // Spectra: both runs' samples and the data (the runs share their data: one dashed curve).
  await expect(page.getByTestId('spectrum-chart')).toHaveAttribute('data-points', /^[1-9]\d*,[1-9]\d*,[1-9]\d*$/, long);
  const chains = page.getByTestId('chain-grid');
  await expect(chains).toHaveCount(2, long);
  for (const img of await chains.locator('img').all()) {
    await expect(img).toBeVisible();
    expect(await img.evaluate((e) => (e as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  }

  // The Shapiro-Wilk table as CSV.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('group', { name: 'Export Shapiro-Wilk table' }).getByRole('button', { name: 'CSV' }).click(),
  ]);
  const csv = fs.readFileSync((await download.path())!, 'utf8').trim().split('\n');
  expect(csv[0]).toBe('run,t,n,mean,std,Shapiro-Wilk W,p');
  expect(csv).toHaveLength(7);

  // The picture for the docs: results, with the forms folded away.
  const openForms = page.locator('details.start-analysis[open] > summary');
  while ((await openForms.count()) > 0) await openForms.first().click();
  await page.locator('main').evaluate((m) => m.scrollTo(0, 0));
  await page.mouse.move(0, 0); // no tooltip in the picture
  await snap(page, 'analyses');
});

/**
 * The UI answers while training runs: filters, search and sorting update the list at once, and
 * the running row keeps moving meanwhile. (What is asserted is that the UI updates, not how fast:
 * wall-clock thresholds belong to the benchmarks.)
 */
import { expect, snap, test, uniqueName } from './fixtures';

test('filters, search and sort answer while a training job runs', async ({ page, server }) => {
  const exp = await server.api.createExperiment({ name: uniqueName('responsive') });
  const { run, job } = await server.api.startTraining(
    { objective: 'adm', preset: 'tiny-test', dataset: 'mnist', imageSize: 16, steps: 5000, batch: 4, checkpointEvery: 50, logEvery: 5, evaluation: null },
    { experimentId: exp.id, name: `${exp.name} busy run` },
  );
  try {
    await server.api.addNote(run.id, 'first note');
    await server.api.addNote(run.id, 'newest note');
    await page.goto(`${server.url}#/runs`);
    const row = page.locator(`[data-testid="runs-row"][data-run-id="${run.id}"]`);
    await expect(row).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
    // The notes column comes with the listing: the count and the newest note.
    await expect(row.getByTestId('run-notes')).toHaveText('(2) newest note');
    const stepsOf = async () => Number(await row.getByTestId('run-progress').getAttribute('data-steps-done'));
    const before = await stepsOf();

    // Status filter: only running runs, then none that failed-and-match.
    await page.getByTestId('runs-filter-status').selectOption('running');
    await expect(page.getByTestId('runs-row')).not.toHaveCount(0);
    for (const status of await page.getByTestId('runs-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')))) {
      expect(status).toBe('running');
    }
    await page.getByTestId('runs-filter-status').selectOption('failed');
    await expect(row).toHaveCount(0);

    // Objective filter: an exact match (the 'adm' run is not an 'adm-ip' one), kept in the address.
    await page.getByTestId('runs-filter-status').selectOption('');
    const objectives = () => page.getByTestId('runs-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-objective')));
    await page.getByTestId('runs-filter-objective').selectOption('adm-ip');
    await expect(page.getByTestId('runs-total')).toHaveText(/match/);
    await expect(row).toHaveCount(0);
    for (const o of await objectives()) expect(o).toBe('adm-ip');
    await page.getByTestId('runs-filter-objective').selectOption('adm');
    await expect(row).toHaveCount(1);
    expect(new Set(await objectives())).toEqual(new Set(['adm']));
    await expect(page).toHaveURL(/[?&]objective=adm(&|$)/);
    await page.getByTestId('runs-filter-objective').selectOption('');

    // Search narrows to the one run, whatever its status filter was.
    await page.getByTestId('runs-search').fill(exp.name);
    await expect(page.getByTestId('runs-row')).toHaveCount(1);
    await expect(page.getByTestId('runs-total')).toHaveText('1 run matches');
    await snap(page, 'runs-filtered');

    // Grouping by experiment shows the experiment's header.
    await page.getByTestId('runs-group-by').check();
    await expect(page.getByTestId('runs-group').filter({ hasText: exp.name })).toBeVisible();
    await page.getByTestId('runs-group-by').uncheck();

    // Sorting by name flips the order indicator (server-side sort).
    await page.getByTestId('runs-clear-filters').click();
    await page.getByTestId('runs-sort-name').click();
    await expect(page.getByTestId('runs-sort-name')).toContainText('▲');
    await page.getByTestId('runs-sort-name').click();
    await expect(page.getByTestId('runs-sort-name')).toContainText('▼');

    // Meanwhile the job went on, and the list showed it.
    await expect.poll(stepsOf, { timeout: 60_000 }).toBeGreaterThan(before);

    // The same page in the dark theme (the OS setting).
    await page.emulateMedia({ colorScheme: 'dark' });
    await snap(page, 'runs-dark');
  } finally {
    await server.api.cancelJob(job.id).catch(() => undefined);
  }
});

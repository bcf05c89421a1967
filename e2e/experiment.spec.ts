/**
 * The main path: a paired ADM / ADM-IP experiment started from the New experiment form, followed
 * live on the Runs screen until both runs finish, then opened on the run screen.
 */
import { expect, snap, test, uniqueName } from './fixtures';

test('a paired experiment from the form trains both runs with live progress on the Runs screen', async ({ page, server }) => {
  const name = uniqueName('paired');
  await page.goto(`${server.url}#/new`);
  await expect(page.getByTestId('screen-new')).toBeVisible();

  // ADM and ADM-IP are chosen by default.
  await expect(page.getByTestId('ne-objective-adm')).toBeChecked();
  await expect(page.getByTestId('ne-objective-adm-ip')).toBeChecked();
  await expect(page.getByTestId('ne-objective-adm-ip-param')).toHaveValue('0.1');

  await page.getByTestId('ne-experimentName').fill(name);
  await page.getByTestId('ne-preset').selectOption('tiny-test');
  await page.getByTestId('ne-imageSize').fill('16');
  await page.getByTestId('ne-steps').fill('40');
  await page.getByTestId('ne-batch').fill('8');
  await page.getByTestId('ne-seeds').fill('0');
  await page.getByTestId('ne-eval-on').uncheck();
  await page.getByTestId('ne-more').click();
  await page.getByTestId('ne-warmup').fill('0');
  await page.getByTestId('ne-checkpointEvery').fill('20');
  await page.getByTestId('ne-logEvery').fill('5');

  // A bad value is named next to its field, and blocks the submit.
  await page.getByTestId('ne-batch').fill('0');
  await expect(page.getByTestId('issue-batch')).toContainText(/>0|too small/i);
  await page.getByTestId('ne-batch').fill('8');
  await expect(page.getByTestId('issue-batch')).toHaveCount(0);

  await expect(page.getByTestId('ne-plan')).toContainText('2 runs');
  await expect(page.getByTestId('ne-estimate')).not.toHaveText('');
  await page.locator('main').evaluate((el) => el.scrollTo(0, 0));
  await snap(page, 'new-experiment');

  await page.getByTestId('ne-submit').click();
  await expect(page).toHaveURL(/#\/runs\?experiment=\d+/);
  const rows = page.getByTestId('runs-row');
  await expect(rows).toHaveCount(2);
  await expect(page.getByTestId('runs-total')).toHaveText('2 runs match');

  // Live progress: some row shows steps done strictly between 0 and the plan while it trains.
  await expect
    .poll(
      async () => {
        const done = await page.getByTestId('run-progress').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-steps-done'))));
        return done.some((d) => d > 0 && d < 40);
      },
      { timeout: 120_000, intervals: [200] },
    )
    .toBe(true);
  await snap(page, 'runs-live');

  await expect(page.locator('[data-testid="runs-row"][data-status="done"]')).toHaveCount(2, { timeout: 150_000 });
  for (const steps of await page.getByTestId('run-progress').evaluateAll((els) => els.map((e) => e.getAttribute('data-steps-done')))) {
    expect(steps).toBe('40');
  }
  await expect(page.locator('[data-testid="runs-row"][data-objective="adm"]')).toHaveCount(1);
  await expect(page.locator('[data-testid="runs-row"][data-objective="adm-ip"]')).toHaveCount(1);
  await snap(page, 'runs');

  // The run screen: loss curve drawn from the logged metrics, checkpoints listed.
  await page.locator('[data-testid="runs-row"][data-objective="adm-ip"]').getByTestId('run-open').click();
  await expect(page.getByTestId('screen-run')).toHaveAttribute('data-status', 'done');
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', /^[1-9]\d*$/);
  await expect(page.getByTestId('chart-loss').locator('.recharts-line')).toHaveCount(2);
  await expect(page.getByTestId('run-checkpoints')).toContainText('40');
  await page.getByTestId('run-note-input').fill('IP run of the e2e pair');
  await page.getByTestId('run-note-add').click();
  await expect(page.getByTestId('run-notes')).toContainText('IP run of the e2e pair');
  await page.getByTestId('run-tag-input').fill('e2e');
  await page.getByTestId('run-tag-add').click();
  await expect(page.getByTestId('run-tags')).toContainText('e2e');
  await page.getByTestId('loss-log').check();
  await snap(page, 'run-done');

  // Selecting both and comparing goes to the Compare screen with both ids.
  await page.getByTestId('nav-runs').click();
  await page.getByTestId('runs-filter-experiment').selectOption({ label: name });
  await expect(page.getByTestId('runs-row')).toHaveCount(2);
  for (const box of await page.getByTestId('run-select').all()) await box.check();
  await page.getByTestId('runs-compare').click();
  await expect(page).toHaveURL(/#\/compare\?runs=[0-9a-z_-]+,[0-9a-z_-]+$/);
});

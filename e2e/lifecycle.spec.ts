/**
 * Controlling jobs from the UI: cancel and resume on the Runs screen, pause and resume on the
 * run screen. Training continues from the last checkpoint after each resume.
 */
import type { Locator } from '@playwright/test';
import type { TrainConfigInput } from '../src/shared/config';
import { expect, snap, test, uniqueName } from './fixtures';

/** Small enough to run anywhere, long enough to be stopped half-way. */
const LONG_TINY: TrainConfigInput = {
  objective: 'adm-ip',
  preset: 'tiny-test',
  dataset: 'mnist',
  imageSize: 16,
  steps: 2000,
  batch: 4,
  checkpointEvery: 5,
  logEvery: 5,
  evaluation: null,
};

const stepsOf = async (row: Locator) => Number(await row.getByTestId('run-progress').getAttribute('data-steps-done'));

test('cancel and resume a training job from the Runs screen; pause and resume it from its run screen', async ({ page, server }) => {
  const exp = await server.api.createExperiment({ name: uniqueName('lifecycle') });
  const { run } = await server.api.startTraining({ ...LONG_TINY, seed: 3 }, { experimentId: exp.id, name: 'lifecycle run' });

  await page.goto(`${server.url}#/runs?experiment=${exp.id}`);
  const row = page.locator(`[data-testid="runs-row"][data-run-id="${run.id}"]`);
  await expect(row).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  await expect.poll(() => stepsOf(row), { timeout: 120_000 }).toBeGreaterThan(5);

  // Cancel: the job writes a checkpoint and stops.
  await row.getByTestId('run-cancel').click();
  await expect(row).toHaveAttribute('data-status', 'cancelled');
  await expect(row.getByTestId('run-resume')).toBeVisible();
  // The job process may still be finishing its checkpoint: the server refuses until it is gone.
  await expect(async () => {
    await row.getByTestId('run-resume').click({ timeout: 2000 });
    await expect(row).not.toHaveAttribute('data-status', 'cancelled', { timeout: 2000 });
  }).toPass({ timeout: 60_000 });
  const checkpoints = await server.api.listCheckpoints(run.id);
  const resumedFrom = Math.max(0, ...checkpoints.map((c) => c.step));
  await expect(row).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  await expect.poll(() => stepsOf(row), { timeout: 120_000 }).toBeGreaterThan(resumedFrom);

  // Pause and resume from the run screen.
  await row.getByTestId('run-open').click();
  const screen = page.getByTestId('screen-run');
  await expect(screen).toHaveAttribute('data-status', 'running');
  await expect(page.getByTestId('run-eta')).not.toHaveText('—', { timeout: 30_000 });
  await expect(page.getByTestId('run-live-log')).toContainText('step', { timeout: 30_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', /^[1-9]\d*$/, { timeout: 60_000 });
  await snap(page, 'run-live');
  await page.getByTestId('run-pause').click();
  await expect(screen).toHaveAttribute('data-status', 'paused');
  await expect(async () => {
    await page.getByTestId('run-resume').click({ timeout: 2000 });
    await expect(screen).not.toHaveAttribute('data-status', 'paused', { timeout: 2000 });
  }).toPass({ timeout: 60_000 });
  await expect(screen).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  const jobs = (await server.api.getRun(run.id))!.jobs;
  expect(jobs.at(-1)!.status).toBe('running');

  // Leave the machine to the other tests.
  await page.getByTestId('run-cancel').click();
  await expect(screen).toHaveAttribute('data-status', 'cancelled');
});

test('deleting a run asks first, then removes it from the list', async ({ page, server }) => {
  const exp = await server.api.createExperiment({ name: uniqueName('delete') });
  const { run, job } = await server.api.startTraining({ ...LONG_TINY, steps: 3 }, { experimentId: exp.id, name: 'to delete' });
  // Cancelled while queued or running: either way it ends up deletable.
  await server.api.cancelJob(job.id).catch(() => undefined);

  await page.goto(`${server.url}#/runs?experiment=${exp.id}`);
  const row = page.locator(`[data-testid="runs-row"][data-run-id="${run.id}"]`);
  await expect(row.getByTestId('run-delete')).toBeVisible({ timeout: 60_000 });
  await row.getByTestId('run-delete').click();
  const dialog = page.getByTestId('confirm-delete');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText(run.id);
  // Escape backs out without deleting.
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(row).toBeVisible();

  await expect(async () => {
    await row.getByTestId('run-delete').click({ timeout: 2000 });
    await page.getByTestId('dialog-confirm').click({ timeout: 2000 });
    await expect(row).toHaveCount(0, { timeout: 3000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.getByTestId('runs-empty')).toBeVisible();
  expect(await server.api.getRun(run.id)).toBeNull();

  // An empty list still follows the engine: a run started elsewhere (here: the API) appears.
  const { run: next, job: nextJob } = await server.api.startTraining({ ...LONG_TINY, steps: 3 }, { experimentId: exp.id, name: 'arrives later' });
  await server.api.cancelJob(nextJob.id).catch(() => undefined);
  await expect(page.locator(`[data-testid="runs-row"][data-run-id="${next.id}"]`)).toBeVisible();
});

/**
 * The job supervisor with real job processes (child_process.fork + tsx, the tiny U-Net on wasm):
 * kill -9 of a training job at seeded random moments, cooperative cancel / pause and resume, a
 * failing job, and a restart that finds a job whose process is gone. Timings are never asserted.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { LabEvent } from '../../src/shared/api';
import { createLabApi, type LabService } from '../../src/main/api/lab-api';
import { nodeJobForker } from '../../src/main/jobs/fork-node';
import { startSupervisor, type Supervisor } from '../../src/main/jobs/supervisor';
import { openStore, type Store } from '../../src/main/store/store';
import { integrityCheck, isAlive, lossSteps, mulberry32, range, removeTmpDirs, tinyConfig, tmpDataDir, waitFor } from './harness';

interface Lab {
  dir: string;
  store: Store;
  supervisor: Supervisor;
  api: LabService;
  events: LabEvent[];
}

const open: Lab[] = [];

function startLab(concurrency = 1): Lab {
  const dir = tmpDataDir();
  const store = openStore(dir);
  const supervisor = startSupervisor({ store, dataDir: dir, concurrency, fork: nodeJobForker(), pollMs: 200, graceMs: 20_000 });
  const api = createLabApi({ store, dataDir: dir, supervisor });
  const events: LabEvent[] = [];
  api.subscribe((e) => events.push(e));
  const lab = { dir, store, supervisor, api, events };
  open.push(lab);
  return lab;
}

afterEach(async () => {
  for (const lab of open.splice(0)) {
    await lab.supervisor.shutdown({ graceMs: 5000 });
    lab.api.close();
    lab.store.close();
  }
  removeTmpDirs();
});

/** The loss series has every step from 1 to the newest recorded checkpoint, once. */
function expectIntactUpToCheckpoint(store: Store, runId: string): number {
  const ckpt = store.latestCheckpoint(runId)?.step ?? 0;
  const steps = lossSteps(store, runId);
  expect(new Set(steps).size).toBe(steps.length);
  expect(steps.filter((s) => s <= ckpt)).toEqual(range(1, ckpt));
  return ckpt;
}

describe('job supervisor', () => {
  it('a training job killed with SIGKILL at random moments resumes to completion with an intact history', async () => {
    const seed = Number(process.env['XLAB_TEST_SEED'] ?? 20261127);
    const rand = mulberry32(seed);
    const lab = startLab();
    // Enough steps that the kills land mid-run: on ONNX Runtime a tiny-test step takes milliseconds.
    const steps = 60;
    const { run, job } = await lab.api.startTraining(tinyConfig({ steps, checkpointEvery: 3 }), { name: 'kill -9 trials' });
    let kills = 0;
    for (let trial = 0; trial < 3; trial++) {
      const running = await waitFor('the job to run', () => {
        const j = lab.store.getJob(job.id)!;
        return (j.status === 'running' && j.pid !== null) || j.status === 'done' ? j : undefined;
      });
      if (running.status === 'done') break;
      // Kill moments spread over the job's life whatever the machine's speed: during the job
      // process's start-up, or a random moment just after a random step (checkpoint writes included).
      const from = lab.store.getRun(run.id)!.stepsDone;
      let moment: string;
      if (rand() < 0.25) {
        const delay = Math.floor(rand() * 1500);
        await new Promise((r) => setTimeout(r, delay));
        moment = `${delay} ms after the claim`;
      } else {
        const target = Math.min(steps - 1, from + 1 + Math.floor(rand() * 4));
        const delay = Math.floor(rand() * 400);
        await waitFor(`step ${target}`, () => lab.store.getRun(run.id)!.stepsDone >= target || lab.store.getJob(job.id)!.status !== 'running');
        await new Promise((r) => setTimeout(r, delay));
        moment = `${delay} ms after step ${target}`;
      }
      if (lab.store.getJob(job.id)!.status !== 'running') break;
      process.kill(running.pid!, 'SIGKILL');
      kills++;
      console.log(`[kill -9] seed ${seed} trial ${trial}: ${moment} (run at step ${lab.store.getRun(run.id)!.stepsDone})`);
      const dead = await waitFor('the killed job to be marked interrupted', () => {
        const j = lab.store.getJob(job.id)!;
        return j.status !== 'running' ? j : undefined;
      });
      expect(dead.status).toBe('interrupted');
      expect(integrityCheck(lab.store.dbPath)).toBe('ok');
      // A run whose job died before it started training is still waiting ('queued').
      expect(['interrupted', 'queued']).toContain(lab.store.getRun(run.id)!.status);
      expectIntactUpToCheckpoint(lab.store, run.id);

      const resumed = await lab.api.resumeJob(job.id);
      expect(resumed.status).toBe('queued');
      // Resuming drops the rows logged after the checkpoint it continues from.
      const point = lab.store.getRun(run.id)!.stepsDone;
      expect(lossSteps(lab.store, run.id)).toEqual(range(1, point));
    }
    expect(kills).toBeGreaterThan(0);

    const done = await waitFor('the resumed job to finish', () => {
      const j = lab.store.getJob(job.id)!;
      return j.status === 'done' || j.status === 'failed' ? j : undefined;
    });
    expect(done.error).toBeNull();
    expect(done.status).toBe('done');
    const finished = lab.store.getRun(run.id)!;
    expect(finished.status).toBe('done');
    expect(finished.stepsDone).toBe(steps);
    expect(lossSteps(lab.store, run.id)).toEqual(range(1, steps));
    expect(lab.store.latestCheckpoint(run.id)!.step).toBe(steps);
    expect(integrityCheck(lab.store.dbPath)).toBe('ok');
    // Progress reached subscribers through the supervisor.
    expect(lab.events.some((e) => e.type === 'job-progress' && e.jobId === job.id && e.loss !== null)).toBe(true);
    expect(lab.events.some((e) => e.type === 'metrics-appended' && e.runId === run.id)).toBe(true);
  });

  it('cancel and pause stop a job after a checkpoint; resume continues it to the end', async () => {
    const lab = startLab();
    // Enough steps that the cancel lands mid-run: on ONNX Runtime a tiny-test step takes milliseconds.
    const steps = 60;
    const { run, job } = await lab.api.startTraining(tinyConfig({ steps, checkpointEvery: 5, seed: 2 }));
    const stopped = async (what: string) => {
      await waitFor(`the job process to exit after ${what}`, () => lab.supervisor.runningJobIds().length === 0 && lab.store.getJob(job.id)!.status !== 'queued');
      return lab.store.getRun(run.id)!;
    };

    await waitFor('two steps', () => lab.store.getRun(run.id)!.stepsDone >= 2);
    expect((await lab.api.cancelJob(job.id)).status).toBe('cancelled');
    const afterCancel = await stopped('cancel');
    expect(afterCancel.status).toBe('cancelled');
    expect(lab.store.getJob(job.id)!.status).toBe('cancelled');
    // The stop wrote a checkpoint at the step it reached, even between checkpoint intervals.
    expect(lab.store.latestCheckpoint(run.id)!.step).toBe(afterCancel.stepsDone);
    expect(lossSteps(lab.store, run.id)).toEqual(range(1, afterCancel.stepsDone));
    // Nothing to cancel twice.
    await expect(lab.api.cancelJob(job.id)).rejects.toMatchObject({ code: 'CONFLICT' });

    await lab.api.resumeJob(job.id);
    await waitFor('two more steps', () => lab.store.getRun(run.id)!.stepsDone >= afterCancel.stepsDone + 2 || lab.store.getJob(job.id)!.status === 'done');
    if (lab.store.getJob(job.id)!.status === 'running') {
      expect((await lab.api.pauseJob(job.id)).status).toBe('paused');
      const afterPause = await stopped('pause');
      expect(afterPause.status).toBe('paused');
      expect((await lab.api.listJobs({ runId: run.id }))[0]!.status).toBe('paused');
      expect(lab.store.latestCheckpoint(run.id)!.step).toBe(afterPause.stepsDone);
      expect(lossSteps(lab.store, run.id)).toEqual(range(1, afterPause.stepsDone));
      await lab.api.resumeJob(job.id);
    }
    await waitFor('the job to finish', () => lab.store.getJob(job.id)!.status === 'done');
    expect(lab.store.getRun(run.id)).toMatchObject({ status: 'done', stepsDone: steps });
    expect(lossSteps(lab.store, run.id)).toEqual(range(1, steps));
    // The supervisor announces the final status once the job process has exited, just after the store says so.
    const statuses = () => lab.events.filter((e) => e.type === 'job-status' && e.jobId === job.id).map((e) => (e as { status: string }).status);
    await waitFor('the done event', () => statuses().includes('done'));
    expect(statuses()).toEqual(expect.arrayContaining(['queued', 'running', 'cancelled', 'done']));
  });

  it('shutting the supervisor down stops a job at once with a checkpoint, resumable later', async () => {
    const lab = startLab();
    // No checkpoint before step 1000: one at the step reached proves the stop was cooperative.
    const { run, job } = await lab.api.startTraining(tinyConfig({ steps: 60, checkpointEvery: 1000, seed: 3 }));
    await waitFor('two steps', () => lab.store.getRun(run.id)!.stepsDone >= 2);
    await lab.supervisor.shutdown({ graceMs: 60_000 });
    const after = lab.store.getRun(run.id)!;
    expect(after.stepsDone).toBeLessThan(60);
    expect(lab.store.getJob(job.id)!.status).toBe('interrupted');
    expect(after.status).toBe('interrupted');
    expect(lab.store.latestCheckpoint(run.id)!.step).toBe(after.stepsDone);
    expect(lossSteps(lab.store, run.id)).toEqual(range(1, after.stepsDone));
  });

  it('a failing job records its error and last log lines, visible through the API', async () => {
    const lab = startLab();
    const missing = '/nonexistent/xlab-test/train-images-idx3-ubyte';
    const { run, job } = await lab.api.startTraining(tinyConfig({ dataset: `idx:${missing}` }));
    await waitFor('the job to fail', () => lab.store.getJob(job.id)!.status === 'failed');
    const [info] = await lab.api.listJobs({ runId: run.id });
    expect(info!.status).toBe('failed');
    expect(info!.error).toContain('nonexistent');
    expect(info!.logTail).toContain('error:');
    expect(info!.logTail!.split('\n').length).toBeGreaterThan(1);
    const detail = await lab.api.getRun(run.id);
    expect(detail!.run.status).toBe('failed');
    expect(detail!.run.error).toContain('nonexistent');
    await waitFor('the failed event', () => lab.events.some((e) => e.type === 'job-status' && e.jobId === job.id && e.status === 'failed'));
    // A failed job can be queued again (it fails the same way here).
    expect((await lab.api.resumeJob(job.id)).status).toBe('queued');
  });

  it('on start, marks jobs whose process is gone as interrupted, and resuming re-queues them', async () => {
    const dir = tmpDataDir();
    const store = openStore(dir);
    const api0 = createLabApi({ store });
    const { run, job } = await api0.startTraining(tinyConfig());
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    expect(isAlive(deadPid)).toBe(false);
    expect(store.claimNextJob(deadPid)!.id).toBe(job.id);
    store.updateRun(run.id, { status: 'running' });

    const forks: number[] = [];
    const supervisor = startSupervisor({
      store,
      dataDir: dir,
      concurrency: 1,
      pollMs: 50,
      fork: async () => {
        forks.push(1);
        throw new Error('no job process in this test');
      },
    });
    try {
      expect(store.getJob(job.id)).toMatchObject({ status: 'interrupted' });
      expect(store.getJob(job.id)!.error).toMatch(/disappeared/);
      expect(store.getRun(run.id)!.status).toBe('interrupted');
      const api = createLabApi({ store, supervisor });
      await expect(api.resumeJob(job.id + 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await api.resumeJob(job.id)).status).toBe('queued');
      expect(store.getRun(run.id)!.status).toBe('queued');
      await waitFor('the supervisor to try to start it', () => forks.length > 0);
      api.close();
    } finally {
      await supervisor.shutdown();
      api0.close();
      store.close();
    }
  });
});

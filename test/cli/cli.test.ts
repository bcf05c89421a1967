/**
 * `xlab` as a user runs it — a child process (bin/xlab.mjs through tsx) on a temp data dir given
 * by --data-dir or XLAB_HOME: the history commands, training that records its run (Ctrl-C,
 * resume by run id), the queue run from the terminal, sampling, and `serve` refusing a public
 * address.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLabApi } from '../../src/main/api/lab-api';
import { openStore } from '../../src/main/store/store';
import { lossSteps, range, removeTmpDirs, runXlab as xlab, tinyConfig, tmpDataDir, waitFor, type XlabResult as Result } from '../jobs/harness';


const json = (r: Result) => {
  if (r.code !== 0) throw new Error(`xlab exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

const tinyFlags = ['--preset', 'tiny-test', '--dataset', 'mnist', '--image-size', '16', '--batch', '4', '--log-every', '1', '--backend', 'wasm'];

afterEach(() => removeTmpDirs());

describe('history commands', () => {
  it('list, show, tag, note, delete runs and list, cancel, resume jobs (--data-dir and XLAB_HOME)', async () => {
    const dir = tmpDataDir('xlab-cli-');
    const store = openStore(dir);
    const api = createLabApi({ store });
    const a = await api.startTraining(tinyConfig(), { name: 'first' });
    const b = await api.startTraining(tinyConfig({ objective: 'adm-ip' }), { name: 'second' });
    api.close();
    store.close();

    const listed = json(await xlab(['runs', 'list', '--json', '--data-dir', dir]));
    expect(listed.total).toBe(2);
    expect(listed.runs.map((r: { name: string }) => r.name)).toEqual(['second', 'first']);
    const viaEnv = json(await xlab(['runs', 'list', '--json', '--kind', 'train'], { env: { XLAB_HOME: dir } }));
    expect(viaEnv.total).toBe(2);
    const table = await xlab(['runs', 'list', '--data-dir', dir]);
    expect(table.stdout).toMatch(/^ID\s+KIND\s+STATUS/);
    expect(table.stdout).toContain(a.run.id);

    expect(json(await xlab(['runs', 'tag', a.run.id, 'best', 'ip', '--json', '--data-dir', dir])).tags).toEqual(['best', 'ip']);
    expect(json(await xlab(['runs', 'note', a.run.id, 'looks', 'good', '--json', '--data-dir', dir])).text).toBe('looks good');
    const shown = json(await xlab(['runs', 'show', a.run.id, '--json', '--data-dir', dir]));
    expect(shown.run).toMatchObject({ id: a.run.id, tags: ['best', 'ip'], status: 'queued' });
    expect(shown.notes[0].text).toBe('looks good');
    expect(shown.jobs[0]).toMatchObject({ id: a.job.id, status: 'queued' });

    const jobs = json(await xlab(['jobs', 'list', '--json'], { env: { XLAB_HOME: dir } }));
    expect(jobs.map((j: { id: number }) => j.id)).toEqual([a.job.id, b.job.id]);
    expect(json(await xlab(['jobs', 'cancel', String(a.job.id), '--json', '--data-dir', dir]))[0].status).toBe('cancelled');
    expect(json(await xlab(['jobs', 'resume', String(a.job.id), '--json', '--data-dir', dir]))[0].status).toBe('queued');

    expect(json(await xlab(['runs', 'delete', b.run.id, '--json', '--data-dir', dir]))).toEqual([{ runId: b.run.id, deleted: true }]);
    expect(json(await xlab(['runs', 'list', '--json', '--data-dir', dir])).total).toBe(1);

    const missing = await xlab(['runs', 'show', 'nosuchrun', '--data-dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no run with id "nosuchrun"/);
    const badStatus = await xlab(['runs', 'list', '--status', 'weird', '--data-dir', dir]);
    expect(badStatus.code).not.toBe(0);
  });

  it('serve refuses a non-loopback host without --allow-remote, before touching the data dir', async () => {
    const dir = path.join(tmpDataDir('xlab-cli-'), 'never-created');
    const r = await xlab(['serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0.*--allow-remote/s);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('training and sampling from the command line', () => {
  it('train records its run; Ctrl-C checkpoints and exits 130; --resume RUN_ID finishes it', async () => {
    const dir = tmpDataDir('xlab-cli-');
    let pid = 0;
    const running = xlab(['train', ...tinyFlags, '--steps', '40', '--checkpoint-every', '10', '--name', 'ctrl-c', '--data-dir', dir], {
      onStart: (p) => (pid = p),
    });
    const store = openStore(dir);
    try {
      const run = await waitFor('the run to log two steps', () => {
        const r = store.listRuns()[0];
        return r && r.stepsDone >= 2 ? r : undefined;
      });
      process.kill(pid, 'SIGINT');
      const stopped = await running;
      expect(stopped.code).toBe(130);
      expect(stopped.stderr).toContain(`resume with: xlab train --resume ${run.id}`);
      const after = store.getRun(run.id)!;
      expect(after).toMatchObject({ name: 'ctrl-c', status: 'interrupted', objective: 'adm', preset: 'tiny-test', backend: expect.stringMatching(/^onnxruntime \(\d+ threads?\) \+ wasm$/) }); // the engine that trained it
      expect(store.latestCheckpoint(run.id)!.step).toBe(after.stepsDone);
      expect(lossSteps(store, run.id)).toEqual(range(1, after.stepsDone));
      expect(store.listJobs({ runId: run.id })[0]).toMatchObject({ status: 'interrupted', kind: 'train' });

      const target = after.stepsDone + 2;
      const resumed = json(await xlab(['train', '--resume', run.id, '--steps', String(target), '--json', '--data-dir', dir]));
      expect(resumed).toMatchObject({ runId: run.id, stepsDone: target, stopped: false });
      expect(store.getRun(run.id)).toMatchObject({ status: 'done', stepsDone: target, stepsPlanned: target });
      expect(lossSteps(store, run.id)).toEqual(range(1, target));
      expect(store.listCheckpoints(run.id).at(-1)!.step).toBe(target);
    } finally {
      store.close();
    }
  });

  it('train --queue, then jobs run works the queue; sample records a sample set on the run', async () => {
    const dir = tmpDataDir('xlab-cli-');
    const queued = json(await xlab(['train', ...tinyFlags, '--steps', '3', '--checkpoint-every', '3', '--queue', '--json', '--data-dir', dir]));
    expect(queued).toMatchObject({ status: 'queued' });
    const worked = await xlab(['jobs', 'run', '--data-dir', dir]);
    expect(worked.code).toBe(0);
    expect(worked.stderr).toContain(`job ${queued.jobId}`);
    expect(worked.stderr).toContain('queue empty');

    const sampled = json(await xlab(['sample', '--checkpoint', queued.runId, '--steps', '4', '--n', '4', '--batch', '4', '--json', '--data-dir', dir]));
    expect(sampled).toMatchObject({ sourceRunId: queued.runId, step: 3, shape: [4, 16, 16, 1] });
    expect(fs.existsSync(sampled.grid)).toBe(true);

    const store = openStore(dir);
    try {
      expect(store.getRun(queued.runId)).toMatchObject({ status: 'done', stepsDone: 3 });
      expect(lossSteps(store, queued.runId)).toEqual([1, 2, 3]);
      const sampleRun = store.getRun(sampled.runId)!;
      expect(sampleRun).toMatchObject({ kind: 'sample', parentRunId: queued.runId, status: 'done' });
      const [set] = store.listSampleSets(queued.runId);
      expect(set).toMatchObject({ id: sampled.sampleSetId, checkpointStep: 3, count: 4, stepsSpec: '4' });
      expect(set!.gridArtifactId).toMatch(/^a[0-9a-f]{24}$/);
    } finally {
      store.close();
    }
  });
});

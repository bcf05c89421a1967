/**
 * The LabApi in process (no job processes): the contract's tables agree, every call is validated
 * whichever transport it came from, and commands keep the queue and the history consistent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LAB_METHOD_PARAMS, LAB_REQUEST_SCHEMAS, LabApiError, parseLabArgs } from '../../src/shared/api';
import { createLabApi, dispatchLabCall } from '../../src/main/api/lab-api';
import { createTrainingRun } from '../../src/main/jobs/run-records';
import { openStore, type Store } from '../../src/main/store/store';
import { parseTrainConfig } from '../../src/shared/config';
import { removeTmpDirs, tinyConfig, tmpDataDir } from '../jobs/harness';

const stores: Store[] = [];
function lab() {
  const dir = tmpDataDir('xlab-api-');
  const store = openStore(dir);
  stores.push(store);
  return { dir, store, api: createLabApi({ store }) };
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  removeTmpDirs();
});

describe('the contract', () => {
  it('has a schema for every parameter of every method, in order', () => {
    expect(Object.keys(LAB_REQUEST_SCHEMAS)).toEqual(Object.keys(LAB_METHOD_PARAMS));
    for (const [method, names] of Object.entries(LAB_METHOD_PARAMS)) {
      expect(Object.keys(LAB_REQUEST_SCHEMAS[method as keyof typeof LAB_REQUEST_SCHEMAS]), method).toEqual([...names]);
    }
  });

  it('parses arguments by position or by name, naming bad fields', () => {
    expect(parseLabArgs('tag', ['r1', ' best '])).toEqual(['r1', 'best']);
    expect(parseLabArgs('tag', { runId: 'r1', tag: 'x' })).toEqual(['r1', 'x']);
    expect(parseLabArgs('listRuns', undefined)).toEqual([]);
    expect(() => parseLabArgs('tag', { runId: 'r1' })).toThrow(/tag: tag: /);
    expect(() => parseLabArgs('tag', { runId: 'r1', tag: 'x', color: 'red' })).toThrow(/unknown parameter "color"/);
    expect(() => parseLabArgs('getRun', ['a', 'b'])).toThrow(/takes 1 argument/);
    expect(() => parseLabArgs('startTraining', [{ steps: 0 }])).toThrow(/config\.steps/);
    try {
      parseLabArgs('listJobs', [{ status: 'nope' }]);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LabApiError);
      expect((e as LabApiError).code).toBe('INVALID');
      expect((e as LabApiError).message).toContain('query.status');
    }
  });
});

describe('the implementation', () => {
  it('validates in-process calls too, and rejects unknown methods', async () => {
    const { api } = lab();
    await expect(api.getRun(5 as unknown as string)).rejects.toMatchObject({ code: 'INVALID' });
    await expect(dispatchLabCall(api, 'toString', [])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(dispatchLabCall(api, 'listRuns', { query: { limit: -1 } })).rejects.toMatchObject({ code: 'INVALID' });
    expect(await dispatchLabCall(api, 'listRuns', [])).toMatchObject({ total: 0 });
  });

  it('records a queued training run with its full description', async () => {
    const { api, store } = lab();
    const exp = await api.createExperiment({ name: 'ip sweep' });
    const { run, job } = await api.startTraining(tinyConfig({ objective: 'adm-ip', gamma: { kind: 'constant', gamma: 0.15 } }), {
      experimentId: exp.id,
      name: 'ip 0.15',
    });
    expect(run).toMatchObject({ status: 'queued', kind: 'train', objective: 'adm-ip', gamma: 0.15, dataset: 'mnist', preset: 'tiny-test', stepsPlanned: 8, experimentId: exp.id, name: 'ip 0.15' });
    expect(run.appVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(run.machine).toMatchObject({ platform: process.platform });
    expect(run.config).toMatchObject({ objective: 'adm-ip', steps: 8, optimizer: { lr: 1e-4 } });
    expect(job).toMatchObject({ status: 'queued', kind: 'train', runId: run.id });
    expect((await api.listExperiments())[0]!.runCount).toBe(1);
    await expect(api.startTraining(tinyConfig(), { experimentId: 999 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(store.countRuns()).toBe(1);
  });

  it('cancels a queued job, refuses to pause one, and resumes only the newest job of a run', async () => {
    const { api, store } = lab();
    const { run, job } = await api.startTraining(tinyConfig());
    await expect(api.pauseJob(job.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await api.cancelJob(job.id)).status).toBe('cancelled');
    expect(store.getRun(run.id)!.status).toBe('cancelled');
    expect((await api.resumeJob(job.id)).status).toBe('queued');
    expect(store.getRun(run.id)!.status).toBe('queued');
    await expect(api.resumeJob(job.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await api.cancelJob(job.id);
    store.enqueueJob({ runId: run.id, kind: 'train' });
    await expect(api.resumeJob(job.id)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/newer job/) });
  });

  it('shows a cancelled job of a paused run as paused', async () => {
    const { api, store } = lab();
    const { run, job } = await api.startTraining(tinyConfig());
    store.claimNextJob(process.pid);
    store.updateRun(run.id, { status: 'running' });
    expect((await api.pauseJob(job.id)).status).toBe('paused');
    expect(store.getJob(job.id)!.status).toBe('cancelled');
    expect(store.getRun(run.id)!.status).toBe('paused');
    expect((await api.getRun(run.id))!.jobs[0]!.status).toBe('paused');
  });

  it('refuses to sample a run without checkpoints or a run that is not a training run', async () => {
    const { api } = lab();
    const { run } = await api.startTraining(tinyConfig());
    const request = { runId: run.id, sampler: { kind: 'ddim' as const, steps: 'ddim10' }, n: 4 };
    await expect(api.startSampling(request)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(api.startSampling({ ...request, checkpointStep: 3 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(api.startSampling({ ...request, runId: 'nope0' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('deletes a run with its folder, but never a folder outside the data dir', async () => {
    const { api, store, dir } = lab();
    const inside = createTrainingRun(store, parseTrainConfig(tinyConfig()));
    const insideDir = path.join(dir, 'runs', inside.id);
    fs.mkdirSync(path.join(insideDir, 'checkpoints'), { recursive: true });
    const outside = tmpDataDir('xlab-out-');
    const external = createTrainingRun(store, parseTrainConfig(tinyConfig()), { outDir: outside });
    await api.tag(inside.id, 'x');
    expect(await api.deleteRun(inside.id)).toEqual({ deleted: true });
    expect(fs.existsSync(insideDir)).toBe(false);
    expect(await api.deleteRun(external.id)).toEqual({ deleted: true });
    expect(fs.existsSync(outside)).toBe(true);
    expect(await api.deleteRun(inside.id)).toEqual({ deleted: false });
    expect(await api.listTags()).toEqual([]);
  });
});

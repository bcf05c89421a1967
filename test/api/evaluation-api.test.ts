/**
 * The evaluation methods of the LabApi in process, over a real store with hand-written scores:
 * keys, curves and the refusal to mix keys, the comparison report of an experiment, the cached
 * best FID, and what startEvaluation accepts, refuses and records.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { comparabilityKey } from '../../src/shared/comparability';
import { parseTrainConfig } from '../../src/shared/config';
import { createLabApi } from '../../src/main/api/lab-api';
import { createSamplingRun, createTrainingRun } from '../../src/main/jobs/run-records';
import { openStore, type Store } from '../../src/main/store/store';
import { checkpointFileName } from '../../src/main/training/checkpoint';
import { removeTmpDirs, tinyConfig, tmpDataDir } from '../jobs/harness';

const stores: Store[] = [];
function lab() {
  const dir = tmpDataDir('xlab-eval-api-');
  const store = openStore(dir);
  stores.push(store);
  return { dir, store, api: createLabApi({ store }) };
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  removeTmpDirs();
});

function key(steps: string, n = 100, sampler = 'ddpm/fixed-large/clip'): string {
  return comparabilityKey({ featureNetwork: 'mnist-classifier-v1-0123abcd', sampleCount: n, reference: 'mnist:train:500:16x16x1', sampler, steps, weights: 'ema' });
}

function trainingRun(store: Store, over: Parameters<typeof tinyConfig>[0] = {}, experimentId: number | null = null) {
  return createTrainingRun(store, parseTrainConfig(tinyConfig(over)), { experimentId });
}

function fid(store: Store, runId: string, step: number, T: number, value: number, k = key(String(T))) {
  return store.addEvaluation({ runId, metric: 'fid', value, comparabilityKey: k, checkpointStep: step, samplingSteps: T, ciLow: value - 0.5, ciHigh: value + 0.5 });
}

describe('evaluation keys and curves', () => {
  it('lists the keys of the runs, with their parts and runs', async () => {
    const { store, api } = lab();
    const a = trainingRun(store);
    const b = trainingRun(store, { seed: 2 });
    fid(store, a.id, 4, 20, 30);
    fid(store, a.id, 8, 20, 25);
    fid(store, b.id, 8, 20, 24);
    fid(store, b.id, 8, 20, 23, key('20', 1000));
    store.addEvaluation({ runId: b.id, metric: 'kid', value: 0.01, comparabilityKey: key('20'), checkpointStep: 8, samplingSteps: 20 });
    const keys = await api.evaluationKeys({ runIds: [a.id, b.id], metric: 'fid' });
    expect(keys.map((k) => k.key)).toEqual([key('20', 1000), key('20')].sort());
    expect(keys.map((k) => [k.parts.sampleCount, k.count, k.runIds]).sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual([
      [100, 3, [a.id, b.id].sort()],
      [1000, 1, [b.id]],
    ]);
    expect(keys.find((k) => k.parts.sampleCount === 100)!.parts).toMatchObject({ featureNetwork: 'mnist-classifier-v1-0123abcd', steps: '20', weights: 'ema' });
    expect((await api.evaluationKeys({ runIds: [b.id] })).map((k) => k.metric)).toEqual(['fid', 'fid', 'kid']);
    await expect(api.evaluationKeys({ runIds: ['nope'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses curves across keys with CONFLICT naming the keys and the differing field; allowMixedKeys gives two groups', async () => {
    const { store, api } = lab();
    const a = trainingRun(store);
    const b = trainingRun(store, { seed: 2 });
    fid(store, a.id, 4, 20, 30);
    fid(store, a.id, 8, 20, 25);
    fid(store, b.id, 8, 20, 24, key('20', 100, 'ddpm/fixed-large/es1.005/clip'));
    const query = { runIds: [a.id, b.id], metric: 'fid', x: 'iteration' as const };
    const err = await api.evaluationCurves(query).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain(key('20'));
    expect(err.message).toContain(key('20', 100, 'ddpm/fixed-large/es1.005/clip'));
    expect(err.message).toMatch(/differ in sampler \(sampler\)/);
    expect(err.message).toContain(`runs ${a.id}`);
    const mixed = await api.evaluationCurves({ ...query, allowMixedKeys: true });
    expect(mixed.groups).toHaveLength(2);
    expect(mixed.groups.map((g) => g.series.map((s) => s.runId))).toEqual([[a.id], [b.id]]);
    const one = await api.evaluationCurves({ ...query, key: key('20') });
    expect(one.groups[0]!.series[0]!.points.map((p) => [p.x, p.value])).toEqual([[4, 30], [8, 25]]);
  });

  it("FID against T' for one checkpoint, and curves refuse non-training runs", async () => {
    const { store, api } = lab();
    const a = trainingRun(store);
    fid(store, a.id, 8, 20, 25);
    fid(store, a.id, 8, 100, 21);
    fid(store, a.id, 4, 100, 40);
    const c = await api.evaluationCurves({ runIds: [a.id], metric: 'fid', x: 'samplingSteps' });
    expect(c.groups[0]!.series[0]!.points.map((p) => [p.x, p.value])).toEqual([[20, 25], [100, 21]]);
    const s = createSamplingRun(store, { sourceRunId: a.id, sampler: { kind: 'ddpm', steps: '20' }, n: 4, seed: 0, batchSize: 4, weights: 'ema' }, a);
    await expect(api.evaluationCurves({ runIds: [s.id], metric: 'fid', x: 'iteration' })).rejects.toThrow(/scores belong to training runs \(its parent is/);
  });

  it("caches best FID as the lowest under the run's most used key", () => {
    const { store } = lab();
    const a = trainingRun(store);
    fid(store, a.id, 4, 20, 30);
    expect(store.getRun(a.id)!.bestFid).toBe(30);
    fid(store, a.id, 8, 1000, 3, key('1000')); // one score under another key: a tie, the newer key wins
    expect(store.getRun(a.id)!.bestFid).toBe(3);
    fid(store, a.id, 8, 20, 25); // now 'steps=20' is the most used key
    expect(store.getRun(a.id)!.bestFid).toBe(25);
  });
});

describe('compareExperiment', () => {
  it('builds the report of the experiment training runs and refuses mixed keys until one is chosen', async () => {
    const { store, api } = lab();
    const exp = await api.createExperiment({ name: 'ip vs adm' });
    const adm = [1, 2].map((seed) => trainingRun(store, { objective: 'adm', seed }, exp.id));
    const ip = [1, 2].map((seed) => trainingRun(store, { objective: 'adm-ip', seed }, exp.id));
    trainingRun(store, { seed: 9 }); // not in the experiment
    adm.forEach((r, i) => fid(store, r.id, 8, 20, 30 + i));
    ip.forEach((r, i) => fid(store, r.id, 8, 20, 26 + i));
    const report = await api.compareExperiment(exp.id);
    expect(report.variants.map((v) => [v.label, v.runIds.length, v.isBaseline])).toEqual([
      ['ADM', 2, true],
      ['ADM-IP γ=0.1', 2, false],
    ]);
    expect(report.bySteps[0]!.rows.map((r) => r.cells[0]!.mean)).toEqual([30.5, 26.5]);
    expect(report.pairedTests[0]).toMatchObject({ pairs: 2, meanDifference: -4, pValue: 0.25 });
    expect(report.markdown).toContain('# Comparison: ip vs adm');

    fid(store, ip[0]!.id, 8, 20, 20, key('20', 1000));
    const err = await api.compareExperiment(exp.id).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/differ in sample count/);
    const chosen = await api.compareExperiment(exp.id, { key: key('20') });
    expect(chosen.bySteps[0]!.rows[1]!.cells[0]!.mean).toBe(26.5);
    expect(chosen.keys.length).toBe(2);
    await expect(api.compareExperiment(999)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('startEvaluation', () => {
  it('refuses what it cannot run, naming the problem', async () => {
    const { store, dir, api } = lab();
    const a = trainingRun(store);
    await expect(api.startEvaluation({ runId: a.id })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/no checkpoint yet/) });
    await expect(api.startEvaluation({ runId: a.id, checkpointSteps: [4] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const s = createSamplingRun(store, { sourceRunId: a.id, sampler: { kind: 'ddpm', steps: '20' }, n: 4, seed: 0, batchSize: 4, weights: 'ema' }, a);
    await expect(api.startEvaluation({ runId: s.id })).rejects.toMatchObject({ code: 'INVALID' });
    // a checkpoint recorded (the file's content does not matter to the request)
    const rel = `runs/${a.id}/checkpoints/${checkpointFileName(4)}`;
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), 'x');
    store.addCheckpoint({ runId: a.id, step: 4, path: rel });
    await expect(api.startEvaluation({ runId: a.id, steps: ['2000'] })).rejects.toMatchObject({ code: 'INVALID', message: expect.stringMatching(/T = 1000/) });
    await expect(api.startEvaluation({ runId: a.id, featureNetwork: 'inception' })).rejects.toMatchObject({ code: 'INVALID', message: expect.stringMatching(/featureNetwork/) });
    await expect(api.startEvaluation({ runId: a.id, n: 5 })).rejects.toMatchObject({ code: 'INVALID', message: expect.stringMatching(/request\.n/) });
  });

  it('records an evaluation run (a child of the training run) and queues its job with the plan', async () => {
    const { store, dir, api } = lab();
    const exp = await api.createExperiment({ name: 'e' });
    const a = trainingRun(store, {}, exp.id);
    const rel = `runs/${a.id}/checkpoints/${checkpointFileName(8)}`;
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), 'x');
    store.addCheckpoint({ runId: a.id, step: 8, path: rel });
    const { run, job } = await api.startEvaluation({ runId: a.id, steps: ['20'], n: 40, epsScales: [1, 1.005], priority: 3 });
    expect(run).toMatchObject({ kind: 'evaluate', parentRunId: a.id, experimentId: exp.id, status: 'queued', objective: 'adm' });
    expect(run.name).toContain("T' 20 · lambda 1/1.005 · n 40");
    expect(job).toMatchObject({ kind: 'evaluate', status: 'queued', priority: 3 });
    expect(job.args).toMatchObject({
      type: 'evaluation',
      sourceRunId: a.id,
      checkpointSteps: [8], // the latest, resolved when asked
      plan: { steps: ['20'], n: 40, epsScales: [1, 1.005], featureNetwork: 'auto', referenceCount: 10000, bootstrap: 100 },
    });
  });
});

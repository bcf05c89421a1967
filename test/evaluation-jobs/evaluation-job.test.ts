/**
 * Evaluation end to end on a tiny trained run, with the real classifier feature network (trained
 * tiny, through $XLAB_CLASSIFIER_TRAINING): scheduled evaluation while training (in process, as
 * `xlab train` runs it), an evaluation job in a real job process under the supervisor, a repeat that
 * skips what is stored, and a stopped evaluation that resumes where it stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationInfo, LabEvent } from '../../src/shared/api';
import { parseComparabilityKey } from '../../src/shared/comparability';
import { parseTrainConfig } from '../../src/shared/config';
import { createLabApi } from '../../src/main/api/lab-api';
import { evaluationArgsFor } from '../../src/main/api/evaluation-api';
import { CLASSIFIER_TRAINING_ENV, runEvaluation } from '../../src/main/jobs/evaluation-run';
import { nodeJobForker } from '../../src/main/jobs/fork-node';
import { LogTail } from '../../src/main/jobs/protocol';
import { claimForegroundJob, createEvaluationRun, createTrainingRun, runFolderOf } from '../../src/main/jobs/run-records';
import { startSupervisor } from '../../src/main/jobs/supervisor';
import { runTraining } from '../../src/main/jobs/training-run';
import { initBackend } from '../../src/main/nn/backend';
import { openStore } from '../../src/main/store/store';
import { integrityCheck, removeTmpDirs, tinyConfig, tmpDataDir, waitFor } from '../jobs/harness';

const previousEnv = process.env[CLASSIFIER_TRAINING_ENV];
beforeAll(() => {
  // A classifier trained in seconds: the scores mean little, the machinery is what is tested.
  process.env[CLASSIFIER_TRAINING_ENV] = JSON.stringify({ steps: 30, trainCount: 300, batchSize: 32 });
});
afterAll(() => {
  if (previousEnv === undefined) delete process.env[CLASSIFIER_TRAINING_ENV];
  else process.env[CLASSIFIER_TRAINING_ENV] = previousEnv;
  removeTmpDirs();
});

const plan = { steps: ['5'], n: 24, referenceCount: 48, bootstrap: 8, batchSize: 24, seed: 3 };

describe('evaluation jobs', () => {
  it('scores while training and in a job process; repeats skip, a stop resumes where it stopped', async () => {
    const dir = tmpDataDir('xlab-eval-job-');
    const store = openStore(dir);
    const supervisor = startSupervisor({ store, dataDir: dir, concurrency: 1, fork: nodeJobForker(), pollMs: 200, graceMs: 20_000 });
    const api = createLabApi({ store, dataDir: dir, supervisor });
    const events: LabEvent[] = [];
    api.subscribe((e) => events.push(e));
    try {
      // --- 1. training with a scheduled evaluation every 2 iterations (and at the end), in process
      await initBackend('wasm', 'train');
      const experiment = store.createExperiment({ name: 'eval e2e' });
      const config = parseTrainConfig(tinyConfig({ steps: 4, checkpointEvery: 100, evaluation: { every: 2, ...plan } }));
      const run = createTrainingRun(store, config, { experimentId: experiment.id, status: 'running' });
      const trainJob = claimForegroundJob(store, run.id, 'train');
      const log = new LogTail(200, 50_000);
      const trained = await runTraining({ store, dataDir: dir, runId: run.id, jobId: trainJob.id, config, outDir: runFolderOf(dir, run), resume: false, backend: 'wasm', log });
      expect(trained.status, log.text()).toBe('done');
      // a checkpoint at each evaluation step, though checkpointEvery is 100
      expect(store.listCheckpoints(run.id).map((c) => c.step)).toEqual([2, 4]);
      const scheduled = store.listEvaluations({ runId: run.id, metric: 'fid' });
      expect(scheduled.map((e) => [e.checkpointStep, e.samplingSteps])).toEqual([
        [2, 5],
        [4, 5],
      ]);
      const key1 = scheduled[0]!.comparabilityKey;
      expect(scheduled[1]!.comparabilityKey).toBe(key1);
      expect(parseComparabilityKey(key1)).toEqual({
        featureNetwork: expect.stringMatching(/^mnist-classifier-v1-[0-9a-f]{8}$/),
        sampleCount: 24,
        reference: 'mnist:train:48:16x16x1',
        sampler: 'ddpm/fixed-large/clip',
        steps: '5',
        weights: 'ema',
      });
      const fid = scheduled[0]!;
      expect(fid.value).toBeGreaterThan(0);
      expect(fid.ciLow).not.toBeNull();
      expect(fid.details).toMatchObject({ scheduled: true, evaluationRunId: null, samples: 24, referenceImages: 48, bootstrapReplicates: 8 });
      expect(String(fid.details!['network'])).toMatch(/classifier/);
      // every metric of the plan, each with the same key
      const metrics = store.listEvaluations({ runId: run.id, comparabilityKey: key1 }).filter((e) => e.checkpointStep === 2);
      expect(metrics.map((e) => e.metric).sort()).toEqual(['fid', 'is', 'kid', 'precision', 'recall', 'sfid']);
      expect(store.getRun(run.id)!.bestFid).toBe(Math.min(...scheduled.map((e) => e.value)));

      // --- 2. an evaluation job in a job process: lambda 1 is stored already, lambda 1.005 is new
      const request = { runId: run.id, ...plan, epsScales: [1, 1.005], checkpointSteps: [2, 4] };
      const first = await api.startEvaluation(request);
      const finished = (jobId: number) => () => {
        const j = store.getJob(jobId)!;
        return j.status === 'done' || j.status === 'failed' ? j : undefined;
      };
      const job1 = await waitFor('the evaluation job', finished(first.job.id));
      expect(job1.status, job1.logTail ?? '').toBe('done');
      expect(job1.logTail).toContain('2 of 4 combination(s) already scored');
      expect(store.getRun(first.run.id)).toMatchObject({ kind: 'evaluate', status: 'done', parentRunId: run.id });
      const fids = () => store.listEvaluations({ runId: run.id, metric: 'fid' });
      const scaled = fids().filter((e) => e.comparabilityKey !== key1);
      expect(scaled.map((e) => [e.checkpointStep, e.samplingSteps])).toEqual([
        [2, 5],
        [4, 5],
      ]);
      expect(parseComparabilityKey(scaled[0]!.comparabilityKey).sampler).toBe('ddpm/fixed-large/es1.005/clip');
      expect(scaled[0]!.details).toMatchObject({ scheduled: false, evaluationRunId: first.run.id, epsScale: 1.005 });
      expect(events.some((e) => e.type === 'job-progress' && e.jobId === first.job.id && e.kind === 'evaluate')).toBe(true);
      // each combination's samples are a recorded sample set of the training run, with its files
      const sets = store.listSampleSets(run.id);
      expect(sets).toHaveLength(4);
      expect(sets.every((s) => s.npzArtifactId !== null && s.count === 24 && s.seed === 3)).toBe(true);
      expect(scaled.every((e) => sets.some((s) => s.id === e.sampleSetId && s.epsScale === 1.005))).toBe(true);

      // curves: two samplers are two keys; refused unless one is chosen or mixing is allowed
      const curveQuery = { runIds: [run.id], metric: 'fid', x: 'iteration' as const };
      const refusal = await api.evaluationCurves(curveQuery).catch((e) => e);
      expect(refusal.code).toBe('CONFLICT');
      expect(refusal.message).toMatch(/differ in sampler/);
      const curve = await api.evaluationCurves({ ...curveQuery, key: key1 });
      expect(curve.groups[0]!.series[0]!.points.map((p) => p.x)).toEqual([2, 4]);
      expect((await api.evaluationCurves({ ...curveQuery, allowMixedKeys: true })).groups).toHaveLength(2);
      expect((await api.evaluationKeys({ runIds: [run.id], metric: 'fid' })).map((k) => k.count)).toEqual([2, 2]);

      // --- 3. the same request again (in process, as `xlab eval` runs it): nothing is recomputed
      const before = store.listEvaluations({ runId: run.id }).length;
      const repeat = evaluationArgsFor(store, dir, request);
      const repeatRun = createEvaluationRun(store, repeat.args, repeat.source);
      const repeatJob = claimForegroundJob(store, repeatRun.id, 'evaluate', { ...repeat.args });
      const repeatLog = new LogTail();
      const repeated = await runEvaluation({ store, dataDir: dir, runId: repeatRun.id, jobId: repeatJob.id, args: repeat.args, log: repeatLog });
      expect(repeated).toMatchObject({ status: 'done', evaluated: [], rows: [] });
      expect(repeated.status === 'done' && repeated.skipped.length).toBe(4);
      expect(repeatLog.text()).toContain('4 of 4 combination(s) already scored');
      expect(store.getRun(repeatRun.id)!.status).toBe('done');
      expect(store.listEvaluations({ runId: run.id })).toHaveLength(before);

      // --- 4. stopped after its first combination (in process, as `xlab eval` runs), resumed as a job
      const stopRequest = { runId: run.id, ...plan, steps: ['3', '4'], checkpointSteps: [4] };
      const { source, args } = evaluationArgsFor(store, dir, stopRequest);
      const evalRun = createEvaluationRun(store, args, source);
      const stopJob = claimForegroundJob(store, evalRun.id, 'evaluate', { ...args });
      let combinationsDone = 0;
      const stopped = await runEvaluation({
        store,
        dataDir: dir,
        runId: evalRun.id,
        jobId: stopJob.id,
        args,
        log: new LogTail(),
        stopRequested: () => (combinationsDone >= 1 ? 'interrupt' : null),
        onLog: (line) => {
          if (line.startsWith('step 4, ')) combinationsDone++;
        },
      });
      expect(stopped).toEqual({ status: 'stopped', reason: 'interrupt' });
      expect(store.getJob(stopJob.id)!.status).toBe('interrupted');
      const partial = fids().filter((e) => e.details?.['evaluationRunId'] === evalRun.id);
      expect(partial.map((e) => e.samplingSteps)).toEqual([3]);
      await api.resumeJob(stopJob.id);
      const job3 = await waitFor('the resumed evaluation job', finished(stopJob.id));
      expect(job3.status, job3.logTail ?? '').toBe('done');
      expect(job3.logTail).toContain('1 of 2 combination(s) already scored');
      const all = fids().filter((e) => e.details?.['evaluationRunId'] === evalRun.id);
      expect(all.map((e: EvaluationInfo) => e.samplingSteps)).toEqual([3, 4]);

      // the report over the experiment, on one chosen key: one variant, T' = 3, 4, 5
      const report = await api.compareExperiment(experiment.id, { key: key1 });
      expect(report.variants.map((v) => v.label)).toEqual(['ADM']);
      expect(report.bySteps.find((t) => t.metric === 'fid')!.steps).toEqual([3, 4, 5]);
      expect(report.iterationsToTarget).toMatchObject({ samplingSteps: 5 });
    } finally {
      await supervisor.shutdown({ graceMs: 5000 });
      api.close();
      store.close();
    }
    expect(integrityCheck(`${dir}/lab.sqlite`)).toBe('ok');
  }, 240_000);
});

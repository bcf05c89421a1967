/**
 * The analysis methods of the LabApi in process: queuing analyses (and refusing bad ones before
 * anything is written), listing them by training run, one-click paired samples (reuse and
 * idempotence), and training-time estimates from recorded throughput.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LabEvent } from '../../src/shared/api';
import { parseTrainConfig, type TrainConfigInput } from '../../src/shared/config';
import { createLabApi } from '../../src/main/api/lab-api';
import { samplerKey } from '../../src/main/api/analysis-api';
import { createTrainingRun } from '../../src/main/jobs/run-records';
import { openStore, type RunRow, type Store } from '../../src/main/store/store';
import { checkpointFileName } from '../../src/main/training/checkpoint';
import { removeTmpDirs, tinyConfig, tmpDataDir } from '../jobs/harness';

const stores: Store[] = [];
function lab() {
  const dir = tmpDataDir('xlab-analysis-api-');
  const store = openStore(dir);
  stores.push(store);
  const api = createLabApi({ store });
  const events: LabEvent[] = [];
  api.subscribe((e) => events.push(e));
  return { dir, store, api, events };
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  removeTmpDirs();
});

/** A training run with recorded checkpoints (the files themselves are not needed to queue work). */
function trainedRun(store: Store, steps: number[], over: TrainConfigInput = {}): RunRow {
  const run = createTrainingRun(store, parseTrainConfig(tinyConfig(over)));
  for (const step of steps) {
    store.addCheckpoint({ runId: run.id, step, path: `runs/${run.id}/checkpoints/${checkpointFileName(step)}`, isEmaIncluded: true });
  }
  return run;
}

describe('startAnalysis', () => {
  it('records an analysis run (child of the training run) and queues an evaluate job with analysis args', async () => {
    const { api, store, events } = lab();
    const source = trainedRun(store, [3, 6]);
    const { run, job } = await api.startAnalysis({ runId: source.id, kind: 'delta-t', tStart: 500, n: 16 });
    expect(run).toMatchObject({ kind: 'evaluate', parentRunId: source.id, status: 'queued', seed: 0, preset: 'tiny-test' });
    expect(run.name).toContain('delta-t analysis');
    const expected = {
      type: 'analysis',
      kind: 'delta-t',
      sourceRunId: source.id,
      checkpointStep: null,
      weights: 'ema',
      seed: 0,
      n: 16,
      steps: '100',
      tStart: 500,
    };
    expect(run.config).toEqual(expected);
    expect(job).toMatchObject({ kind: 'evaluate', status: 'queued', runId: run.id, args: expected });
    expect(events.some((e) => e.type === 'job-status' && e.jobId === job.id && e.status === 'queued')).toBe(true);
    const second = await api.startAnalysis({ runId: source.id, kind: 'prediction-error', timesteps: [900, 10, 10], checkpointStep: 3 });
    expect(second.job.args).toMatchObject({ kind: 'prediction-error', timesteps: [10, 900], checkpointStep: 3, n: 256 });
  });

  it('refuses, before writing anything, what cannot be analysed', async () => {
    const { api, store } = lab();
    const source = trainedRun(store, [6]);
    const bare = trainedRun(store, []);
    const runsBefore = store.countRuns();
    const bad = async (request: Record<string, unknown>, code: string, message: RegExp) => {
      const err = await api.startAnalysis({ runId: source.id, kind: 'prediction-error', ...request } as never).then(
        () => null,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(err, JSON.stringify(request)).toMatchObject({ code });
      expect(err!.message).toMatch(message);
    };
    await bad({ runId: 'nope0' }, 'NOT_FOUND', /no run with id "nope0"/);
    await bad({ runId: bare.id }, 'CONFLICT', /has no checkpoint yet/);
    await bad({ checkpointStep: 3 }, 'NOT_FOUND', /no checkpoint at step 3/);
    await bad({ timesteps: [10, 1000] }, 'INVALID', /request\.timesteps: t = 1000 is outside 0\.\.999 .*T = 1000/);
    await bad({ kind: 'chain-length', tStarts: [5000] }, 'INVALID', /request\.tStarts: t = 5000/);
    await bad({ kind: 'delta-t', timesteps: [10] }, 'INVALID', /request\.timesteps applies to prediction-error analyses only, not delta-t/);
    await bad({ kind: 'spectrum', steps: '2000' }, 'INVALID', /request\.steps: cannot divide a section of 1000 steps into 2000/);
    await bad({ kind: 'histogram' }, 'INVALID', /request\.kind/);
    const sampling = await api.startSampling({ runId: source.id, sampler: { kind: 'ddim', steps: 'ddim10' }, n: 4 });
    await bad({ runId: sampling.run.id }, 'INVALID', /is a sample run; give a training run/);
    expect(store.countRuns()).toBe(runsBefore + 1);
    expect(store.listJobs({ status: 'queued' }).map((j) => j.kind)).toEqual(['sample']);
  });
});

describe('listAnalyses', () => {
  it('lists by training run and kind, and follows an analysis run to what it recorded', async () => {
    const { api, store } = lab();
    const source = trainedRun(store, [6]);
    const other = trainedRun(store, [6]);
    const a = await api.startAnalysis({ runId: source.id, kind: 'spectrum', n: 4 });
    const spectrum = { kind: 'spectrum' as const, frequencies: [0, 0.125], samples: [1, 0.5], data: [1, 0.25] };
    const rec = store.addAnalysis({ runId: source.id, kind: 'spectrum', checkpointStep: 6, params: { analysisRunId: a.run.id }, result: spectrum });
    store.addAnalysis({ runId: source.id, kind: 'delta-t', checkpointStep: 6, params: {}, result: { kind: 'delta-t', tStart: 999, samplingSteps: 10, points: [] } });
    store.addAnalysis({ runId: other.id, kind: 'spectrum', params: {}, result: spectrum });
    expect((await api.listAnalyses({ runId: source.id })).map((x) => x.kind)).toEqual(['spectrum', 'delta-t']);
    expect(await api.listAnalyses({ runId: source.id, kind: 'spectrum' })).toEqual([rec]);
    expect(await api.listAnalyses({ runId: a.run.id })).toEqual([rec]);
    expect(await api.listAnalyses()).toHaveLength(3);
    await expect(api.listAnalyses({ runId: 'nope0' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('compareSamples', () => {
  const ddpm20 = { kind: 'ddpm' as const, steps: '20' };

  /** A sample set recorded the way sampling-run.ts records one, with its files on disk. */
  function recordSet(dir: string, store: Store, run: RunRow, o: { step: number; seed: number; n: number; weights: 'ema' | 'raw'; steps: string; withFiles?: boolean }) {
    const base = `runs/${run.id}/samples/step${o.step}_ddpm_T${o.steps}_${o.weights}_seed${o.seed}_n${o.n}`;
    if (o.withFiles !== false) {
      fs.mkdirSync(path.join(dir, path.dirname(base)), { recursive: true });
      fs.writeFileSync(path.join(dir, base + '.png'), 'png');
      fs.writeFileSync(path.join(dir, base + '.npz'), 'npz');
    }
    return store.addSampleSet({
      runId: run.id,
      checkpointStep: o.step,
      sampler: { name: 'ddpm', kind: 'ddpm', steps: o.steps },
      stepsSpec: o.steps,
      seed: o.seed,
      count: o.n,
      npzPath: base + '.npz',
      gridPath: base + '.png',
    });
  }

  it('queues one sampling job per run at its newest checkpoint, and a second click queues nothing', async () => {
    const { api, store } = lab();
    const a = trainedRun(store, [3, 6]);
    const b = trainedRun(store, [6, 9], { objective: 'adm-ip' });
    const first = await api.compareSamples({ runIds: [a.id, b.id], sampler: ddpm20, n: 16 });
    expect(first.map((e) => [e.runId, e.sampleSet, e.job?.status])).toEqual([
      [a.id, null, 'queued'],
      [b.id, null, 'queued'],
    ]);
    expect(first.map((e) => e.job!.args['checkpointStep'])).toEqual([6, 9]);
    expect(first[0]!.job!.args).toMatchObject({ sourceRunId: a.id, seed: 0, n: 16, weights: 'ema', batchSize: 64, sampler: ddpm20 });
    expect(store.getRun(first[0]!.job!.runId)).toMatchObject({ kind: 'sample', parentRunId: a.id });
    // The same request again, and an equivalent spelling of the sampler: the same jobs.
    const again = await api.compareSamples({ runIds: [a.id, b.id], sampler: ddpm20, n: 16, batchSize: 8 });
    expect(again.map((e) => e.job!.id)).toEqual(first.map((e) => e.job!.id));
    const spelled = await api.compareSamples({ runIds: [b.id], sampler: { ...ddpm20, variance: 'fixed-large', clipX0: true, epsScale: { kind: 'constant', lambda: 1 } }, n: 16 });
    expect(spelled[0]!.job!.id).toBe(first[1]!.job!.id);
    // A running job still counts; another seed is another set.
    store.claimNextJob(process.pid);
    expect((await api.compareSamples({ runIds: [a.id], sampler: ddpm20, n: 16 }))[0]!.job!.id).toBe(first[0]!.job!.id);
    const seeded = await api.compareSamples({ runIds: [a.id], sampler: ddpm20, n: 16, seed: 1 });
    expect(seeded[0]!.job!.id).not.toBe(first[0]!.job!.id);
    expect(store.listJobs()).toHaveLength(3);
  });

  it('returns an existing sample set with the same checkpoint, sampler, seed, count and weights', async () => {
    const { api, store, dir } = lab();
    const a = trainedRun(store, [6]);
    const b = trainedRun(store, [6]);
    recordSet(dir, store, a, { step: 6, seed: 0, n: 16, weights: 'raw', steps: '20' });
    recordSet(dir, store, a, { step: 3, seed: 0, n: 16, weights: 'ema', steps: '20' });
    const match = recordSet(dir, store, a, { step: 6, seed: 0, n: 16, weights: 'ema', steps: '20' });
    recordSet(dir, store, b, { step: 6, seed: 0, n: 16, weights: 'ema', steps: '20', withFiles: false });
    const out = await api.compareSamples({ runIds: [a.id, b.id], sampler: ddpm20, n: 16 });
    expect(out[0]).toMatchObject({ runId: a.id, job: null, sampleSet: { id: match.id, checkpointStep: 6 } });
    expect(out[0]!.sampleSet!.gridArtifactId).toMatch(/^a[0-9a-f]{24}$/);
    // b's set lost its files: it is drawn again
    expect(out[1]).toMatchObject({ runId: b.id, sampleSet: null, job: { kind: 'sample', status: 'queued' } });
    const raw = await api.compareSamples({ runIds: [a.id], sampler: ddpm20, n: 16, weights: 'raw' });
    expect(raw[0]!.sampleSet).not.toBeNull();
    expect(raw[0]!.sampleSet!.id).not.toBe(match.id);
    expect(store.listJobs()).toHaveLength(1);
  });

  it('refuses a checkpoint some run lacks, or a run without checkpoints, queuing nothing', async () => {
    const { api, store } = lab();
    const a = trainedRun(store, [3, 6]);
    const b = trainedRun(store, [6]);
    const none = trainedRun(store, []);
    await expect(api.compareSamples({ runIds: [a.id, b.id], checkpointStep: 3, sampler: ddpm20 })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(`run ${b.id} has no checkpoint at step 3`),
    });
    await expect(api.compareSamples({ runIds: [a.id, none.id], sampler: ddpm20 })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(api.compareSamples({ runIds: [a.id], sampler: { kind: 'ddpm', steps: '5000' } })).rejects.toMatchObject({ code: 'INVALID' });
    expect(store.listJobs()).toEqual([]);
  });

  it('treats sampler spellings that draw the same chain as one', () => {
    const key = (s: Record<string, unknown>, learnSigma = false) => samplerKey(s, 1000, learnSigma);
    expect(key({ kind: 'ddpm', steps: '' })).toBe(key({ kind: 'ddpm', steps: '1000', variance: 'fixed-large' }));
    expect(key({ kind: 'ddpm', steps: '' }, true)).toBe(key({ kind: 'ddpm', steps: '', variance: 'learned' }, true));
    expect(key({ kind: 'ddim', steps: 'ddim50' })).toBe(key({ name: 'ddim', steps: 'ddim50', eta: 0, timeShift: { cutoff: 300, window: 0 } }));
    expect(key({ kind: 'ddim', steps: '50' })).not.toBe(key({ kind: 'ddim', steps: 'ddim50' }));
    expect(key({ kind: 'ddpm', steps: '20', epsScale: { kind: 'constant', lambda: 1.004 } })).not.toBe(key({ kind: 'ddpm', steps: '20' }));
    expect(key({ kind: 'ddpm', steps: '20', clipX0: false })).not.toBe(key({ kind: 'ddpm', steps: '20' }));
    expect(key({ kind: 'ddpm', steps: '20', variance: 'fixed-small' })).not.toBe(key({ kind: 'ddpm', steps: '20' }));
  });
});

describe('estimateTraining', () => {
  function measured(store: Store, over: TrainConfigInput, rates: number[]): RunRow {
    const run = createTrainingRun(store, parseTrainConfig(tinyConfig(over)), { status: 'running', backend: 'wasm' });
    store.appendMetrics(run.id, rates.map((value, i) => ({ step: i + 1, name: 'it_per_s', value })));
    return run;
  }

  it('says so when this machine has no comparable run yet', async () => {
    const { api, store } = lab();
    measured(store, { imageSize: 32 }, [5]);
    measured(store, { preset: 'bench-s-mnist16' }, [5]);
    measured(store, { objective: 'adm-gp' }, [5]);
    const foreign = measured(store, {}, [5]);
    store.updateRun(foreign.id, { machine: { cpuModel: 'another machine', cpuCount: 64 } });
    expect(store.listRuns({ preset: 'bench-s-mnist16' })).toHaveLength(1);
    expect(store.listRuns({ preset: 'tiny-test' })).toHaveLength(3);
    const e = await api.estimateTraining(tinyConfig({ steps: 100 }));
    expect(e).toMatchObject({ secondsPerStep: null, seconds: null });
    expect(e.basis).toMatch(/^no comparable run yet on this machine \(preset tiny-test, batch 4, 16x16, wasm\)/);
  });

  it('uses the median speed of the newest runs of the same size and batch', async () => {
    const { api, store } = lab();
    measured(store, {}, [100]); // oldest: beyond the 3 newest
    const r1 = measured(store, {}, [2, 4, 5]); // median 4 it/s: 0.25 s/step
    const r2 = measured(store, { objective: 'adm-ip' }, [1]); // 1 s/step
    const r3 = measured(store, { seed: 9 }, [0.5, 0.5, Number.NaN]); // 2 s/step
    measured(store, { batch: 8 }, [1]);
    const e = await api.estimateTraining(tinyConfig({ steps: 100 }));
    expect(e.secondsPerStep).toBeCloseTo(1, 12);
    expect(e.seconds).toBeCloseTo(100, 10);
    expect(e.basis).toContain('median speed of 3 runs');
    for (const r of [r1, r2, r3]) expect(e.basis).toContain(r.id);
    // an explicit backend only counts runs on it
    const tf = await api.estimateTraining(tinyConfig({ backend: 'tensorflow' }));
    expect(tf.secondsPerStep).toBeNull();
  });

  it('scales linearly from another batch size when that is all there is', async () => {
    const { api, store } = lab();
    const r = measured(store, { batch: 8 }, [2, 2]); // 0.5 s per step of 8
    const e = await api.estimateTraining(tinyConfig({ batch: 4, steps: 10 }));
    expect(e.secondsPerStep).toBeCloseTo(0.25, 12);
    expect(e.seconds).toBeCloseTo(2.5, 12);
    expect(e.basis).toMatch(/at batch 8 .*scaled linearly to batch 4/);
    expect(e.basis).toContain(r.id);
  });
});

/**
 * Exposure-bias analyses end to end: a tiny run trained by a real job process, then analyses through
 * the job supervisor (child processes, the tiny U-Net on wasm), in this process the way `xlab
 * analyze` runs them, and through `xlab analyze` itself; results land in the analyses table under
 * the training run, the chain-length grid as an artifact. Timings are never asserted.
 */
import * as fs from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisInfo, LabEvent } from '../../src/shared/api';
import { checkAnalysisResult } from '../../src/main/analyses/results';
import { prepareAnalysis } from '../../src/main/api/analysis-api';
import { createLabApi, type LabService } from '../../src/main/api/lab-api';
import { runAnalysis } from '../../src/main/jobs/analysis-run';
import { LogTail } from '../../src/main/jobs/protocol';
import { claimForegroundJob, createAnalysisRun } from '../../src/main/jobs/run-records';
import { initBackend } from '../../src/main/nn/backend';
import { nodeJobForker } from '../../src/main/jobs/fork-node';
import { startSupervisor, type Supervisor } from '../../src/main/jobs/supervisor';
import { resolveArtifact } from '../../src/main/store/artifacts';
import { openStore, type Store } from '../../src/main/store/store';
import { integrityCheck, removeTmpDirs, runXlab, tinyConfig, tmpDataDir, waitFor } from './harness';

let dir: string;
let store: Store;
let supervisor: Supervisor;
let api: LabService;
const events: LabEvent[] = [];
let trainingRunId: string;

beforeAll(async () => {
  dir = tmpDataDir('xlab-analysis-');
  store = openStore(dir);
  supervisor = startSupervisor({ store, dataDir: dir, concurrency: 1, fork: nodeJobForker(), pollMs: 200, graceMs: 20_000 });
  api = createLabApi({ store, dataDir: dir, supervisor });
  api.subscribe((e) => events.push(e));
  const { run, job } = await api.startTraining(tinyConfig({ steps: 3, checkpointEvery: 3 }), { name: 'analysed' });
  trainingRunId = run.id;
  const done = await waitFor('training to finish', () => {
    const j = store.getJob(job.id)!;
    return j.status === 'done' || j.status === 'failed' ? j : undefined;
  });
  expect(done.error).toBeNull();
}, 120_000);

afterAll(async () => {
  await supervisor.shutdown({ graceMs: 5000 });
  api.close();
  store.close();
  removeTmpDirs();
});

describe('analysis jobs', () => {
  it('runs in a job process and files its result (and the chain-length grid) under the training run', async () => {
    const started = [await api.startAnalysis({ runId: trainingRunId, n: 8, steps: '10', kind: 'chain-length', tStarts: [50, 999] })];
    for (const s of started) {
      const j = await waitFor(`analysis job ${s.job.id}`, () => {
        const j = store.getJob(s.job.id)!;
        return j.status === 'done' || j.status === 'failed' ? j : undefined;
      });
      expect(j.error, j.logTail ?? '').toBeNull();
      expect(store.getRun(s.run.id)).toMatchObject({ status: 'done', kind: 'evaluate', parentRunId: trainingRunId });
    }
    const list = await api.listAnalyses({ runId: trainingRunId });
    expect(list.map((a) => a.kind)).toEqual(['chain-length']);
    expect(checkAnalysisResult(list[0]!.result)).toEqual(list[0]!.result);
    expect(list[0]!.checkpointStep).toBe(3);
    expect(list[0]!.params).toMatchObject({ seed: 0, weights: 'ema', steps: '10', n: 8, analysisRunId: started[0]!.run.id });

    const cl = list[0]!.result;
    if (cl.kind !== 'chain-length') throw new Error('kind');
    expect(cl.tStarts).toEqual([0, 999]); // 50 snaps down to the chain's 0
    const file = resolveArtifact(store, dir, cl.gridArtifactId!)!;
    expect(file).toContain(`/runs/${trainingRunId}/analyses/`);
    const meta = await sharp(fs.readFileSync(file)).metadata();
    expect([meta.width, meta.height]).toEqual([8 * 18 + 2, 3 * 18 + 2]);
    expect(await api.artifactUrl(cl.gridArtifactId!)).toBe(`/artifacts/${cl.gridArtifactId}`);

    expect(events.some((e) => e.type === 'job-progress' && e.kind === 'evaluate' && e.jobId === started[0]!.job.id)).toBe(true);
    expect(integrityCheck(store.dbPath)).toBe('ok');
  }, 240_000);

  it('run in the foreground (as `xlab analyze` does) with the same recording', async () => {
    await initBackend('wasm', 'infer');
    for (const kind of ['prediction-error', 'spectrum', 'delta-t'] as const) {
      const { source, args } = prepareAnalysis(store, dir, { runId: trainingRunId, kind, n: 8, steps: '10', seed: 1, weights: 'ema' });
      const run = createAnalysisRun(store, args, source);
      const job = claimForegroundJob(store, run.id, 'evaluate', { ...args });
      const outcome = await runAnalysis({ store, dataDir: dir, runId: run.id, jobId: job.id, args, log: new LogTail() });
      if (outcome.status !== 'done') throw new Error(JSON.stringify(outcome));
      expect(store.getJob(job.id)!.status).toBe('done');
      expect(store.getRun(run.id)!.status).toBe('done');
      const r = outcome.analysis.result;
      if (r.kind === 'prediction-error') {
        // the defaults for T = 1000
        expect(r.perT.map((p) => [p.t, p.n])).toEqual([10, 100, 300, 500, 700, 900].map((t) => [t, 8 * 16 * 16]));
        for (const p of r.perT) expect(p.histogram.counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(p.n);
      } else if (r.kind === 'spectrum') {
        expect(r.samples).toHaveLength(r.frequencies.length);
        expect(r.frequencies.at(-1)).toBeCloseTo(11 / 16, 12); // round(sqrt(8^2 + 8^2)) cycles per 16 px
      } else if (r.kind === 'delta-t') {
        // the default start is the chain's first timestep; every kept step is recorded
        expect(r.tStart).toBe(999);
        expect(r.points.map((p) => p.t)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
      }
      expect(checkAnalysisResult(r)).toEqual(r);
    }
    expect((await api.listAnalyses({ runId: trainingRunId })).map((a) => a.kind)).toEqual([
      'chain-length',
      'prediction-error',
      'spectrum',
      'delta-t',
    ]);
  }, 120_000);

  it('`xlab analyze` runs one in the foreground, lists them, and queues one with --queue', async () => {
    await supervisor.shutdown({ graceMs: 5000 });
    const fg = await runXlab(['analyze', trainingRunId, '--kind', 'prediction-error', '--n', '4', '--t', '50,500', '--json', '--data-dir', dir]);
    expect(fg.stderr).not.toMatch(/xlab: /);
    expect(fg.code).toBe(0);
    const out = JSON.parse(fg.stdout) as AnalysisInfo & { analysisRunId: string };
    expect(out).toMatchObject({ runId: trainingRunId, kind: 'prediction-error', checkpointStep: 3 });
    expect(out.result.kind === 'prediction-error' && out.result.perT.map((p) => p.t)).toEqual([50, 500]);
    expect(store.getRun(out.analysisRunId)).toMatchObject({ status: 'done', parentRunId: trainingRunId });

    const listed = await runXlab(['analyze', trainingRunId, '--list', '--kind', 'prediction-error', '--data-dir', dir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.match(/prediction-error at step 3/g)).toHaveLength(2);
    expect(listed.stdout).toMatch(/SHAPIRO W/);

    const ok = await runXlab(['analyze', trainingRunId, '--kind', 'spectrum', '--n', '4', '--steps', '10', '--queue', '--json', '--data-dir', dir]);
    expect(ok.code).toBe(0);
    const { job } = JSON.parse(ok.stdout) as { job: { id: number } };
    expect(store.getJob(job.id)).toMatchObject({ kind: 'evaluate', status: 'queued', args: { type: 'analysis', kind: 'spectrum', n: 4 } });
  }, 240_000);
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Store, StoreError, openStore } from '../../src/main/store/store';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-store-'));
  tmpDirs.push(d);
  return d;
}

let dir: string;
let store: Store;
beforeEach(() => {
  dir = tmp();
  store = openStore(dir);
});
afterEach(() => {
  store.close();
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function newRun(extra: Partial<Parameters<Store['createRun']>[0]> = {}) {
  return store.createRun({ name: 'run', kind: 'train', config: { lr: 2e-4 }, seed: 1, ...extra });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof StoreError ? e.code : `not a StoreError: ${String(e)}`;
  }
  return undefined;
}

describe('experiments and runs', () => {
  it('creates and reads runs with camelCase fields and parsed JSON', () => {
    const exp = store.createExperiment({ name: 'exposure bias', description: 'ADM vs ADM-IP' });
    const run = newRun({
      experimentId: exp.id,
      name: 'adm-ip γ=0.1',
      objective: 'adm-ip',
      gamma: 0.1,
      dataset: 'mnist',
      preset: 'bench-s-mnist16',
      config: { model: { channels: 32 }, lr: 2e-4 },
      seed: 42,
      stepsPlanned: 1000,
      machine: { cpus: 2, backend: 'wasm' },
      appVersion: '0.1.0',
      gitCommit: 'deadbeef',
    });
    expect(run.id).toMatch(/^[0-9a-z]{14}$/);
    expect(run.dir).toBe(`runs/${run.id}`);
    expect(store.getRun(run.id)).toEqual(run);
    expect(run).toMatchObject({
      experimentId: exp.id,
      status: 'queued',
      stepsDone: 0,
      stepsPlanned: 1000,
      config: { model: { channels: 32 }, lr: 2e-4 },
      machine: { cpus: 2, backend: 'wasm' },
      bestFid: null,
      tags: [],
    });
    expect(store.listExperiments()).toEqual([{ ...exp, runCount: 1 }]);
    expect(codeOf(() => store.createExperiment({ name: 'exposure bias' }))).toBe('CONFLICT');
    expect(store.getRun('nope')).toBeUndefined();
  });

  it('validates input before writing', () => {
    expect(codeOf(() => store.createRun({ name: '', kind: 'train', config: {}, seed: 1 }))).toBe('INVALID');
    expect(codeOf(() => store.createRun({ name: 'x', kind: 'bake' as never, config: {}, seed: 1 }))).toBe('INVALID');
    expect(codeOf(() => store.createRun({ name: 'x', kind: 'train', config: {}, seed: 1.5 }))).toBe('INVALID');
    expect(codeOf(() => newRun({ experimentId: 99 }))).toBe('NOT_FOUND');
    expect(codeOf(() => newRun({ parentRunId: 'missing' }))).toBe('NOT_FOUND');
    expect(() => store.createRun({ name: 'x', kind: 'train', config: [] as never, seed: 1 })).toThrow(/invalid run: config/);
    expect(store.listRuns()).toEqual([]);
  });

  it('lists with filters, search, paging and ordering', () => {
    const e1 = store.createExperiment({ name: 'e1' });
    const t0 = 1_700_000_000_000;
    const a = newRun({ name: 'ADM baseline', objective: 'adm', experimentId: e1.id, createdAt: t0 });
    const b = newRun({ name: 'ADM-IP gamma 0.1', objective: 'adm-ip', experimentId: e1.id, createdAt: t0 + 1 });
    const c = newRun({ name: 'sample 100% steps_x', kind: 'sample', createdAt: t0 + 2 });
    store.updateRun(a.id, { status: 'running' });
    store.updateRun(a.id, { status: 'done' });
    store.tag(c.id, 'paper-fig-3');

    expect(store.listRuns().map((r) => r.id)).toEqual([c.id, b.id, a.id]);
    expect(store.listRuns({ orderBy: 'createdAt', direction: 'asc' }).map((r) => r.id)).toEqual([a.id, b.id, c.id]);
    expect(store.listRuns({ status: 'done' }).map((r) => r.id)).toEqual([a.id]);
    expect(store.listRuns({ status: ['queued', 'done'] })).toHaveLength(3);
    expect(store.listRuns({ status: [] })).toEqual([]);
    expect(store.listRuns({ experimentId: e1.id }).map((r) => r.id)).toEqual([b.id, a.id]);
    expect(store.listRuns({ experimentId: null }).map((r) => r.id)).toEqual([c.id]);
    expect(store.listRuns({ kind: 'sample' }).map((r) => r.id)).toEqual([c.id]);
    expect(store.listRuns({ search: 'adm-ip' }).map((r) => r.id)).toEqual([b.id]);
    expect(store.listRuns({ search: 'ADM' }).map((r) => r.id)).toEqual([b.id, a.id]);
    expect(store.listRuns({ search: 'fig-3' }).map((r) => r.id)).toEqual([c.id]); // by tag
    expect(store.listRuns({ tag: 'paper-fig-3' }).map((r) => r.id)).toEqual([c.id]);
    // LIKE wildcards in the search text are literal
    expect(store.listRuns({ search: '100%' }).map((r) => r.id)).toEqual([c.id]);
    expect(store.listRuns({ search: '%' }).map((r) => r.id)).toEqual([c.id]);
    expect(store.listRuns({ search: 'm_l' })).toEqual([]); // unescaped, _ would match "mpl"
    expect(store.listRuns({ search: c.id.slice(0, 12) }).map((r) => r.id)).toContain(c.id);
    expect(store.listRuns({ limit: 2 }).map((r) => r.id)).toEqual([c.id, b.id]);
    expect(store.listRuns({ limit: 2, offset: 2 }).map((r) => r.id)).toEqual([a.id]);
    expect(store.listRuns({ orderBy: 'name' }).map((r) => r.name)).toEqual([
      'ADM baseline',
      'ADM-IP gamma 0.1',
      'sample 100% steps_x',
    ]);
    expect(store.countRuns()).toBe(3);
    expect(store.countRuns({ status: 'queued' })).toBe(2);
    expect(codeOf(() => store.listRuns({ orderBy: 'id; DROP TABLE runs' as never }))).toBe('INVALID');
    expect(codeOf(() => store.listRuns({ limit: -1 }))).toBe('INVALID');
  });

  it('orders by best FID with unevaluated runs last', () => {
    const a = newRun({ name: 'a' });
    const b = newRun({ name: 'b' });
    const c = newRun({ name: 'c' });
    store.addEvaluation({ runId: a.id, metric: 'fid', value: 20, comparabilityKey: 'k' });
    store.addEvaluation({ runId: b.id, metric: 'fid', value: 8, comparabilityKey: 'k' });
    store.addEvaluation({ runId: a.id, metric: 'fid', value: 15, comparabilityKey: 'k2' });
    store.addEvaluation({ runId: a.id, metric: 'fid', value: 30, comparabilityKey: 'k' });
    // the lowest FID under the run's most used key ('k': 20 and 30), never a minimum across keys
    expect(store.getRun(a.id)!.bestFid).toBe(20);
    expect(store.listRuns({ orderBy: 'bestFid' }).map((r) => r.name)).toEqual(['b', 'a', 'c']);
    expect(store.listRuns({ orderBy: 'bestFid', direction: 'desc' }).map((r) => r.name)).toEqual(['a', 'b', 'c']);
  });

  it('enforces status transitions and fills timestamps', () => {
    const r = newRun({ stepsPlanned: 100 });
    expect(codeOf(() => store.updateRun(r.id, { status: 'done' }))).toBe('CONFLICT');
    const running = store.updateRun(r.id, { status: 'running', backend: 'wasm' });
    expect(running.startedAt).toBeTypeOf('number');
    expect(running.backend).toBe('wasm');
    expect(store.updateRun(r.id, { stepsDone: 50 }).stepsDone).toBe(50);
    const interrupted = store.updateRun(r.id, { status: 'interrupted' });
    expect(interrupted.finishedAt).toBeNull();
    // resume
    const resumed = store.updateRun(r.id, { status: 'running' }, { expectStatus: 'interrupted' });
    expect(resumed.startedAt).toBe(running.startedAt); // first start is kept
    const failed = store.updateRun(r.id, { status: 'failed', error: 'NaN loss at step 73' });
    expect(failed.finishedAt).toBeTypeOf('number');
    expect(failed.error).toBe('NaN loss at step 73');
    // retry clears the error and the finish time
    const retried = store.updateRun(r.id, { status: 'running' });
    expect(retried.error).toBeNull();
    expect(retried.finishedAt).toBeNull();
    store.updateRun(r.id, { status: 'done', stepsDone: 100 });
    expect(codeOf(() => store.updateRun(r.id, { status: 'paused' }))).toBe('CONFLICT');
    expect(codeOf(() => store.updateRun(r.id, { stepsDone: 1 }, { expectStatus: 'running' }))).toBe('CONFLICT');
    expect(store.updateRun(r.id, { status: 'done' }).status).toBe('done'); // idempotent
    expect(codeOf(() => store.updateRun('missing', { stepsDone: 1 }))).toBe('NOT_FOUND');
    expect(codeOf(() => store.updateRun(r.id, { stepsDone: -1 }))).toBe('INVALID');
  });

  it('deletes a run with everything that hangs off it and returns its folder', () => {
    const parent = newRun({ name: 'parent' });
    const r = newRun({ name: 'child', parentRunId: parent.id });
    const other = newRun({ name: 'other' });
    store.appendMetrics(r.id, [{ step: 1, name: 'loss', value: 1 }]);
    store.addCheckpoint({ runId: r.id, step: 1, path: `${r.dir}/c1.xlck` });
    const ss = store.addSampleSet({ runId: r.id, sampler: { name: 'ddpm' }, seed: 1, count: 8, npzPath: `${r.dir}/s.npz` });
    store.addEvaluation({ runId: r.id, sampleSetId: ss.id, metric: 'fid', value: 3, comparabilityKey: 'k' });
    // an evaluation in another run that used this run's samples survives, detached
    const foreignEval = store.addEvaluation({ runId: other.id, sampleSetId: ss.id, metric: 'fid', value: 4, comparabilityKey: 'k' });
    store.tag(r.id, 't');
    store.addNote(r.id, 'n');
    store.enqueueJob({ runId: r.id, kind: 'train' });
    const grandchild = newRun({ name: 'grandchild', parentRunId: r.id });

    expect(store.deleteRun(r.id)).toEqual({ dir: r.dir, absDir: path.join(dir, 'runs', r.id) });
    expect(store.getRun(r.id)).toBeUndefined();
    expect(store.metricSeries(r.id, 'loss').total).toBe(0);
    expect(store.listCheckpoints(r.id)).toEqual([]);
    expect(store.listSampleSets(r.id)).toEqual([]);
    expect(store.listEvaluations({ runId: r.id })).toEqual([]);
    expect(store.listEvaluations({ runId: other.id })).toEqual([{ ...foreignEval, sampleSetId: null }]);
    expect(store.listTags(r.id)).toEqual([]);
    expect(store.listNotes(r.id)).toEqual([]);
    expect(store.listJobs({ runId: r.id })).toEqual([]);
    expect(store.listArtifacts(r.id)).toEqual([]);
    expect(store.getRun(grandchild.id)!.parentRunId).toBeNull();
    expect(store.getRun(parent.id)).toBeDefined();
    expect(store.deleteRun(r.id)).toBeUndefined();
  });

  it('refuses to delete a running run unless forced', () => {
    const r = newRun();
    store.enqueueJob({ runId: r.id, kind: 'train' });
    store.claimNextJob(1234);
    store.updateRun(r.id, { status: 'running' });
    expect(codeOf(() => store.deleteRun(r.id))).toBe('CONFLICT');
    expect(store.deleteRun(r.id, { force: true })?.dir).toBe(r.dir);
  });
});

describe('metrics', () => {
  it('upserts: re-logging a step after a resume replaces it instead of duplicating it', () => {
    const r = newRun();
    const rows = Array.from({ length: 10 }, (_, i) => ({ step: i, name: 'loss', value: 1 / (i + 1), wallTime: 1000 + i }));
    expect(store.appendMetrics(r.id, rows)).toBe(10);
    expect(store.appendMetrics(r.id, rows.slice(5).map((p) => ({ ...p, value: p.value * 2, wallTime: p.wallTime + 1 })))).toBe(5);
    const s = store.metricSeries(r.id, 'loss');
    expect(s.total).toBe(10);
    expect(s.step).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.value.slice(0, 5)).toEqual(rows.slice(0, 5).map((p) => p.value));
    expect(s.value.slice(5)).toEqual(rows.slice(5).map((p) => p.value * 2));
    expect(s.wallTime[9]).toBe(1010);
    // the same batch twice in one call is also one point
    store.appendMetrics(r.id, [
      { step: 20, name: 'loss', value: 1 },
      { step: 20, name: 'loss', value: 2 },
    ]);
    expect(store.metricSeries(r.id, 'loss', { fromStep: 20 })).toMatchObject({ step: [20], value: [2] });
  });

  it('keeps non-finite values and exact doubles', () => {
    const r = newRun();
    const values = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.1 + 0.2, -0, 5e-324, 1.7976931348623157e308];
    const random = Array.from({ length: 500 }, () => (Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 40 - 20));
    const all = [...values, ...random];
    store.appendMetrics(r.id, all.map((v, i) => ({ step: i, name: 'x', value: v, wallTime: 1.7e12 + i + 0.123 })));
    const s = store.metricSeries(r.id, 'x');
    expect(s.value.length).toBe(all.length);
    for (let i = 0; i < all.length; i++) {
      if (Number.isNaN(all[i])) expect(s.value[i]).toBeNaN();
      else expect(s.value[i] === all[i] || (all[i] === 0 && s.value[i] === 0)).toBe(true);
      expect(s.wallTime[i]).toBe(1.7e12 + i + 0.123);
    }
  });

  it('rejects a bad batch whole, before writing anything', () => {
    const r = newRun();
    const batch = [
      { step: 0, name: 'loss', value: 1 },
      { step: 1, name: 'loss', value: 1 },
      { step: -1, name: 'loss', value: 1 },
    ];
    expect(codeOf(() => store.appendMetrics(r.id, batch))).toBe('INVALID');
    expect(codeOf(() => store.appendMetrics(r.id, [{ step: 1.5, name: 'loss', value: 1 }]))).toBe('INVALID');
    expect(codeOf(() => store.appendMetrics(r.id, [{ step: 1, name: '', value: 1 }]))).toBe('INVALID');
    expect(codeOf(() => store.appendMetrics('missing', [{ step: 1, name: 'loss', value: 1 }]))).toBe('NOT_FOUND');
    expect(store.metricSeries(r.id, 'loss').total).toBe(0);
    expect(store.appendMetrics(r.id, [])).toBe(0);
  });

  it('truncateMetricsAfter drops later steps of every series of that run only', () => {
    const r = newRun();
    const other = newRun();
    for (const id of [r.id, other.id]) {
      store.appendMetrics(
        id,
        Array.from({ length: 100 }, (_, i) => [
          { step: i, name: 'loss', value: i },
          { step: i, name: 'grad_norm', value: -i },
        ]).flat(),
      );
    }
    expect(store.truncateMetricsAfter(r.id, 49)).toBe(100);
    expect(store.metricSeries(r.id, 'loss').step).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(store.metricSeries(r.id, 'grad_norm').total).toBe(50);
    expect(store.metricSeries(other.id, 'loss').total).toBe(100);
    // the resumed run logs steps 50.. again: no gaps, no duplicates
    store.appendMetrics(r.id, Array.from({ length: 50 }, (_, i) => ({ step: 50 + i, name: 'loss', value: 1000 + i })));
    const s = store.metricSeries(r.id, 'loss');
    expect(s.total).toBe(100);
    expect(s.value[50]).toBe(1000);
    expect(store.truncateMetricsAfter(r.id, 1000)).toBe(0);
    expect(store.metricNames(r.id)).toEqual(['grad_norm', 'loss']);
  });

  it('downsamples to maxPoints keeping the ends and a spike', () => {
    const r = newRun();
    const n = 10_000;
    store.appendMetrics(
      r.id,
      Array.from({ length: n }, (_, i) => ({ step: i * 10, name: 'loss', value: i === 6_543 ? 50 : Math.exp(-i / 2000) })),
    );
    const s = store.metricSeries(r.id, 'loss', { maxPoints: 200 });
    expect(s.total).toBe(n);
    expect(s.step.length).toBe(200);
    expect(s.value.length).toBe(200);
    expect(s.wallTime.length).toBe(200);
    expect(s.step[0]).toBe(0);
    expect(s.step[199]).toBe((n - 1) * 10);
    expect(s.step).toContain(65_430);
    expect(Math.max(...s.value)).toBe(50);
    for (let i = 1; i < s.step.length; i++) expect(s.step[i]!).toBeGreaterThan(s.step[i - 1]!);
    const tail = store.metricSeries(r.id, 'loss', { fromStep: 99_000 });
    expect(tail.step[0]).toBe(99_000);
    expect(tail.total).toBe(100);
  });
});

describe('checkpoints, sample sets, evaluations, tags, notes', () => {
  it('records checkpoints (upsert per step) with artifact ids', () => {
    const r = newRun();
    store.addCheckpoint({ runId: r.id, step: 100, path: `${r.dir}/ckpt-100.xlck`, bytes: 10, isEmaIncluded: true });
    store.addCheckpoint({ runId: r.id, step: 200, path: `${r.dir}/ckpt-200.xlck`, bytes: 10 });
    const again = store.addCheckpoint({ runId: r.id, step: 200, path: `${r.dir}/ckpt-200.xlck`, bytes: 20 });
    expect(again.bytes).toBe(20);
    expect(store.listCheckpoints(r.id).map((c) => c.step)).toEqual([100, 200]);
    const latest = store.latestCheckpoint(r.id)!;
    expect(latest).toMatchObject({ step: 200, isEmaIncluded: false, bytes: 20 });
    expect(store.getArtifact(latest.artifactId!)).toMatchObject({ relPath: `${r.dir}/ckpt-200.xlck`, kind: 'checkpoint', bytes: 20 });
    expect(store.listCheckpoints(r.id)[0]!.isEmaIncluded).toBe(true);
    expect(store.latestCheckpoint(newRun().id)).toBeUndefined();
    expect(codeOf(() => store.addCheckpoint({ runId: 'missing', step: 1, path: 'runs/x/c' }))).toBe('NOT_FOUND');
  });

  it('records sample sets and evaluations with comparability keys', () => {
    const r = newRun();
    const ss = store.addSampleSet({
      runId: r.id,
      checkpointStep: 1000,
      sampler: { name: 'ddim', eta: 0, timeShift: true },
      stepsSpec: '10,20,50',
      epsScale: 1.0017,
      seed: 9,
      count: 10_000,
      npzPath: `${r.dir}/samples-1000.npz`,
      gridPath: `${r.dir}/grid-1000.png`,
    });
    expect(ss).toMatchObject({ sampler: { name: 'ddim', eta: 0, timeShift: true }, epsScale: 1.0017, count: 10_000 });
    expect(store.getArtifact(ss.gridArtifactId!)!.kind).toBe('grid');
    expect(store.getArtifact(ss.npzArtifactId!)!.kind).toBe('samples');
    expect(store.listSampleSets(r.id)).toEqual([ss]);
    expect(codeOf(() => store.addSampleSet({ runId: r.id, sampler: {} as never, seed: 1, count: 1 }))).toBe('INVALID');

    const e = store.addEvaluation({
      runId: r.id,
      sampleSetId: ss.id,
      metric: 'fid',
      value: 4.2,
      ciLow: 4.0,
      ciHigh: 4.4,
      comparabilityKey: 'mnist-train/10k/lenet-v1',
      details: { n: 10_000 },
    });
    store.addEvaluation({ runId: r.id, metric: 'fid', value: 9, comparabilityKey: 'mnist-train/1k/lenet-v1' });
    expect(e).toMatchObject({ details: { n: 10_000 }, ciLow: 4.0, sampleSetId: ss.id });
    expect(store.listEvaluations({ comparabilityKey: 'mnist-train/10k/lenet-v1' })).toEqual([e]);
    expect(store.listEvaluations({ sampleSetId: ss.id })).toEqual([e]);
    expect(store.listEvaluations({ runId: r.id, metric: 'fid' })).toHaveLength(2);
    expect(codeOf(() => store.addEvaluation({ runId: r.id, metric: 'fid', value: Number.NaN, comparabilityKey: 'k' }))).toBe(
      'INVALID',
    );
    expect(codeOf(() => store.addEvaluation({ runId: r.id, sampleSetId: 999, metric: 'fid', value: 1, comparabilityKey: 'k' }))).toBe(
      'NOT_FOUND',
    );
  });

  it('tags and notes', () => {
    const r = newRun();
    const s = newRun();
    store.tag(r.id, ' baseline ');
    store.tag(r.id, 'baseline');
    store.tag(r.id, 'adm');
    store.tag(s.id, 'zeta');
    expect(store.listTags(r.id)).toEqual(['adm', 'baseline']);
    expect(store.getRun(r.id)!.tags).toEqual(['adm', 'baseline']);
    expect(store.listTags()).toEqual(['adm', 'baseline', 'zeta']);
    expect(store.untag(r.id, 'adm')).toBe(true);
    expect(store.untag(r.id, 'adm')).toBe(false);
    expect(codeOf(() => store.tag(r.id, '  '))).toBe('INVALID');
    expect(codeOf(() => store.tag('missing', 'x'))).toBe('NOT_FOUND');
    const n1 = store.addNote(r.id, 'FID drops after 20k steps');
    const n2 = store.addNote(r.id, 'second');
    expect(store.listNotes(r.id)).toEqual([n1, n2]);
    expect(codeOf(() => store.addNote(r.id, ''))).toBe('INVALID');
  });
});

describe('job queue', () => {
  it('claims by priority then age, each job once', () => {
    const r = newRun();
    const j1 = store.enqueueJob({ runId: r.id, kind: 'train', args: { resume: false } });
    const j2 = store.enqueueJob({ runId: r.id, kind: 'sample', priority: 5 });
    const j3 = store.enqueueJob({ runId: r.id, kind: 'evaluate' });
    expect(j1).toMatchObject({ status: 'queued', args: { resume: false }, attempts: 0, pid: null, priority: 0 });
    const c1 = store.claimNextJob(111)!;
    expect(c1).toMatchObject({ id: j2.id, status: 'running', pid: 111, attempts: 1 });
    expect(c1.startedAt).toBeTypeOf('number');
    expect(store.claimNextJob(222, { kinds: ['evaluate'] })!.id).toBe(j3.id);
    expect(store.claimNextJob(333)!.id).toBe(j1.id);
    expect(store.claimNextJob(444)).toBeUndefined();
    expect(codeOf(() => store.claimNextJob(0))).toBe('INVALID');
  });

  it('heartbeat, finish, fail, cancel and requeue', () => {
    const r = newRun();
    const j = store.enqueueJob({ runId: r.id, kind: 'train' });
    expect(store.heartbeat(j.id)).toBe(false); // not running yet
    store.claimNextJob(100);
    expect(store.heartbeat(j.id, 100)).toBe(true);
    expect(store.heartbeat(j.id, 101)).toBe(false); // someone else's job
    expect(store.finishJob(j.id, 'step 1000/1000')).toBe(true);
    expect(store.getJob(j.id)).toMatchObject({ status: 'done', logTail: 'step 1000/1000' });
    expect(store.finishJob(j.id)).toBe(false);

    const k = store.enqueueJob({ runId: r.id, kind: 'sample' });
    store.claimNextJob(200);
    expect(store.failJob(k.id, 'out of memory', 'last lines')).toBe(true);
    expect(store.getJob(k.id)).toMatchObject({ status: 'failed', error: 'out of memory', logTail: 'last lines' });
    expect(store.requeueJob(k.id)).toBe(true);
    expect(store.getJob(k.id)).toMatchObject({ status: 'queued', pid: null, attempts: 1 });
    expect(store.claimNextJob(201)!.attempts).toBe(2);
    expect(store.cancelJob(k.id)).toBe(true);
    expect(store.heartbeat(k.id, 201)).toBe(false); // the job process learns it was cancelled
    expect(store.listJobs({ status: 'cancelled' }).map((x) => x.id)).toEqual([k.id]);
    expect(store.listJobs({ status: ['done', 'cancelled'] })).toHaveLength(2);
    expect(store.listJobs({ runId: r.id, limit: 1 })).toHaveLength(1);
  });

  it('markDeadJobsInterrupted interrupts jobs (and runs) whose process is gone', () => {
    const a = newRun();
    const b = newRun();
    const ja = store.enqueueJob({ runId: a.id, kind: 'train' });
    const jb = store.enqueueJob({ runId: b.id, kind: 'train' });
    store.claimNextJob(1001);
    store.claimNextJob(1002);
    store.updateRun(a.id, { status: 'running' });
    store.updateRun(b.id, { status: 'running' });
    const changed = store.markDeadJobsInterrupted((pid) => pid === 1002);
    expect(changed.map((j) => [j.id, j.status])).toEqual([[ja.id, 'interrupted']]);
    expect(store.getRun(a.id)!.status).toBe('interrupted');
    expect(store.getRun(b.id)!.status).toBe('running');
    expect(store.getJob(jb.id)!.status).toBe('running');
    // alive pid but a silent job (pid reuse after a reboot): caught by staleness
    expect(store.markDeadJobsInterrupted(() => true, { staleAfterMs: 60_000 })).toEqual([]);
    expect(store.markDeadJobsInterrupted(() => true, { staleAfterMs: -1 }).map((j) => j.id)).toEqual([jb.id]);
    // resume: requeue the job, the run goes back to queued
    expect(store.requeueJob(ja.id)).toBe(true);
    expect(store.updateRun(a.id, { status: 'queued' }).status).toBe('queued');
  });
});

describe('transactions, read-only and failure modes', () => {
  it('store.transaction is all or nothing', () => {
    const r = newRun();
    expect(() =>
      store.transaction(() => {
        store.appendMetrics(r.id, [{ step: 1, name: 'loss', value: 1 }]);
        store.tag(r.id, 'x');
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(store.metricSeries(r.id, 'loss').total).toBe(0);
    expect(store.listTags(r.id)).toEqual([]);
  });

  it('a read-only store reads and refuses every write', () => {
    const r = newRun({ name: 'ro' });
    const ro = openStore(dir, { readonly: true });
    try {
      expect(ro.readonly).toBe(true);
      expect(ro.getRun(r.id)!.name).toBe('ro');
      expect(codeOf(() => ro.createRun({ name: 'x', kind: 'train', config: {}, seed: 1 }))).toBe('NOT_WRITABLE');
      expect(codeOf(() => ro.appendMetrics(r.id, [{ step: 1, name: 'l', value: 1 }]))).toBe('NOT_WRITABLE');
      expect(codeOf(() => ro.claimNextJob(1))).toBe('NOT_WRITABLE');
      expect(() => ro.tag(r.id, 'x')).toThrow(/opened read-only/);
    } finally {
      ro.close();
    }
  });

  it('a closed store says so', () => {
    const s = openStore(tmp());
    s.close();
    s.close(); // idempotent
    expect(codeOf(() => s.listRuns())).toBe('CLOSED');
  });

  it('a full database fails with a clear error and keeps every earlier batch whole', () => {
    const small = openStore(tmp(), { maxPageCount: 80 });
    try {
      const r = small.createRun({ name: 'r', kind: 'train', config: {}, seed: 1 });
      let saved = 0;
      let err: unknown;
      for (let b = 0; b < 1000; b++) {
        const batch = Array.from({ length: 500 }, (_, i) => ({ step: b * 500 + i, name: 'loss', value: Math.random() }));
        try {
          small.appendMetrics(r.id, batch);
          saved += batch.length;
        } catch (e) {
          err = e;
          break;
        }
      }
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('DISK_FULL');
      expect((err as Error).message).toMatch(/disk is full/);
      expect((err as Error).message).toContain(small.dbPath);
      expect((err as Error).message).toMatch(/Nothing from this operation was saved/);
      expect(saved).toBeGreaterThan(0);
      expect(small.metricSeries(r.id, 'loss').total).toBe(saved);
      // still usable for reads, and for writes that fit
      expect(small.getRun(r.id)!.name).toBe('r');
      expect(small.updateRun(r.id, { stepsDone: saved }).stepsDone).toBe(saved);
    } finally {
      small.close();
    }
  });
});

describe('run listing without the JSON columns', () => {
  it('returns the same rows with config {} and machine null', () => {
    newRun({ name: 'a', config: { lr: 1e-4, nested: { x: 1 } }, machine: { cpus: 2 } });
    newRun({ name: 'b', config: { lr: 2e-4 } });
    const full = store.listRuns({ orderBy: 'name' });
    const summary = store.listRuns({ orderBy: 'name' }, { columns: 'summary' });
    expect(summary.map((r) => r.id)).toEqual(full.map((r) => r.id));
    expect(full[0]!.config).toEqual({ lr: 1e-4, nested: { x: 1 } });
    for (const [i, r] of summary.entries()) {
      expect(r.config).toEqual({});
      expect(r.machine).toBeNull();
      expect({ ...r, config: full[i]!.config, machine: full[i]!.machine }).toEqual(full[i]);
    }
  });
});

describe('what the runs list shows', () => {
  it('counts notes and shows the newest one, in full and in summary listings', () => {
    const a = newRun({ objective: 'adm' });
    const b = newRun({ objective: 'adm-ip' });
    store.addNote(a.id, 'first');
    store.addNote(a.id, 'second, and newer: ' + 'x'.repeat(300));
    for (const columns of ['full', 'summary'] as const) {
      const byId = new Map(store.listRuns({}, { columns }).map((r) => [r.id, r]));
      expect(byId.get(a.id)!.noteCount).toBe(2);
      expect(byId.get(a.id)!.lastNote).toBe(('second, and newer: ' + 'x'.repeat(300)).slice(0, 200));
      expect(byId.get(b.id)!.noteCount).toBe(0);
      expect(byId.get(b.id)!.lastNote).toBeNull();
    }
  });

  it("filters by exact objective: 'adm' does not match 'adm-ip'", () => {
    const a = newRun({ objective: 'adm' });
    newRun({ objective: 'adm-ip' });
    expect(store.listRuns({ objective: 'adm' }).map((r) => r.id)).toEqual([a.id]);
    expect(store.countRuns({ objective: 'adm-ip' })).toBe(1);
  });
});

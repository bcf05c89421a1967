import { describe, expect, it } from 'vitest';
import type { CheckpointInfo, ComparisonReport, RunInfo } from '../../src/shared/api';
import { CompareSamplesRequestSchema, StartEvaluationRequestSchema } from '../../src/shared/api';
import { DEFAULT_EVALUATE_FORM, DEFAULT_SAMPLE_FORM, evaluationRequest, parseStepsList, sampleRequest } from '../../src/renderer/src/screens/compare/sample-request';
import { commonCheckpoints, defaultBaseline, delta, distinctLabels, gammaText, sharedExperiment } from '../../src/renderer/src/screens/compare/run-set';
import { cellText, iterationsTable, pairedTestsTable, stepsTables } from '../../src/renderer/src/screens/compare/report-tables';
import { keyOptions } from '../../src/renderer/src/screens/compare/key-options';

describe('sampleRequest', () => {
  it('turns the default form into a request the API schema accepts', () => {
    const r = sampleRequest(['adm1', 'ip1'], DEFAULT_SAMPLE_FORM);
    expect(r.request).toEqual({ runIds: ['adm1', 'ip1'], sampler: { kind: 'ddpm', steps: '100' }, n: 64, seed: 0, weights: 'ema' });
    expect(CompareSamplesRequestSchema.safeParse(r.request).success).toBe(true);
  });

  it('uses the DDIM stride spec for DDIM and passes a chosen checkpoint', () => {
    const r = sampleRequest(['a'], { ...DEFAULT_SAMPLE_FORM, sampler: 'ddim', steps: '50', checkpoint: '2000' });
    expect(r.request?.sampler).toEqual({ kind: 'ddim', steps: 'ddim50' });
    expect(r.request?.checkpointStep).toBe(2000);
    expect(CompareSamplesRequestSchema.safeParse(r.request).success).toBe(true);
  });

  it('names each bad field', () => {
    const r = sampleRequest(['a'], { ...DEFAULT_SAMPLE_FORM, steps: 'ten', n: '5000', seed: '-1' });
    expect(r.request).toBeNull();
    expect(r.errors).toEqual({
      steps: "sampling steps T': enter a whole number from 1 to 100000",
      n: 'samples n: must be from 1 to 1024, got 5000',
      seed: 'seed: enter a whole number from 0 to 4294967295',
    });
    expect(sampleRequest(['a', 'b', 'c', 'd', 'e'], DEFAULT_SAMPLE_FORM).errors?.checkpoint).toMatch(/1 to 4 runs/);
  });
});

describe('evaluation form', () => {
  it('parses a T\' list: distinct, ascending', () => {
    expect(parseStepsList('100, 20 ,20 1000')).toEqual([20, 100, 1000]);
    expect(parseStepsList('20, x')).toMatch(/'x' is not a positive whole number/);
    expect(parseStepsList(' ')).toMatch(/one or more/);
  });

  it('builds a request the API schema accepts, with every checkpoint when asked', () => {
    const r = evaluationRequest('run1', { ...DEFAULT_EVALUATE_FORM, checkpoints: 'all' }, [10, 20, 30]);
    expect(r.request).toEqual({ runId: 'run1', n: 1000, steps: ['20', '100'], sampler: 'ddpm', checkpointSteps: [10, 20, 30] });
    expect(StartEvaluationRequestSchema.safeParse(r.request).success).toBe(true);
    expect(evaluationRequest('run1', { ...DEFAULT_EVALUATE_FORM, n: '5' }, null).errors?.n).toBe('samples n: must be from 10 to 100000, got 5');
  });
});

const run = (over: Partial<RunInfo>): RunInfo => ({
  id: 'r', experimentId: 1, name: 'run', kind: 'train', objective: 'adm', gamma: null, dataset: 'mnist', preset: 'tiny', config: {},
  seed: 0, status: 'done', stepsDone: 0, stepsPlanned: null, createdAt: 0, startedAt: null, finishedAt: null, backend: null,
  machine: null, appVersion: null, gitCommit: null, error: null, parentRunId: null, bestFid: null, tags: [], noteCount: 0, lastNote: null,
  ...over,
});

describe('run set', () => {
  it('prefers the plain ADM run as baseline', () => {
    expect(defaultBaseline([run({ id: 'ip', objective: 'adm-ip' }), run({ id: 'base', objective: 'adm' })])).toBe('base');
    expect(defaultBaseline([run({ id: 'ip', objective: 'adm-ip' })])).toBe('ip');
    expect(defaultBaseline([])).toBeNull();
  });

  it('describes gamma schedules and labels runs apart', () => {
    expect(gammaText(run({ objective: 'adm-ip', config: { gamma: { kind: 'constant', gamma: 0.1 } } }))).toBe('0.1');
    expect(gammaText(run({ objective: 'adm-ip', config: { gamma: { kind: 'linear', start: 0.2, end: 0 } } }))).toBe('0.2→0 (linear)');
    expect(gammaText(run({ objective: 'adm', gamma: 0.1 }))).toBeNull();
    const labels = distinctLabels([
      run({ id: 'a', name: 'seed run', objective: 'adm-ip', gamma: 0.1 }),
      run({ id: 'b', name: 'seed run', objective: 'adm-ip', gamma: 0.1 }),
      run({ id: 'c', name: 'ADM baseline', objective: 'adm' }),
    ]);
    expect([...labels.values()]).toEqual(['seed run (ADM-IP γ=0.1) [a]', 'seed run (ADM-IP γ=0.1) [b]', 'ADM baseline']);
  });

  it('finds the checkpoints every run has', () => {
    const cp = (step: number) => ({ step }) as CheckpointInfo;
    expect(commonCheckpoints([[cp(10), cp(20), cp(30)], [cp(30), cp(10)], [cp(10), cp(30), cp(40)]])).toEqual([10, 30]);
    expect(commonCheckpoints([])).toEqual([]);
  });

  it('computes deltas and the shared experiment', () => {
    expect(delta(2.7, 3.37)).toBeCloseTo(-0.67, 12);
    expect(delta(null, 3)).toBeNull();
    expect(sharedExperiment([run({ experimentId: 4 }), run({ experimentId: 4 })])).toBe(4);
    expect(sharedExperiment([run({ experimentId: 4 }), run({ experimentId: 5 })])).toBeNull();
    expect(sharedExperiment([run({ experimentId: null })])).toBeNull();
  });
});

const report: ComparisonReport = {
  experiment: { id: 1, name: 'ip-vs-adm', description: null, createdAt: 0, runCount: 4 },
  key: 'fn=f;n=1000',
  keys: [],
  variants: [
    { label: 'ADM', objective: 'adm', gamma: null, runIds: ['a1', 'a2'], isBaseline: true },
    { label: 'ADM-IP γ=0.1', objective: 'adm-ip', gamma: 0.1, runIds: ['b1', 'b2'], isBaseline: false },
  ],
  bySteps: [
    {
      metric: 'fid',
      steps: [20, 100],
      rows: [
        { variant: 'ADM', cells: [{ mean: 10.5, ciLow: 9.5, ciHigh: 11.5, n: 2 }, { mean: 3.37, ciLow: null, ciHigh: null, n: 1 }] },
        { variant: 'ADM-IP γ=0.1', cells: [{ mean: 8.25, ciLow: 7.5, ciHigh: 9, n: 2 }, null] },
      ],
    },
  ],
  iterationsToTarget: { target: 5, samplingSteps: 100, rows: [{ variant: 'ADM', iteration: 4000 }, { variant: 'ADM-IP γ=0.1', iteration: null }] },
  pairedTests: [{ variant: 'ADM-IP γ=0.1', baseline: 'ADM', metric: 'fid', samplingSteps: 20, pairs: 2, meanDifference: -2.25, pValue: 0.03, method: 'paired t' }],
  markdown: '',
  csv: '',
};

describe('report tables', () => {
  it('shows cells as mean [CI] (n) and marks the baseline', () => {
    const [t] = stepsTables(report);
    expect(t!.display.columns).toEqual(['variant', "T'=20", "T'=100"]);
    expect(t!.display.rows).toEqual([
      ['ADM (baseline)', '10.5 [9.5, 11.5] (n=2)', '3.37'],
      ['ADM-IP γ=0.1', '8.25 [7.5, 9] (n=2)', '—'],
    ]);
    expect(cellText(null)).toBe('—');
  });

  it('keeps every number in its own CSV column', () => {
    const [t] = stepsTables(report);
    expect(t!.numeric.columns.slice(0, 5)).toEqual(['variant', "fid T'=20", "ci low T'=20", "ci high T'=20", "n T'=20"]);
    expect(t!.numeric.rows[1]).toEqual(['ADM-IP γ=0.1', 8.25, 7.5, 9, 2, null, null, null, null]);
  });

  it('marks the lowest mean of each column', () => {
    expect(stepsTables(report)[0]!.best).toEqual([1, 0]);
  });

  it('lists iterations to target and paired tests', () => {
    expect(iterationsTable(report)!.table.rows).toEqual([['ADM', 4000], ['ADM-IP γ=0.1', 'not reached']]);
    expect(iterationsTable(report)!.title).toBe("Training iterations to reach FID ≤ 5 at T'=100");
    expect(pairedTestsTable(report).rows).toEqual([['ADM-IP γ=0.1', 'ADM', 'FID', 20, 2, -2.25, 0.03, 'paired t']]);
  });
});

describe('keyOptions', () => {
  it('drops the x field and merges keys that become equal', () => {
    const opts = keyOptions(
      [
        { key: 'fn=f;n=100;steps=20', parts: {}, metric: 'fid', count: 2, runIds: ['a'] },
        { key: 'fn=f;n=100;steps=100', parts: {}, metric: 'fid', count: 3, runIds: ['a', 'b'] },
        { key: 'fn=g;n=100;steps=20', parts: {}, metric: 'fid', count: 1, runIds: ['c'] },
      ],
      ['steps'],
    );
    expect(opts).toEqual([
      { key: 'fn=f;n=100', count: 5, runIds: ['a', 'b'] },
      { key: 'fn=g;n=100', count: 1, runIds: ['c'] },
    ]);
  });
});

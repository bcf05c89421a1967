/**
 * The comparison report on hand-built score rows: variants, Tables 3/7 (means, t-intervals over
 * seeds, the bootstrap interval of a single seed), Table 4 on a hand-made FID-vs-iteration curve,
 * paired tests, the refusal to mix comparability keys, and the Markdown and CSV renderings.
 */
import { describe, expect, it } from 'vitest';
import { LabApiError, type EvaluationInfo, type ExperimentInfo } from '../../src/shared/api';
import { comparabilityKey } from '../../src/shared/comparability';
import { buildComparisonReport, firstIterationReaching, groupVariants, meanCurve, type ReportRun } from '../../src/main/reports/comparison';
import { COMPARISON_CSV_HEADER } from '../../src/main/reports/comparison-format';
import { pairedTTestLess, studentTQuantile } from '../../src/main/reports/statistics';

const experiment: ExperimentInfo = { id: 1, name: 'exposure', description: null, createdAt: 0, runCount: 7 };

function key(steps: string, n = 1000): string {
  return comparabilityKey({
    featureNetwork: 'mnist-classifier-v1-abcd1234',
    sampleCount: n,
    reference: 'mnist:train:10000:16x16x1',
    sampler: 'ddpm/fixed-large/clip',
    steps,
    weights: 'ema',
  });
}

let created = 0;
function run(id: string, objective: string, seed: number, gamma: number | null = null, extra: Record<string, unknown> = {}): ReportRun {
  return {
    id,
    name: id,
    objective,
    gamma,
    seed,
    createdAt: ++created,
    config: { objective, gamma: { kind: 'constant', gamma: gamma ?? 0.1 }, preset: 'tiny-test', seed, backend: 'wasm', optimizer: { lr: 1e-4 }, ...extra },
  };
}

let nextId = 1;
function score(runId: string, metric: string, T: number, step: number, value: number, opts: { ci?: [number, number]; n?: number; id?: number } = {}): EvaluationInfo {
  return {
    id: opts.id ?? nextId++,
    runId,
    sampleSetId: null,
    metric,
    value,
    ciLow: opts.ci?.[0] ?? null,
    ciHigh: opts.ci?.[1] ?? null,
    comparabilityKey: key(String(T), opts.n),
    details: null,
    createdAt: 0,
    checkpointStep: step,
    samplingSteps: T,
  };
}

const runs: ReportRun[] = [
  run('a1', 'adm', 1),
  run('a2', 'adm', 2),
  run('a3', 'adm', 3, null, { backend: 'tensorflow', logEvery: 5 }), // bookkeeping differences: same variant
  run('i1', 'adm-ip', 1, 0.1),
  run('i2', 'adm-ip', 2, 0.1),
  run('i3', 'adm-ip', 3, 0.1),
  run('j1', 'adm-ip', 1, 0.2),
];

/** FID at (T', checkpoint) for each run, and sFID at T'=100 of the last checkpoint. */
const FID: Record<string, Record<string, number>> = {
  //        T'=20@100 T'=20@200 T'=100@100 T'=100@200
  a1: { '20@100': 30, '20@200': 20, '100@100': 15, '100@200': 10 },
  a2: { '20@100': 31, '20@200': 22, '100@100': 16, '100@200': 12 },
  a3: { '20@100': 32, '20@200': 24, '100@100': 17, '100@200': 14 },
  i1: { '20@100': 25, '20@200': 15, '100@100': 11, '100@200': 9 },
  i2: { '20@100': 26, '20@200': 16, '100@100': 12, '100@200': 10 },
  i3: { '20@100': 27, '20@200': 17, '100@100': 12.5, '100@200': 11.5 },
  j1: { '20@100': 28, '20@200': 18, '100@100': 13, '100@200': 9.5 },
};
const SFID: Record<string, number> = { a1: 5, a2: 6, a3: 7, i1: 4, i2: 5, i3: 6, j1: 4.5 };

function rows(): EvaluationInfo[] {
  nextId = 100;
  const out: EvaluationInfo[] = [];
  // an older, superseded score of a1 at the same point: the newer row must win
  out.push(score('a1', 'fid', 100, 200, 99, { id: 1 }));
  for (const [runId, byPoint] of Object.entries(FID)) {
    for (const [point, value] of Object.entries(byPoint)) {
      const [T, step] = point.split('@').map(Number) as [number, number];
      out.push(score(runId, 'fid', T, step, value, runId === 'j1' && point === '100@200' ? { ci: [9.0, 10.2] } : {}));
    }
    out.push(score(runId, 'sfid', 100, 200, SFID[runId]!));
  }
  return out;
}

const keys = [{ key: key('100'), parts: {}, metric: 'fid', count: 14, runIds: runs.map((r) => r.id) }];

describe('comparison report', () => {
  const report = buildComparisonReport({ experiment, runs, evaluations: rows(), keys });

  it('groups runs that differ only in seed (and bookkeeping) into variants; ADM is the baseline', () => {
    expect(report.variants.map((v) => [v.label, v.runIds, v.isBaseline])).toEqual([
      ['ADM', ['a1', 'a2', 'a3'], true],
      ['ADM-IP γ=0.1', ['i1', 'i2', 'i3'], false],
      ['ADM-IP γ=0.2', ['j1'], false],
    ]);
    expect(report.key).toBe(key('100').replace(';steps=100', ''));
  });

  it("Table 3: mean over seeds with a t-interval at each run's latest checkpoint; one seed keeps its bootstrap CI", () => {
    const fid = report.bySteps.find((t) => t.metric === 'fid')!;
    expect(fid.steps).toEqual([20, 100]);
    const cell = (variant: string, j: number) => fid.rows.find((r) => r.variant === variant)!.cells[j]!;
    const half = (sd: number) => (studentTQuantile(0.975, 2) * sd) / Math.sqrt(3);
    // ADM at T'=100: 10, 12, 14 -> mean 12, sd 2 (the superseded 99 is ignored)
    expect(cell('ADM', 1).mean).toBe(12);
    expect(cell('ADM', 1).n).toBe(3);
    expect(cell('ADM', 1).ciLow).toBeCloseTo(12 - half(2), 10);
    expect(cell('ADM', 1).ciHigh).toBeCloseTo(12 + half(2), 10);
    expect(half(2)).toBeCloseTo(4.968275, 5);
    // ADM at T'=20: 20, 22, 24
    expect(cell('ADM', 0).mean).toBe(22);
    // ADM-IP at T'=100: 9, 10, 11.5 -> mean 61/6
    expect(cell('ADM-IP γ=0.1', 1).mean).toBeCloseTo(61 / 6, 12);
    // one seed: its own bootstrap interval
    expect(cell('ADM-IP γ=0.2', 1)).toEqual({ mean: 9.5, ciLow: 9.0, ciHigh: 10.2, n: 1 });
    expect(cell('ADM-IP γ=0.2', 0)).toEqual({ mean: 18, ciLow: null, ciHigh: null, n: 1 });
  });

  it('Table 7: sFID where it was measured', () => {
    const sfid = report.bySteps.find((t) => t.metric === 'sfid')!;
    expect(sfid.steps).toEqual([100]);
    expect(sfid.rows.map((r) => r.cells[0]!.mean)).toEqual([6, 5, 4.5]);
  });

  it("Table 4: iterations to reach the baseline's best FID at the largest T'", () => {
    // mean curves at T'=100: ADM 16 @100, 12 @200; ADM-IP 35.5/3 = 11.83 @100; gamma 0.2: 13 @100, 9.5 @200
    expect(report.iterationsToTarget).toEqual({
      target: 12,
      samplingSteps: 100,
      rows: [
        { variant: 'ADM', iteration: 200 },
        { variant: 'ADM-IP γ=0.1', iteration: 100 },
        { variant: 'ADM-IP γ=0.2', iteration: 200 },
      ],
    });
    const lower = buildComparisonReport({ experiment, runs, evaluations: rows(), keys, options: { targetFid: 9.6 } });
    expect(lower.iterationsToTarget!.rows.map((r) => r.iteration)).toEqual([null, null, 200]);
  });

  it('a hand-made curve: the first iteration at or below the target', () => {
    const curve = [
      { iteration: 500, value: 40 },
      { iteration: 1000, value: 20 },
      { iteration: 1500, value: 12.5 },
      { iteration: 2000, value: 12 },
      { iteration: 2500, value: 13 },
    ];
    expect(firstIterationReaching(curve, 12.5)).toBe(1500);
    expect(firstIterationReaching(curve, 12)).toBe(2000);
    expect(firstIterationReaching(curve, 11.9)).toBeNull();
    // mean curve only where every seed has a score
    const r = [score('x', 'fid', 10, 1, 4), score('y', 'fid', 10, 1, 6), score('x', 'fid', 10, 2, 2)];
    expect(meanCurve(r, ['x', 'y'], 10)).toEqual([{ iteration: 1, value: 5 }]);
  });

  it('paired tests by seed: the exact sign-flip test for few pairs, nothing for one', () => {
    const t = (variant: string, metric: string, T: number) =>
      report.pairedTests.find((p) => p.variant === variant && p.metric === metric && p.samplingSteps === T);
    // ADM-IP - ADM at T'=20: -5, -6, -7 -> every difference negative: p = 1/8
    expect(t('ADM-IP γ=0.1', 'fid', 20)).toMatchObject({ baseline: 'ADM', pairs: 3, meanDifference: -6, pValue: 0.125 });
    expect(t('ADM-IP γ=0.1', 'fid', 20)!.method).toMatch(/sign-flip/);
    expect(t('ADM-IP γ=0.1', 'fid', 100)!.meanDifference).toBeCloseTo((-1 - 2 - 2.5) / 3, 12);
    expect(t('ADM-IP γ=0.1', 'sfid', 100)).toMatchObject({ pairs: 3, meanDifference: -1, pValue: 0.125 });
    expect(t('ADM-IP γ=0.2', 'fid', 100)).toMatchObject({ pairs: 1, meanDifference: -0.5, pValue: null });
    expect(report.pairedTests).toHaveLength(6);
  });

  it('six or more pairs use the one-sided paired t-test', () => {
    const d = [-1, -2, -3, -1, 0.5, -2];
    const r6 = [1, 2, 3, 4, 5, 6].flatMap((s) => [run(`b${s}`, 'adm', s), run(`p${s}`, 'adm-ip', s, 0.1)]);
    const ev = [1, 2, 3, 4, 5, 6].flatMap((s, i) => [score(`b${s}`, 'fid', 10, 50, 20 + s), score(`p${s}`, 'fid', 10, 50, 20 + s + d[i]!)]);
    const rep = buildComparisonReport({ experiment, runs: r6, evaluations: ev, keys: [] });
    const test = rep.pairedTests[0]!;
    expect(test.pairs).toBe(6);
    expect(test.pValue).toBeCloseTo(pairedTTestLess(d).p, 12);
    expect(test.pValue).toBeCloseTo(0.01709, 4);
    expect(test.method).toMatch(/paired t-test, one-sided \(t = -2\.890, df = 5\)/);
  });

  it('refuses a mix of keys, naming them and how they differ; a chosen key is used alone', () => {
    const mixed = [...rows(), score('a1', 'fid', 100, 200, 50, { n: 500 })];
    let err: unknown;
    try {
      buildComparisonReport({ experiment, runs, evaluations: mixed, keys });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabApiError);
    expect((err as LabApiError).code).toBe('CONFLICT');
    const message = (err as Error).message;
    expect(message).toContain('n=1000');
    expect(message).toContain('n=500');
    expect(message).toMatch(/differ in sample count/);
    expect(message).toMatch(/--key/);

    const only500 = buildComparisonReport({ experiment, runs, evaluations: mixed, keys, options: { key: key('100', 500) } });
    expect(only500.key).toContain('n=500');
    expect(only500.bySteps[0]!.rows.find((r) => r.variant === 'ADM')!.cells).toEqual([{ mean: 50, ciLow: null, ciHigh: null, n: 1 }]);
    expect(() => buildComparisonReport({ experiment, runs, evaluations: mixed, keys, options: { key: key('100', 7) } })).toThrow(/keys in use/);
  });

  it('a named baseline run makes its variant the baseline', () => {
    const rep = buildComparisonReport({ experiment, runs, evaluations: rows(), keys, options: { baselineRunId: 'j1' } });
    expect(rep.variants[0]).toMatchObject({ label: 'ADM-IP γ=0.2', isBaseline: true });
    expect(rep.iterationsToTarget!.target).toBe(9.5);
    expect(() => buildComparisonReport({ experiment, runs, evaluations: rows(), keys, options: { baselineRunId: 'zz' } })).toThrow(/not a training run of this experiment/);
  });

  it('an experiment without scores gives empty tables', () => {
    const rep = buildComparisonReport({ experiment, runs, evaluations: [], keys: [] });
    expect(rep.key).toBeNull();
    expect(rep.bySteps).toEqual([]);
    expect(rep.iterationsToTarget).toBeNull();
    expect(rep.markdown).toMatch(/nothing is scored yet/);
  });

  it('variants with the same objective and gamma but other settings are told apart', () => {
    const vs = groupVariants([run('x1', 'adm', 1), run('x2', 'adm', 2), run('y1', 'adm', 1, null, { optimizer: { lr: 2e-4 } })]);
    expect(vs.map((v) => [v.label, v.runIds])).toEqual([
      ['ADM (optimizer.lr=0.0001)', ['x1', 'x2']],
      ['ADM (optimizer.lr=0.0002)', ['y1']],
    ]);
  });

  it('renders Markdown tables in the paper layout, best mean in bold', () => {
    const md = report.markdown;
    expect(md).toMatch(/^# Comparison: exposure/);
    expect(md).toContain("## FID by sampling steps T' (the paper's Table 3)");
    expect(md).toContain("## sFID by sampling steps T' (the paper's Table 7)");
    expect(md).toContain("| Variant | T'=20 | T'=100 |");
    const ip = md.split('\n').find((l) => l.startsWith('| ADM-IP γ=0.1 |'))!;
    expect(ip).toContain('**16.00**');
    expect(ip).toContain('(3 seeds)');
    expect(md).toContain('| ADM-IP γ=0.2 | 18.00 (1 seed) | 9.50 [9.00, 10.20] (1 seed) |'.replace('9.50', '**9.50**'));
    expect(md).toContain("Training iterations to reach FID ≤ 12.000 at T'=100 (the paper's Table 4)");
    expect(md).toContain('| ADM-IP γ=0.1 | 100 | 2.00x |');
    expect(md).toContain('| ADM-IP γ=0.1 | fid | 20 | 3 | -6.000 | 0.1250 |');
  });

  it('renders CSV: a header and one row per cell, Table 4 entry and paired test', () => {
    const lines = report.csv.trim().split('\n');
    expect(lines[0]).toBe(COMPARISON_CSV_HEADER.join(','));
    const body = lines.slice(1).map((l) => l.split(','));
    expect(body.filter((r) => r[0] === 'by-steps')).toHaveLength(3 * 2 + 3);
    expect(body.filter((r) => r[0] === 'iterations-to-target')).toHaveLength(3);
    expect(body.filter((r) => r[0] === 'paired-test')).toHaveLength(6);
    const admCell = body.find((r) => r[0] === 'by-steps' && r[1] === 'ADM' && r[2] === 'fid' && r[3] === '100')!;
    expect(Number(admCell[4])).toBe(12);
    expect(Number(admCell[7])).toBe(3);
    // the method text holds commas and parentheses: quoted
    expect(report.csv).toMatch(/"exact sign-flip permutation test, one-sided \(8 sign assignments\)"/);
  });
});

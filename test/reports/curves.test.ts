/**
 * Score curves from stored rows: grouping by comparability key (T' dropped for a T' chart), one
 * checkpoint per run for a T' chart, the newest score where one point was scored twice, and the
 * refusal to put scores under different keys on one chart unless asked.
 */
import { describe, expect, it } from 'vitest';
import { LabApiError, type EvaluationInfo } from '../../src/shared/api';
import { comparabilityKey } from '../../src/shared/comparability';
import { buildCurves, keyDropping, keyParts } from '../../src/main/reports/curves';

const base = { featureNetwork: 'mnist-classifier-v1-abcd1234', sampleCount: 100, reference: 'mnist:train:500:16x16x1', sampler: 'ddpm/fixed-large/clip', weights: 'ema' as const };
let id = 0;
function row(runId: string, step: number, T: number, value: number, over: Partial<typeof base> = {}): EvaluationInfo {
  return {
    id: ++id,
    runId,
    sampleSetId: null,
    metric: 'fid',
    value,
    ciLow: value - 1,
    ciHigh: value + 1,
    comparabilityKey: comparabilityKey({ ...base, ...over, steps: String(T) }),
    details: null,
    createdAt: 0,
    checkpointStep: step,
    samplingSteps: T,
  };
}

function conflict(f: () => unknown): LabApiError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LabApiError);
    return e as LabApiError;
  }
  throw new Error('expected a refusal');
}

describe('curves', () => {
  it('FID against iterations: one point per checkpoint, the newest score winning', () => {
    const rows = [row('r1', 100, 20, 30), row('r1', 200, 20, 20), row('r2', 100, 20, 25), row('r1', 200, 20, 19)];
    const c = buildCurves(rows, { metric: 'fid', x: 'iteration' }, ['r2', 'r1']);
    expect(c.groups).toHaveLength(1);
    expect(c.groups[0]!.parts).toMatchObject({ steps: '20', sampleCount: 100 });
    expect(c.groups[0]!.series.map((s) => [s.runId, s.points.map((p) => [p.x, p.value])])).toEqual([
      ['r2', [[100, 25]]],
      ['r1', [[100, 30], [200, 19]]],
    ]);
    expect(c.groups[0]!.series[1]!.points[1]!.ciLow).toBe(18);
  });

  it("FID against T': steps dropped from the key, each run at its latest evaluated checkpoint or the one asked for", () => {
    const rows = [row('r1', 100, 20, 30), row('r1', 100, 100, 22), row('r1', 200, 20, 21), row('r1', 200, 100, 15)];
    const latest = buildCurves(rows, { metric: 'fid', x: 'samplingSteps' }, ['r1']);
    expect(latest.groups).toHaveLength(1);
    expect(latest.groups[0]!.key).not.toContain('steps=');
    expect(latest.groups[0]!.series[0]!.points.map((p) => [p.x, p.value])).toEqual([[20, 21], [100, 15]]);
    const at100 = buildCurves(rows, { metric: 'fid', x: 'samplingSteps', checkpointStep: 100 }, ['r1']);
    expect(at100.groups[0]!.series[0]!.points.map((p) => p.value)).toEqual([30, 22]);
  });

  it('refuses two keys, naming both and the field that differs; allowMixedKeys returns them as separate groups', () => {
    const rows = [row('r1', 100, 20, 30), row('r2', 100, 20, 25, { sampleCount: 1000 })];
    const err = conflict(() => buildCurves(rows, { metric: 'fid', x: 'iteration' }, ['r1', 'r2']));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain('n=100;');
    expect(err.message).toContain('n=1000;');
    expect(err.message).toMatch(/differ in sample count \(sampleCount\)/);
    expect(err.message).toMatch(/allowMixedKeys/);
    const mixed = buildCurves(rows, { metric: 'fid', x: 'iteration', allowMixedKeys: true }, ['r1', 'r2']);
    expect(mixed.groups.map((g) => [g.parts.sampleCount, g.series.map((s) => s.runId)])).toEqual([
      [1000, ['r2']],
      [100, ['r1']],
    ]);
    const chosen = buildCurves(rows, { metric: 'fid', x: 'iteration', key: mixed.groups[1]!.key }, ['r1', 'r2']);
    expect(chosen.groups.map((g) => g.series.map((s) => s.runId))).toEqual([['r1']]);
    expect(conflict(() => buildCurves(rows, { metric: 'fid', x: 'iteration', key: 'fn=other' }, ['r1'])).code).toBe('NOT_FOUND');
  });

  it("against iterations, two T' are two keys (differing in sampling steps); against T' they are one", () => {
    const rows = [row('r1', 100, 20, 30), row('r1', 100, 100, 22)];
    const err = conflict(() => buildCurves(rows, { metric: 'fid', x: 'iteration' }, ['r1']));
    expect(err.message).toMatch(/differ in sampling steps/);
    expect(buildCurves(rows, { metric: 'fid', x: 'samplingSteps' }, ['r1']).groups).toHaveLength(1);
  });

  it('legacy keys that are not canonical are kept as opaque labels', () => {
    expect(keyParts('mnist-test/10k/lenet')).toEqual({});
    expect(keyDropping('mnist-test/10k/lenet', ['steps'])).toBe('mnist-test/10k/lenet');
    const legacy = { ...row('r1', 5, 20, 9), comparabilityKey: 'mnist-test/10k/lenet' };
    expect(buildCurves([legacy], { metric: 'fid', x: 'iteration' }, ['r1']).groups[0]!.key).toBe('mnist-test/10k/lenet');
  });
});

import { describe, expect, it } from 'vitest';
import { StartAnalysisRequestSchema, type AnalysisInfo } from '../../src/shared/api';
import { analysisRequest, defaultAnalysisForm } from '../../src/renderer/src/screens/analyses/analysis-request';
import { densitySteps, latestByRun, paramsText, spectrumRatio } from '../../src/renderer/src/screens/analyses/analysis-series';

describe('densitySteps', () => {
  it('scales counts to a density whose area is 1, closing the last step', () => {
    const h = { edges: [-1, -0.5, 0, 1], counts: [1, 3, 4] };
    const pts = densitySteps(h);
    expect(pts).toEqual([
      { x: -1, y: 1 / (8 * 0.5) },
      { x: -0.5, y: 3 / (8 * 0.5) },
      { x: 0, y: 4 / 8 },
      { x: 1, y: 4 / 8 },
    ]);
    const area = h.counts.reduce((s, _, i) => s + pts[i]!.y! * (h.edges[i + 1]! - h.edges[i]!), 0);
    expect(area).toBeCloseTo(1, 12);
  });

  it('refuses mismatched edges and gives nothing for an empty histogram', () => {
    expect(() => densitySteps({ edges: [0, 1], counts: [1, 2] })).toThrow(/2 bins need 3 edges/);
    expect(densitySteps({ edges: [0, 1], counts: [0] })).toEqual([]);
  });
});

const analysis = (id: number, runId: string, createdAt: number, kind: AnalysisInfo['kind'] = 'spectrum'): AnalysisInfo => ({
  id,
  runId,
  kind,
  checkpointStep: 30,
  params: { n: 64, steps: '100', seed: 0, weights: 'ema' },
  result: kind === 'spectrum' ? { kind, frequencies: [], samples: [], data: [] } : { kind: 'delta-t', tStart: 999, samplingSteps: 100, points: [] },
  createdAt,
});

describe('latestByRun and paramsText', () => {
  it('keeps the newest analysis of the kind per run', () => {
    const m = latestByRun([analysis(1, 'a', 10), analysis(2, 'a', 20), analysis(3, 'b', 5), analysis(4, 'a', 30, 'delta-t')], 'spectrum');
    expect([...m.entries()].map(([r, a]) => [r, a.id])).toEqual([['a', 2], ['b', 3]]);
  });

  it('says what the analysis was run with', () => {
    expect(paramsText(analysis(1, 'a', 0))).toBe('checkpoint 30 · n = 64 · steps 100 · EMA weights · seed 0');
  });
});

describe('spectrumRatio', () => {
  it('divides samples by data, and leaves out frequencies without data power', () => {
    expect(spectrumRatio([2, 1, 5], [4, 0, 5])).toEqual([0.5, null, 1]);
  });
});

describe('analysisRequest', () => {
  it('builds requests the API schema accepts for every kind', () => {
    for (const kind of ['prediction-error', 'delta-t', 'spectrum', 'chain-length'] as const) {
      const r = analysisRequest('run1', kind, defaultAnalysisForm(kind));
      expect(r.errors).toBeNull();
      expect(StartAnalysisRequestSchema.safeParse(r.request).success).toBe(true);
    }
  });

  it('passes the kind-specific fields', () => {
    const pe = analysisRequest('r', 'prediction-error', { ...defaultAnalysisForm('prediction-error'), timesteps: '900, 100 500', checkpoint: '20' });
    expect(pe.request).toMatchObject({ timesteps: [100, 500, 900], checkpointStep: 20 });
    const dt = analysisRequest('r', 'delta-t', { ...defaultAnalysisForm('delta-t'), steps: 'ddim50', tStart: '500' });
    expect(dt.request).toMatchObject({ steps: 'ddim50', tStart: 500 });
    const cl = analysisRequest('r', 'chain-length', { ...defaultAnalysisForm('chain-length'), tStarts: '100,300' });
    expect(cl.request).toMatchObject({ tStarts: [100, 300], n: 8 });
  });

  it('names bad fields', () => {
    const r = analysisRequest('r', 'delta-t', { ...defaultAnalysisForm('delta-t'), n: '1', steps: '1..', tStart: 'x' });
    expect(r.errors).toEqual({
      n: 'n: must be from 2 to 50000, got 1',
      steps: "steps: expected '' (all T), '100', '10,15,20' or 'ddim50'",
      tStart: 't start: enter a whole number from 0 to 100000',
    });
  });
});

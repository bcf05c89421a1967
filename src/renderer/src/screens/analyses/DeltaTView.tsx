/**
 * The exposure bias along the sampling chain (ADM-ES): delta_t = (sigma_hat_t - sqrt(1 - ab_t))^2,
 * where sigma_hat_t is the measured spread of x_t_hat - sqrt(ab_t) x0. A model without exposure
 * bias has delta_t = 0; it grows as the chain runs. Log y, because it spans decades.
 */
import { useState } from 'react';
import type { AnalysisInfo, DeltaTResult } from '../../../../shared/api';
import { MetricChart } from '../../charts/MetricChart';
import type { ChartSeries } from '../../charts/chart-data';
import type { PanelRun } from '../compare/SamplesPanel';
import { paramsText } from './analysis-series';

type DeltaAnalysis = AnalysisInfo & { result: DeltaTResult };

export function DeltaTView({ runs, latest }: { runs: PanelRun[]; latest: Map<string, DeltaAnalysis> }) {
  const [mode, setMode] = useState<'delta' | 'sigma'>('delta');
  const present = runs.filter((r) => latest.has(r.runId));
  if (present.length === 0) return <p className="muted">No δ_t analysis of these runs yet.</p>;
  const caption = present.map((r) => {
    const a = latest.get(r.runId)!;
    return `${r.label}: ${paramsText(a)} · chain from t = ${a.result.tStart} with ${a.result.samplingSteps} steps`;
  });
  let series: ChartSeries[];
  if (mode === 'delta') {
    series = present.map((r) => ({
      id: r.runId,
      label: r.label,
      color: r.color,
      points: latest.get(r.runId)!.result.points.map((p) => ({ x: p.t, y: p.delta })),
    }));
  } else {
    const first = latest.get(present[0]!.runId)!;
    series = [
      ...present.map((r) => ({
        id: r.runId,
        label: `${r.label}: σ̂_t`,
        color: r.color,
        points: latest.get(r.runId)!.result.points.map((p) => ({ x: p.t, y: p.sigmaHat })),
      })),
      { id: 'true', label: '√(1 − ᾱ_t) (no exposure bias)', color: '#888888', dashed: true, points: first.result.points.map((p) => ({ x: p.t, y: p.sigmaTrue })) },
    ];
  }
  return (
    <MetricChart
      testId="delta-t-chart"
      title={mode === 'delta' ? 'Exposure bias δ_t along the sampling chain' : 'Measured σ̂_t against the schedule'}
      series={series}
      xLabel="timestep t"
      yLabel={mode === 'delta' ? 'δ_t (log scale)' : 'σ (pixel scale)'}
      logY={mode === 'delta'}
      caption={caption}
      exportName={[mode === 'delta' ? 'delta-t' : 'sigma-t', ...present.map((r) => r.label)]}
      controls={
        <label>
          show{' '}
          <select value={mode} onChange={(e) => setMode(e.target.value as 'delta' | 'sigma')}>
            <option value="delta">δ_t (log scale)</option>
            <option value="sigma">σ̂_t and √(1 − ᾱ_t)</option>
          </select>
        </label>
      }
      footer={caption.map((c) => (
        <p key={c} className="muted chart-note">
          {c}
        </p>
      ))}
    />
  );
}

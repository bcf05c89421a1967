/**
 * Radially averaged power spectra of generated samples against the training data (log-log): the
 * paper's reading of why input perturbation helps is that it keeps more of the high frequencies.
 * The ratio view shows samples / data directly (1 = the data's power at that frequency).
 */
import { useState } from 'react';
import type { AnalysisInfo, SpectrumResult } from '../../../../shared/api';
import { MetricChart } from '../../charts/MetricChart';
import type { ChartSeries } from '../../charts/chart-data';
import type { PanelRun } from '../compare/SamplesPanel';
import { paramsText, spectrumRatio } from './analysis-series';

type SpectrumAnalysis = AnalysisInfo & { result: SpectrumResult };

export function SpectrumView({ runs, latest }: { runs: PanelRun[]; latest: Map<string, SpectrumAnalysis> }) {
  const [ratio, setRatio] = useState(false);
  const present = runs.filter((r) => latest.has(r.runId));
  if (present.length === 0) return <p className="muted">No spectrum analysis of these runs yet.</p>;
  const caption = present.map((r) => `${r.label}: ${paramsText(latest.get(r.runId)!)}`);
  const series: ChartSeries[] = present.map((r) => {
    const res = latest.get(r.runId)!.result;
    const ys = ratio ? spectrumRatio(res.samples, res.data) : res.samples;
    return { id: r.runId, label: `${r.label} samples`, color: r.color, points: res.frequencies.map((f, i) => ({ x: f, y: ys[i] ?? null })) };
  });
  if (!ratio) {
    // The data spectrum, once per distinct data set (runs on the same data measure the same curve).
    const seen: number[][] = [];
    for (const r of present) {
      const res = latest.get(r.runId)!.result;
      if (seen.some((d) => d.length === res.data.length && d.every((v, i) => Math.abs(v - res.data[i]!) <= 1e-9 * Math.max(1, Math.abs(v))))) continue;
      seen.push(res.data);
      series.push({
        id: `data-${r.runId}`,
        label: seen.length === 1 ? 'training data' : `training data (${r.label})`,
        color: '#888888',
        dashed: true,
        points: res.frequencies.map((f, i) => ({ x: f, y: res.data[i] ?? null })),
      });
    }
  }
  return (
    <MetricChart
      testId="spectrum-chart"
      title={ratio ? 'Power of samples relative to the data' : 'Power spectra of samples and data'}
      series={series}
      xLabel="spatial frequency (cycles per pixel)"
      yLabel={ratio ? 'power ratio samples / data' : 'power (radially averaged)'}
      logX
      logY
      caption={caption}
      exportName={[ratio ? 'spectrum-ratio' : 'spectrum', ...present.map((r) => r.label)]}
      controls={
        <label>
          <input type="checkbox" checked={ratio} onChange={(e) => setRatio(e.target.checked)} /> ratio to the data
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

/**
 * Prediction error e = x0 - x0_hat at chosen t: per t, the runs' error histograms overlaid (as
 * densities), and a table of mean, std and the Shapiro-Wilk test (the paper's evidence that the
 * error is close to Gaussian, which is what input perturbation imitates).
 */
import type { AnalysisInfo, PredictionErrorResult } from '../../../../shared/api';
import { MetricChart } from '../../charts/MetricChart';
import type { ChartSeries } from '../../charts/chart-data';
import { TableExportButtons } from '../../export/ExportButtons';
import { formatNumber, type DataTable } from '../../export/table-text';
import type { PanelRun } from '../compare/SamplesPanel';
import { densitySteps, paramsText } from './analysis-series';

type PredictionAnalysis = AnalysisInfo & { result: PredictionErrorResult };

export function predictionTable(runs: PanelRun[], latest: Map<string, PredictionAnalysis>): DataTable {
  return {
    columns: ['run', 't', 'n', 'mean', 'std', 'Shapiro-Wilk W', 'p'],
    rows: runs.flatMap((r) =>
      (latest.get(r.runId)?.result.perT ?? []).map((p) => [r.label, p.t, p.n, p.mean, p.std, p.shapiroW, p.shapiroP]),
    ),
  };
}

export function PredictionErrorView({ runs, latest }: { runs: PanelRun[]; latest: Map<string, PredictionAnalysis> }) {
  const ts = [...new Set([...latest.values()].flatMap((a) => a.result.perT.map((p) => p.t)))].sort((a, b) => a - b);
  if (ts.length === 0) return <p className="muted">No prediction-error analysis of these runs yet.</p>;
  const table = predictionTable(runs, latest);
  const caption = runs.flatMap((r) => {
    const a = latest.get(r.runId);
    return a ? [`${r.label}: ${paramsText(a)}`] : [];
  });
  return (
    <>
      <div className="small-multiples">
        {ts.map((t) => {
          const series: ChartSeries[] = runs.flatMap((r) => {
            const p = latest.get(r.runId)?.result.perT.find((q) => q.t === t);
            return p ? [{ id: r.runId, label: r.label, color: r.color, step: true, points: densitySteps(p.histogram) }] : [];
          });
          return (
            <MetricChart
              key={t}
              testId="prediction-error-chart"
              title={`Prediction error at t = ${t}`}
              series={series}
              xLabel="error x0 − x̂0 (pixel scale [−1, 1])"
              yLabel="density"
              height={230}
              caption={caption}
              exportName={['prediction-error', `t${t}`, ...runs.map((r) => r.label)]}
            />
          );
        })}
      </div>
      <div className="report-head">
        <h3>Normality of the prediction error (Shapiro-Wilk; W near 1 = close to Gaussian)</h3>
        <TableExportButtons name={['prediction-error', 'shapiro-wilk', ...runs.map((r) => r.label)]} label="Shapiro-Wilk table" table={table} />
      </div>
      <div className="table-scroll">
        <table className="plain report-table" data-testid="shapiro-table">
          <thead>
            <tr>
              {table.columns.map((c) => (
                <th key={c} scope="col">
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {table.rows.map((row, i) => (
              <tr key={i}>
                {row.map((v, j) => (
                  <td key={j}>{typeof v === 'number' ? (j === 6 && v < 0.001 ? '< 0.001' : formatNumber(v)) : v}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {caption.map((c) => (
        <p key={c} className="muted chart-note">
          {c}
        </p>
      ))}
    </>
  );
}

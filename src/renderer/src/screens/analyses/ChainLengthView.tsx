/**
 * Reverse chains started from data noised to different t (x_t = q_sample(x0, t)): one grid per
 * run, first row the data, then one row per start t. Longer chains drift further from the data;
 * how far is the exposure bias made visible.
 */
import type { AnalysisInfo, ChainLengthResult } from '../../../../shared/api';
import { ImageExportButton } from '../../export/ExportButtons';
import { imagePng } from '../../export/image-png';
import { useArtifactUrl } from '../../lab';
import type { PanelRun } from '../compare/SamplesPanel';
import { paramsText } from './analysis-series';

type ChainAnalysis = AnalysisInfo & { result: ChainLengthResult };

function ChainGrid({ run, analysis }: { run: PanelRun; analysis: ChainAnalysis }) {
  const url = useArtifactUrl(analysis.result.gridArtifactId);
  const rows = ['x0 (data)', ...analysis.result.tStarts.map((t) => `from t = ${t}`)];
  return (
    <figure className="chain-figure" data-testid="chain-grid" data-run={run.runId}>
      <figcaption>
        <span className="swatch" style={{ background: run.color }} /> <b>{run.label}</b>{' '}
        {url && (
          <ImageExportButton
            name={['chain-length', run.label]}
            label={`${run.label} chain-length grid`}
            png={() => imagePng(url)}
          />
        )}
        <div className="muted chart-note">{paramsText(analysis)}</div>
      </figcaption>
      {analysis.result.gridArtifactId === null ? (
        <p className="muted">This analysis wrote no grid image.</p>
      ) : !url ? (
        <p className="muted">Loading…</p>
      ) : (
        <div className="chain-body">
          <ol className="chain-rows" aria-label="Rows">
            {rows.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ol>
          <img src={url} className="sample-grid chain-image" alt={`chain-length grid of ${run.label}: ${rows.join('; ')}`} />
        </div>
      )}
    </figure>
  );
}

export function ChainLengthView({ runs, latest }: { runs: PanelRun[]; latest: Map<string, ChainAnalysis> }) {
  const present = runs.filter((r) => latest.has(r.runId));
  if (present.length === 0) return <p className="muted">No chain-length analysis of these runs yet.</p>;
  return (
    <div className="chain-row">
      {present.map((r) => (
        <ChainGrid key={r.runId} run={r} analysis={latest.get(r.runId)!} />
      ))}
    </div>
  );
}

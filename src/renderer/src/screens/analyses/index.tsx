/**
 * Analyses: the exposure-bias measurements of the selected runs, each with a button to run it.
 * Prediction-error histograms and their normality, delta_t along the chain, power spectra of
 * samples against data, and chains of different lengths started from noised data.
 */
import { useMemo, useState } from 'react';
import type { AnalysisInfo, LabEvent, RunInfo } from '../../../../shared/api';
import { ANALYSIS_KINDS, type AnalysisKind } from '../../../../shared/vocabulary';
import { seriesColor, useSeriesColors } from '../../charts/palette';
import { routeHref, useQuery } from '../../lab';
import { ApiError } from '../compare/api-error';
import { commonCheckpoints, distinctLabels } from '../compare/run-set';
import type { PanelRun } from '../compare/SamplesPanel';
import { ANALYSIS_LABELS } from './analysis-request';
import { latestByRun } from './analysis-series';
import { ChainLengthView } from './ChainLengthView';
import { DeltaTView } from './DeltaTView';
import { PredictionErrorView } from './PredictionErrorView';
import { SpectrumView } from './SpectrumView';
import { StartAnalysis } from './StartAnalysis';
import '../compare/compare.css';
import './analyses.css';

const ABOUT: Record<AnalysisKind, string> = {
  'prediction-error':
    'e = x0 − x̂0 at chosen t, per pixel. The paper finds it close to Gaussian, which is why perturbing the input with Gaussian noise in training (ADM-IP) imitates what the sampler sees.',
  'delta-t':
    'Start from x_t = q_sample(x0, t_start), run the sampler, and measure the spread σ̂_t of x̂_t − √ᾱ_t x0. δ_t = (σ̂_t − √(1 − ᾱ_t))² is zero without exposure bias.',
  spectrum: 'Radially averaged power spectrum of generated samples against the training data.',
  'chain-length': 'Reverse chains from data noised to several t: the first row is the data, then one row per start t.',
};

const analysisChanged = (e: LabEvent) => e.type === 'job-status' && e.status === 'done';

export function AnalysesScreen({ runIds: requested }: { runIds: string[] }) {
  const runIds = useMemo(() => [...new Set(requested)], [requested]);
  const idsKey = runIds.join(',');
  const [refresh, setRefresh] = useState(0);
  const details = useQuery((lab) => Promise.all(runIds.map((id) => lab.getRun(id))), [idsKey], { enabled: runIds.length > 0 });
  const checkpointLists = useQuery((lab) => Promise.all(runIds.map((id) => lab.listCheckpoints(id))), [idsKey], { enabled: runIds.length > 0 });
  const analyses = useQuery(
    async (lab) => (await Promise.all(runIds.map((runId) => lab.listAnalyses({ runId })))).flat(),
    [idsKey, refresh],
    { enabled: runIds.length > 0, refetchOn: analysisChanged, throttleMs: 1000 },
  );
  const colors = useSeriesColors();

  if (runIds.length === 0) {
    return (
      <section className="screen analyses" data-testid="screen-analyses">
        <h1>Analyses</h1>
        <p>
          Pick runs on the <a href={routeHref('/runs')}>Runs</a> screen and choose Analyses (or open <code>#/analyses?runs=&lt;id&gt;,&lt;id&gt;</code>).
        </p>
      </section>
    );
  }

  const runs: RunInfo[] = (details.data ?? []).flatMap((d) => (d ? [d.run] : []));
  const missing = details.data ? runIds.filter((_, i) => !details.data![i]) : [];
  const labels = distinctLabels(runs);
  const panelRuns: PanelRun[] = runs.map((r) => ({ runId: r.id, label: labels.get(r.id) ?? r.name, color: seriesColor(colors, runIds.indexOf(r.id)) }));
  const checkpoints = checkpointLists.data ? commonCheckpoints(checkpointLists.data) : null;
  const list: AnalysisInfo[] = analyses.data ?? [];

  const view = (kind: AnalysisKind) => {
    switch (kind) {
      case 'prediction-error':
        return <PredictionErrorView runs={panelRuns} latest={latestByRun(list, 'prediction-error')} />;
      case 'delta-t':
        return <DeltaTView runs={panelRuns} latest={latestByRun(list, 'delta-t')} />;
      case 'spectrum':
        return <SpectrumView runs={panelRuns} latest={latestByRun(list, 'spectrum')} />;
      case 'chain-length':
        return <ChainLengthView runs={panelRuns} latest={latestByRun(list, 'chain-length')} />;
    }
  };

  return (
    <section className="screen analyses" data-testid="screen-analyses">
      <div className="screen-head">
        <h1>Analyses of {runs.length > 0 ? runs.map((r) => labels.get(r.id)).join(', ') : `${runIds.length} runs`}</h1>
        <a href={routeHref('/compare', { runs: runIds.slice(0, 4) })}>← Compare these runs</a>
      </div>
      {details.error !== null && <ApiError error={details.error} what="Loading the runs" />}
      {missing.length > 0 && (
        <p className="banner error" role="alert">
          No run with id {missing.map((m) => `'${m}'`).join(', ')}.
        </p>
      )}
      {analyses.error !== null && <ApiError error={analyses.error} what="Loading the analyses" />}
      <nav className="analysis-nav" aria-label="Analyses on this page">
        {ANALYSIS_KINDS.map((k) => (
          <a key={k} href={`#analysis-${k}`} onClick={(e) => {
            // The hash is the route: scroll without changing it.
            e.preventDefault();
            document.getElementById(`analysis-${k}`)?.scrollIntoView({ behavior: 'smooth', block: 'start' });
          }}>
            {ANALYSIS_LABELS[k]}
          </a>
        ))}
      </nav>
      {ANALYSIS_KINDS.map((kind) => (
        <section key={kind} id={`analysis-${kind}`} className="panel analysis" data-testid={`analysis-${kind}`} aria-labelledby={`analysis-title-${kind}`}>
          <h2 id={`analysis-title-${kind}`}>{ANALYSIS_LABELS[kind]}</h2>
          <p className="muted about">{ABOUT[kind]}</p>
          {panelRuns.length > 0 && <StartAnalysis kind={kind} runs={panelRuns} checkpoints={checkpoints} onDone={() => setRefresh((n) => n + 1)} />}
          {analyses.data ? view(kind) : !analyses.error && <p className="muted">Loading…</p>}
        </section>
      ))}
    </section>
  );
}

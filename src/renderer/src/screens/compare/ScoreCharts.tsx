/**
 * Scores of the compared runs: a metric against training iterations (how fast each run improves)
 * and against the number of sampling steps T' at one checkpoint (the exposure-bias picture: the
 * gap grows as T' shrinks). Each chart holds one comparability key; mixed keys are never merged.
 */
import { useState } from 'react';
import type { CurveGroup, EvaluationCurves, LabEvent } from '../../../../shared/api';
import type { ComparabilityField } from '../../../../shared/comparability';
import { describeKey, metricAxisLabel, METRIC_NAMES } from '../../charts/key-text';
import { KeyCaption } from '../../charts/KeyCaption';
import { MetricChart } from '../../charts/MetricChart';
import type { ChartSeries } from '../../charts/chart-data';
import { useQuery } from '../../lab';
import { ApiError, errorText, isCode } from './api-error';
import { KeyPicker } from './KeyPicker';
import { keyOptions } from './key-options';
import type { PanelRun } from './SamplesPanel';

const SCORE_METRICS = ['fid', 'sfid', 'kid'] as const;
type Metric = (typeof SCORE_METRICS)[number];

const scoresChanged = (e: LabEvent) => e.type === 'job-status' && e.kind === 'evaluate' && e.status === 'done';

function groupSeries(group: CurveGroup, runs: PanelRun[]): ChartSeries[] {
  return group.series.map((s) => {
    const run = runs.find((r) => r.runId === s.runId);
    return {
      id: s.runId,
      label: run?.label ?? s.runId,
      color: run?.color ?? '#888',
      points: s.points.map((p) => ({ x: p.x, y: p.value, low: p.ciLow, high: p.ciHigh })),
    };
  });
}

interface CurveProps {
  runs: PanelRun[];
  metric: Metric;
  x: EvaluationCurves['x'];
  logX: boolean;
  logY: boolean;
  checkpointStep?: number;
  refresh: number;
  controls?: React.ReactNode;
}

function CurveCharts({ runs, metric, x, logX, logY, checkpointStep, refresh, controls }: CurveProps) {
  const runIds = runs.map((r) => r.runId);
  const [key, setKey] = useState<string | undefined>(undefined);
  const [mixed, setMixed] = useState(false);
  const curves = useQuery(
    (lab) =>
      lab.evaluationCurves({
        runIds,
        metric,
        x,
        ...(key ? { key } : {}),
        ...(mixed ? { allowMixedKeys: true } : {}),
        ...(checkpointStep !== undefined ? { checkpointStep } : {}),
      }),
    [runIds.join(','), metric, x, key, mixed, checkpointStep, refresh],
    { refetchOn: scoresChanged, throttleMs: 1000 },
  );
  const conflict = isCode(curves.error, 'CONFLICT');
  const keys = useQuery((lab) => lab.evaluationKeys({ runIds, metric }), [runIds.join(','), metric, refresh], { enabled: conflict });
  const drop: ComparabilityField[] = x === 'samplingSteps' ? ['steps'] : [];
  const labels = new Map(runs.map((r) => [r.runId, r.label]));
  const metricName = METRIC_NAMES[metric] ?? metric;
  const xLabel = x === 'iteration' ? 'training iterations' : "sampling steps T'";
  const baseTitle = `${metricName} vs ${xLabel}`;
  const atCheckpoint = x === 'samplingSteps' ? (checkpointStep !== undefined ? `checkpoint ${checkpointStep}` : 'latest evaluated checkpoint of each run') : null;

  if (conflict) {
    return (
      <div className="chart">
        <h3>{baseTitle}</h3>
        {controls && <div className="chart-controls">{controls}</div>}
        <KeyPicker
          message={errorText(curves.error)}
          options={keys.data ? keyOptions(keys.data, drop) : keys.error ? [] : null}
          labels={labels}
          onPick={(k) => setKey(k)}
          onShowAll={() => setMixed(true)}
          name={`key-${x}`}
        />
        {keys.error !== null && <ApiError error={keys.error} what="Listing the keys" />}
      </div>
    );
  }
  if (curves.error && !curves.data) {
    return (
      <div className="chart">
        <h3>{baseTitle}</h3>
        <ApiError error={curves.error} what="Loading the scores" />
      </div>
    );
  }
  if (!curves.data) return <div className="chart muted">Loading {baseTitle}…</div>;
  const groups = curves.data.groups;
  if (groups.length === 0 || groups.every((g) => g.series.every((s) => s.points.length === 0))) {
    return (
      <div className="chart" data-testid={`curve-${x}`} data-points="">
        <h3>{baseTitle}</h3>
        {controls && <div className="chart-controls">{controls}</div>}
        <p className="muted">No {metricName} scores for these runs yet. Evaluate them below.</p>
      </div>
    );
  }
  return (
    <div className="curve-block">
      {(key || mixed) && (
        <p className="muted">
          {mixed ? 'One chart per comparability key.' : 'Showing the chosen key only.'}{' '}
          <button
            type="button"
            className="link"
            onClick={() => {
              setKey(undefined);
              setMixed(false);
            }}
          >
            Choose again
          </button>
        </p>
      )}
      {groups.map((g, i) => {
        const series = groupSeries(g, runs);
        const missing = runs.filter((r) => !g.series.some((s) => s.runId === r.runId && s.points.length > 0));
        const title = groups.length > 1 ? `${baseTitle} — key ${i + 1} of ${groups.length}` : baseTitle;
        return (
          <MetricChart
            key={g.key}
            testId={`curve-${x}`}
            title={title}
            series={series}
            xLabel={xLabel}
            yLabel={metricAxisLabel(metric, g.parts)}
            logX={logX}
            logY={logY}
            caption={[`Comparability key: ${describeKey(g.parts)}`, ...(atCheckpoint ? [`At the ${atCheckpoint}.`] : [])]}
            exportName={[`${metric}-vs-${x === 'iteration' ? 'iterations' : 'sampling-steps'}`, ...runs.map((r) => r.label)]}
            controls={i === 0 ? controls : undefined}
            footer={
              <>
                <KeyCaption parts={g.parts} />
                {atCheckpoint && <p className="muted chart-note">At the {atCheckpoint}.</p>}
                {missing.length > 0 && (
                  <p className="muted chart-note">No scores under this key: {missing.map((r) => r.label).join(', ')}.</p>
                )}
              </>
            }
            xFormat={(v) => v.toLocaleString('en-US')}
          />
        );
      })}
    </div>
  );
}

export function ScoreCharts({ runs, checkpoints, refresh }: { runs: PanelRun[]; checkpoints: number[] | null; refresh: number }) {
  const [metric, setMetric] = useState<Metric>('fid');
  const [logY, setLogY] = useState(false);
  const [logSteps, setLogSteps] = useState(true);
  const [checkpoint, setCheckpoint] = useState('');
  const metricPicker = (
    <>
      <label>
        metric{' '}
        <select value={metric} onChange={(e) => setMetric(e.target.value as Metric)} data-testid="metric-select">
          {SCORE_METRICS.map((m) => (
            <option key={m} value={m}>
              {METRIC_NAMES[m]}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={logY} onChange={(e) => setLogY(e.target.checked)} /> log scale ({METRIC_NAMES[metric]})
      </label>
    </>
  );
  return (
    <section className="panel" aria-labelledby="scores-title">
      <h2 id="scores-title">Scores</h2>
      <div className="chart-pair">
        <CurveCharts runs={runs} metric={metric} x="iteration" logX={false} logY={logY} refresh={refresh} controls={metricPicker} />
        <CurveCharts
          runs={runs}
          metric={metric}
          x="samplingSteps"
          logX={logSteps}
          logY={logY}
          checkpointStep={checkpoint === '' ? undefined : Number(checkpoint)}
          refresh={refresh}
          controls={
            <>
              <label>
                checkpoint{' '}
                <select value={checkpoint} onChange={(e) => setCheckpoint(e.target.value)}>
                  <option value="">latest evaluated of each run</option>
                  {(checkpoints ?? []).map((s) => (
                    <option key={s} value={String(s)}>
                      {s.toLocaleString('en-US')}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <input type="checkbox" checked={logSteps} onChange={(e) => setLogSteps(e.target.checked)} /> log T' axis
              </label>
            </>
          }
        />
      </div>
    </section>
  );
}

/**
 * Compare: 2-4 runs side by side. Run cards with a pinned baseline; paired sample grids from the
 * same noise; score curves against training iterations and against T'; the paper's tables; and
 * scoring of runs that have none yet.
 *
 * The grids come first: the paired sets the runs already have are looked up alongside the runs
 * themselves, and their images start downloading as soon as their URLs are known. The panels
 * below them (scores, tables, evaluation) mount once the grids are on screen, so their requests
 * and rendering do not hold the grids up; the charts' code (recharts, the largest part of the
 * screen) is a chunk of its own, loaded then.
 */
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import type { LabEvent, RunInfo } from '../../../../shared/api';
import { seriesColor, useSeriesColors } from '../../charts/palette';
import { routeHref, useLab, useQuery } from '../../lab';
import { ApiError } from './api-error';
import { EvaluatePanel } from './EvaluatePanel';
import { savedPair, startFirstRequests, takeFirstRequest } from './first-requests';
import { ReportTables } from './ReportTables';
import { RunCards } from './RunCards';
import { commonCheckpoints, defaultBaseline, distinctLabels, sharedExperiment } from './run-set';
import { SamplesPanel, type PanelRun } from './SamplesPanel';
import './compare.css';

const ScoreCharts = lazy(() => import('./ScoreCharts').then((m) => ({ default: m.ScoreCharts })));

const MAX_RUNS = 4;
/** The panels below the grids wait for them at most this long (a slow image must not hide them). */
const GRIDS_FIRST_MS = 2000;

export function CompareScreen({ runIds: requested }: { runIds: string[] }) {
  const runIds = useMemo(() => [...new Set(requested)].slice(0, MAX_RUNS), [requested]);
  const idsKey = runIds.join(',');
  const touches = (e: LabEvent) => (e.type === 'run-updated' || e.type === 'job-status') && runIds.includes(e.runId);
  const lab = useLab();
  // Once per mount, during the first render (see first-requests.ts); the queries below take these.
  useState(() => startFirstRequests(lab, runIds));
  const details = useQuery((lab) => takeFirstRequest(lab, runIds, 'details') ?? Promise.all(runIds.map((id) => lab.getRun(id))), [idsKey], {
    enabled: runIds.length > 0,
    refetchOn: touches,
    throttleMs: 2000,
  });
  const checkpointLists = useQuery((lab) => takeFirstRequest(lab, runIds, 'checkpoints') ?? Promise.all(runIds.map((id) => lab.listCheckpoints(id))), [idsKey], {
    enabled: runIds.length > 0,
    refetchOn: touches,
    throttleMs: 2000,
  });
  // Looked up once per set of runs: later sampling shows up through "Compare samples".
  const saved = useQuery(
    (lab) => takeFirstRequest(lab, runIds, 'saved') ?? savedPair(lab, runIds, Promise.all(runIds.map((id) => lab.listCheckpoints(id)))),
    [idsKey],
    { enabled: runIds.length > 1 },
  );
  // The grids are settled once shown (or failed), or when there are none to show.
  const [gridsSettled, setGridsSettled] = useState(false);
  const onGridsSettled = useCallback(() => setGridsSettled(true), []);
  const noSavedGrids = !saved.loading && saved.data === null;
  useEffect(() => {
    if (gridsSettled) return;
    const timer = setTimeout(() => setGridsSettled(true), GRIDS_FIRST_MS);
    return () => clearTimeout(timer);
  }, [gridsSettled]);
  const restReady = gridsSettled || noSavedGrids;
  const [pinned, setPinned] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);
  const colors = useSeriesColors();

  const runs: RunInfo[] = (details.data ?? []).flatMap((d) => (d ? [d.run] : []));
  const missing = details.data ? runIds.filter((_, i) => !details.data![i]) : [];
  const labels = distinctLabels(runs);
  const colorOf = new Map(runIds.map((id, i) => [id, seriesColor(colors, i)]));
  const baselineId = pinned && runs.some((r) => r.id === pinned) ? pinned : defaultBaseline(runs);
  const panelRuns: PanelRun[] = runs.map((r) => ({ runId: r.id, label: labels.get(r.id) ?? r.name, color: colorOf.get(r.id)! }));
  const checkpoints = checkpointLists.data ? commonCheckpoints(checkpointLists.data) : null;
  const checkpointMap = new Map(runIds.map((id, i) => [id, checkpointLists.data?.[i] ?? []]));

  if (runIds.length === 0) {
    return (
      <section className="screen compare" data-testid="screen-compare">
        <h1>Compare</h1>
        <p>
          Pick two to four runs on the <a href={routeHref('/runs')}>Runs</a> screen and choose Compare (or open{' '}
          <code>#/compare?runs=&lt;id&gt;,&lt;id&gt;</code>).
        </p>
      </section>
    );
  }

  return (
    <section className="screen compare" data-testid="screen-compare">
      <div className="screen-head">
        <h1>Compare {runs.length > 0 ? `${runs.length} runs` : ''}</h1>
        <a href={routeHref('/analyses', { runs: runIds })}>Exposure-bias analyses of these runs →</a>
      </div>
      {requested.length > MAX_RUNS && (
        <p className="banner">Compare shows up to {MAX_RUNS} runs at once; showing the first {MAX_RUNS} of {requested.length}.</p>
      )}
      {details.error !== null && <ApiError error={details.error} what="Loading the runs" />}
      {missing.length > 0 && (
        <p className="banner error" role="alert">
          No run with id {missing.map((m) => `'${m}'`).join(', ')} (deleted, or a mistyped link).
        </p>
      )}
      {!details.data && !details.error && <p className="muted">Loading runs…</p>}
      {runs.length === 1 && <p className="banner">Only one run: add another on the Runs screen to compare.</p>}
      {runs.length > 0 && (
        <>
          <RunCards runs={runs} colors={colorOf} labels={labels} baselineId={baselineId} onBaseline={setPinned} />
          <SamplesPanel
            runs={panelRuns}
            checkpoints={checkpoints}
            baselineId={baselineId}
            saved={saved.loading ? undefined : (saved.data ?? null)}
            onGridsSettled={onGridsSettled}
          />
          {restReady ? (
            <>
              <Suspense fallback={<p className="muted">Loading the score charts…</p>}>
                <ScoreCharts runs={panelRuns} checkpoints={checkpoints} refresh={refresh} />
              </Suspense>
              <ReportTables
                experimentId={sharedExperiment(runs)}
                baselineId={baselineId}
                runIds={runs.map((r) => r.id)}
                labels={labels}
                refresh={refresh}
              />
              <EvaluatePanel runs={panelRuns} checkpoints={checkpointMap} onScored={() => setRefresh((n) => n + 1)} refresh={refresh} />
            </>
          ) : (
            <p className="muted">Loading the scores and tables…</p>
          )}
        </>
      )}
    </section>
  );
}

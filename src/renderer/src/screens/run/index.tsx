/**
 * One run, live: what it is, how far it got, its loss, learning rate and throughput as they are
 * logged, the latest sample grid, checkpoints, log output, and the notes and tags kept with it.
 */
import { useEffect, useRef, useState } from 'react';
import type { JobInfo, JobProgressEvent, LabEvent, RunInfo } from '../../../../shared/api';
import { ConfirmDialog } from '../../components/dialog';
import { errorMessage, formatBytes, formatDuration, formatNumber, formatTime, objectiveLabel } from '../../components/format';
import { ProgressBar, StatusBadge } from '../../components/status';
import { navigate, routeHref, useArtifactUrl, useLab, useLabEvents, useQuery } from '../../lab';
import { MetricChart } from './metric-chart';

const MAX_POINTS = 1000;
const SMOOTHING_CHOICES = [0, 0.6, 0.9, 0.97, 0.99];

function forRun(runId: string, types: LabEvent['type'][]) {
  return (e: LabEvent) => types.includes(e.type) && 'runId' in e && e.runId === runId;
}

function useMetric(runId: string, name: string, enabled = true) {
  return useQuery((l) => l.metricSeries({ runId, name, maxPoints: MAX_POINTS }), [runId, name], {
    refetchOn: (e) => e.type === 'metrics-appended' && e.runId === runId && e.names.includes(name),
    throttleMs: 1500,
    enabled,
  });
}

function configSummary(run: RunInfo): [string, string][] {
  const c = run.config as Record<string, unknown> & {
    optimizer?: { lr?: number; kind?: string; weightDecay?: number };
    evaluation?: { every?: number; steps?: string[]; n?: number } | null;
  };
  const rows: [string, string][] = [];
  const add = (k: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') rows.push([k, String(v)]);
  };
  if (run.kind === 'train') {
    add('objective', objectiveLabel(run.objective) + (run.gamma !== null && (run.objective === 'adm-ip' || run.objective === 'adm-y') ? `, γ = ${run.gamma}` : ''));
    add('dataset', run.dataset);
    add('model preset', run.preset);
    add('image size', c.imageSize === null ? "dataset's own" : c.imageSize ? `${String(c.imageSize)} px` : undefined);
    add('iterations × batch', `${String(c.steps)} × ${String(c.batch)}`);
    add('optimizer', `${c.optimizer?.kind ?? 'adam'}, lr ${formatNumber(c.optimizer?.lr ?? null)}${c.optimizer?.weightDecay ? `, weight decay ${c.optimizer.weightDecay}` : ''}`);
    add('diffusion', `T = ${String(c.T)}, ${String(c.schedule)}${c.learnSigma ? ', learned Σ' : ''}`);
    add('EMA rate', c.emaRate);
    add('seed', run.seed);
    add('evaluation', c.evaluation ? `every ${c.evaluation.every} it, T' ${c.evaluation.steps?.join('/')}, n = ${c.evaluation.n}` : 'none scheduled');
  } else {
    add('kind', run.kind);
    add('seed', run.seed);
    if (run.parentRunId) add('from run', run.parentRunId);
  }
  add('backend', run.backend);
  add('created', formatTime(run.createdAt));
  add('started', run.startedAt ? formatTime(run.startedAt) : null);
  add('finished', run.finishedAt ? formatTime(run.finishedAt) : null);
  add('app version', run.appVersion);
  add('git commit', run.gitCommit?.slice(0, 10));
  return rows;
}

export function RunScreen({ runId }: { runId: string }) {
  const lab = useLab();
  const detail = useQuery((l) => l.getRun(runId), [runId], {
    refetchOn: forRun(runId, ['run-updated', 'job-status']),
    throttleMs: 400,
  });
  const run = detail.data?.run ?? null;
  const metricNames = detail.data?.metricNames ?? [];

  // Live progress from the event stream (ahead of the stored run between writes).
  const [live, setLive] = useState<JobProgressEvent | null>(null);
  const [events, setEvents] = useState<string[]>([]);
  const lastLine = useRef(0);
  useLabEvents((e) => {
    if (e.type === 'job-progress' && e.runId === runId) {
      setLive(e);
      if (e.at - lastLine.current >= 2000 || e.step === e.stepsPlanned) {
        lastLine.current = e.at;
        const line =
          `${new Date(e.at).toLocaleTimeString()}  step ${e.step}/${e.stepsPlanned}` +
          (e.loss !== null ? `  loss ${formatNumber(e.loss, 4)}` : '') +
          (e.itPerSec !== null ? `  ${formatNumber(e.itPerSec, 3)} it/s` : '') +
          (e.etaSeconds !== null ? `  eta ${formatDuration(e.etaSeconds)}` : '');
        setEvents((l) => [...l.slice(-199), line]);
      }
    } else if (e.type === 'job-status' && e.runId === runId) {
      setEvents((l) => [...l.slice(-199), `${new Date(e.at).toLocaleTimeString()}  job ${e.jobId} ${e.status}${e.error ? `: ${e.error}` : ''}`]);
    }
  });

  const [logScale, setLogScale] = useState(false);
  const [smoothing, setSmoothing] = useState(0.9);
  const isTrain = run ? run.kind === 'train' : true;
  const loss = useMetric(runId, 'loss', isTrain);
  const lr = useMetric(runId, 'lr', isTrain);
  const speed = useMetric(runId, 'it_per_s', isTrain);
  const extraNames = metricNames.filter((n) => !['loss', 'lr', 'it_per_s'].includes(n));
  const [extra, setExtra] = useState<string>('');
  const extraName = extra && extraNames.includes(extra) ? extra : (extraNames[0] ?? '');
  const extraSeries = useMetric(runId, extraName || 'grad_norm', Boolean(extraName));

  const checkpoints = useQuery((l) => l.listCheckpoints(runId), [runId, live?.checkpointStep ?? null], {
    refetchOn: forRun(runId, ['run-updated', 'job-status']),
    throttleMs: 2000,
  });
  const setsOwner = run?.kind === 'sample' && run.parentRunId ? run.parentRunId : runId;
  const sampleSets = useQuery((l) => l.listSampleSets(setsOwner), [setsOwner], {
    // Sampling and evaluation jobs of this run add sets when they finish.
    refetchOn: (e) => e.type === 'job-status' && (e.status === 'done' || e.runId === runId),
    throttleMs: 2000,
  });
  const evaluations = useQuery((l) => l.listEvaluations({ runId }), [runId], {
    refetchOn: (e) => e.type === 'job-status' && e.status === 'done',
    throttleMs: 3000,
  });
  const latestSet = (sampleSets.data ?? []).findLast((s) => s.gridArtifactId);
  const gridId = live?.gridArtifactId ?? latestSet?.gridArtifactId ?? null;
  const gridUrl = useArtifactUrl(gridId);

  const jobs = detail.data?.jobs ?? [];
  const job: JobInfo | undefined = jobs[jobs.length - 1];
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<{ busy: boolean; error: string | null } | null>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(null);
    try {
      await fn();
    } catch (err) {
      setActionError(errorMessage(err));
    } finally {
      setBusy(false);
      detail.refetch();
    }
  };

  // A live value is only shown while the job runs; afterwards the stored record is the truth.
  const active = run?.status === 'running' || run?.status === 'queued';
  useEffect(() => {
    if (!active) setLive((l) => (l && l.step >= (run?.stepsDone ?? 0) ? l : null));
  }, [active, run?.stepsDone]);

  if (detail.loading && !detail.data) {
    return (
      <section className="screen" data-testid="screen-run">
        <p className="muted">Loading run {runId}…</p>
      </section>
    );
  }
  if (!run) {
    return (
      <section className="screen" data-testid="screen-run">
        <h1>Run {runId}</h1>
        <div className="banner error" role="alert">
          {detail.error ? `Could not load the run: ${detail.error.message}` : 'There is no such run (it may have been deleted).'}
        </div>
        <a href={routeHref('/runs')}>Back to runs</a>
      </section>
    );
  }

  const stepsDone = active && live && live.step > run.stepsDone ? live.step : run.stepsDone;
  const planned = run.stepsPlanned ?? live?.stepsPlanned ?? null;
  const itPerSec = active ? (live?.itPerSec ?? null) : null;
  const lastSpeed = speed.data?.value.findLast((v) => v !== null) ?? null;
  const lossNow = live?.loss ?? loss.data?.value.findLast((v) => v !== null) ?? null;
  const lastCheckpoint = (checkpoints.data ?? []).at(-1)?.step ?? live?.checkpointStep ?? null;

  return (
    <section className="screen" data-testid="screen-run" data-run-id={run.id} data-status={run.status}>
      <div className="run-header">
        <h1 style={{ margin: 0 }}>{run.name}</h1>
        <StatusBadge status={run.status} title={run.error} />
        <code className="muted">{run.id}</code>
        {run.experimentId !== null && (
          <a href={routeHref('/runs', { experiment: run.experimentId })} data-testid="run-experiment-link">
            experiment’s runs
          </a>
        )}
        <span style={{ flex: 1 }} />
        <div className="toolbar" style={{ margin: 0 }}>
          {run.status === 'running' && job && (
            <button type="button" onClick={() => void act(() => lab.pauseJob(job.id))} disabled={busy} data-testid="run-pause">
              Pause
            </button>
          )}
          {active && job && (
            <button type="button" onClick={() => void act(() => lab.cancelJob(job.id))} disabled={busy} data-testid="run-cancel">
              Cancel
            </button>
          )}
          {job && ['paused', 'cancelled', 'failed', 'interrupted'].includes(run.status) && (
            <button type="button" className="primary" onClick={() => void act(() => lab.resumeJob(job.id))} disabled={busy} data-testid="run-resume">
              Resume
            </button>
          )}
          {run.kind === 'train' && (
            <button type="button" onClick={() => navigate('/new', { from: run.id })} data-testid="run-duplicate">
              Duplicate with changes
            </button>
          )}
          {!active && (
            <button type="button" className="danger" onClick={() => setConfirmDelete({ busy: false, error: null })} data-testid="run-delete">
              Delete
            </button>
          )}
        </div>
      </div>
      {run.error && (
        <div className="banner error" data-testid="run-error">
          {run.error}
        </div>
      )}
      {actionError && (
        <div className="banner error" role="alert" data-testid="run-action-error">
          {actionError}
        </div>
      )}

      <div className="stats">
        <div className="stat" style={{ minWidth: 260 }}>
          <ProgressBar done={stepsDone} planned={planned} testId="run-progress" />
          <span className="k">iterations done / planned</span>
        </div>
        <div className="stat">
          <span className="v" data-testid="run-loss">{formatNumber(lossNow, 4)}</span>
          <span className="k">loss (latest)</span>
        </div>
        <div className="stat">
          <span className="v" data-testid="run-speed">{formatNumber(itPerSec ?? lastSpeed, 3)}</span>
          <span className="k">iterations / s{itPerSec === null && lastSpeed !== null ? ' (last logged)' : ''}</span>
        </div>
        <div className="stat">
          <span className="v" data-testid="run-eta">{active ? formatDuration(live?.etaSeconds ?? null) : '—'}</span>
          <span className="k">time left</span>
        </div>
        <div className="stat">
          <span className="v">{lastCheckpoint === null ? '—' : lastCheckpoint.toLocaleString()}</span>
          <span className="k">latest checkpoint (iteration)</span>
        </div>
        <div className="stat">
          <span className="v">{formatNumber(run.bestFid, 4)}</span>
          <span className="k">best FID</span>
        </div>
      </div>

      <div className="cards">
        {isTrain && (
          <div className="card">
            <div className="toolbar" style={{ marginBottom: 4 }}>
              <h2 style={{ margin: 0 }}>Loss</h2>
              <span style={{ flex: 1 }} />
              <label>
                <input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} data-testid="loss-log" /> log scale
              </label>
              <label>
                smoothing
                <select value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} data-testid="loss-smoothing">
                  {SMOOTHING_CHOICES.map((s) => (
                    <option key={s} value={s}>
                      {s === 0 ? 'none' : s}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <MetricChart series={loss.data} yLabel="loss (MSE per pixel)" smoothing={smoothing} log={logScale} testId="chart-loss" />
            {loss.error && <p className="error">{loss.error.message}</p>}
          </div>
        )}
        <div className="card">
          <h2>Latest samples</h2>
          {gridUrl ? (
            <img className="grid-image" src={gridUrl} alt={`sample grid of ${run.name}`} data-testid="run-grid" />
          ) : (
            <p className="muted" data-testid="run-grid-none">
              No sample grid yet. Grids appear once the run has been sampled (Compare → paired samples) or evaluated.
            </p>
          )}
          {latestSet && !live?.gridArtifactId && (
            <p className="muted">
              {String((latestSet.sampler as { name?: string }).name ?? 'sampler')}, T' = {latestSet.stepsSpec || 'all'}, {latestSet.count} samples from checkpoint{' '}
              {latestSet.checkpointStep ?? '?'}
            </p>
          )}
        </div>
        {isTrain && (
          <div className="card">
            <h2>Learning rate</h2>
            <MetricChart series={lr.data} yLabel="learning rate (per step)" color="var(--series-3)" height={200} nonNegative testId="chart-lr" />
          </div>
        )}
        {isTrain && (
          <div className="card">
            <h2>Throughput</h2>
            <MetricChart series={speed.data} yLabel="iterations / second" color="var(--series-2)" height={200} nonNegative testId="chart-speed" />
          </div>
        )}
        {extraName && (
          <div className="card">
            <div className="toolbar" style={{ marginBottom: 4 }}>
              <h2 style={{ margin: 0 }}>Other metric</h2>
              <select value={extraName} onChange={(e) => setExtra(e.target.value)} data-testid="extra-metric" aria-label="metric">
                {extraNames.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            </div>
            <MetricChart series={extraSeries.data} yLabel={extraName === 'grad_norm' ? 'gradient norm (L2)' : extraName} color="var(--series-4)" height={200} testId="chart-extra" />
          </div>
        )}
        <div className="card">
          <h2>Settings</h2>
          <dl className="kv" data-testid="run-config">
            {configSummary(run).map(([k, v]) => (
              <FragmentRow key={k} k={k} v={v} />
            ))}
          </dl>
          <details>
            <summary>Full config (JSON)</summary>
            <pre className="log">{JSON.stringify(run.config, null, 2)}</pre>
          </details>
        </div>
        <div className="card">
          <h2>Checkpoints</h2>
          {(checkpoints.data ?? []).length === 0 ? (
            <p className="muted">None yet.</p>
          ) : (
            <table className="plain" data-testid="run-checkpoints">
              <thead>
                <tr>
                  <th>iteration</th>
                  <th>written</th>
                  <th>EMA</th>
                  <th>size</th>
                </tr>
              </thead>
              <tbody>
                {[...(checkpoints.data ?? [])].reverse().map((c) => (
                  <tr key={c.step}>
                    <td>{c.step.toLocaleString()}</td>
                    <td>{formatTime(c.createdAt)}</td>
                    <td>{c.isEmaIncluded ? 'yes' : 'no'}</td>
                    <td>{formatBytes(c.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {(evaluations.data ?? []).length > 0 && (
            <>
              <h3>Scores</h3>
              <table className="plain" data-testid="run-evaluations">
                <thead>
                  <tr>
                    <th>metric</th>
                    <th>value</th>
                    <th>T'</th>
                    <th>iteration</th>
                  </tr>
                </thead>
                <tbody>
                  {(evaluations.data ?? []).slice(-30).reverse().map((e) => (
                    <tr key={e.id} title={e.comparabilityKey}>
                      <td>{e.metric}</td>
                      <td>
                        {formatNumber(e.value, 4)}
                        {e.ciLow !== null && e.ciHigh !== null ? ` [${formatNumber(e.ciLow, 3)}, ${formatNumber(e.ciHigh, 3)}]` : ''}
                      </td>
                      <td>{e.samplingSteps ?? '—'}</td>
                      <td>{e.checkpointStep?.toLocaleString() ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </div>
        <NotesAndTags runId={run.id} tags={run.tags} notes={detail.data?.notes ?? []} onChanged={detail.refetch} />
        <div className="card">
          <h2>Log</h2>
          {events.length > 0 && (
            <>
              <h3>Live (this session)</h3>
              <pre className="log" data-testid="run-live-log">{events.join('\n')}</pre>
            </>
          )}
          {jobs.length === 0 && <p className="muted">No job has run for this run.</p>}
          {[...jobs].reverse().map((j) => (
            <div key={j.id}>
              <h3>
                Job {j.id} · {j.status}
                {j.attempts > 1 ? ` · attempt ${j.attempts}` : ''} <span className="muted">{formatTime(j.startedAt ?? j.createdAt)}</span>
              </h3>
              {j.error && <p className="error">{j.error}</p>}
              {j.logTail ? (
                <pre className="log" data-testid="run-log">{j.logTail}</pre>
              ) : (
                <p className="muted">{j.status === 'running' || j.status === 'queued' ? 'The job’s output is kept when it ends.' : 'No output kept.'}</p>
              )}
            </div>
          ))}
        </div>
      </div>
      {confirmDelete && (
        <ConfirmDialog
          title={`Delete ${run.name}?`}
          confirmLabel="Delete run and files"
          danger
          busy={confirmDelete.busy}
          error={confirmDelete.error}
          onCancel={() => setConfirmDelete(null)}
          onConfirm={() => {
            setConfirmDelete({ busy: true, error: null });
            lab.deleteRun(run.id).then(
              () => navigate('/runs'),
              (err) => setConfirmDelete({ busy: false, error: errorMessage(err) }),
            );
          }}
          testId="confirm-delete"
        >
          <p>This removes the run, everything recorded about it and its folder on disk. It cannot be undone.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function FragmentRow({ k, v }: { k: string; v: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </>
  );
}

function NotesAndTags({ runId, tags, notes, onChanged }: { runId: string; tags: string[]; notes: { id: number; text: string; createdAt: number }[]; onChanged: () => void }) {
  const lab = useLab();
  const [tag, setTag] = useState('');
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<unknown>, after: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      after();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
      onChanged();
    }
  };
  return (
    <div className="card">
      <h2>Tags</h2>
      <div data-testid="run-tags">
        {tags.length === 0 && <span className="muted">none </span>}
        {tags.map((t) => (
          <span key={t} className="tag">
            {t}{' '}
            <button type="button" className="link" aria-label={`remove tag ${t}`} onClick={() => void run(() => lab.untag(runId, t), () => undefined)} data-testid="run-untag">
              ×
            </button>
          </span>
        ))}
      </div>
      <form
        className="toolbar"
        style={{ marginTop: 6 }}
        onSubmit={(e) => {
          e.preventDefault();
          if (tag.trim()) void run(() => lab.tag(runId, tag.trim()), () => setTag(''));
        }}
      >
        <input value={tag} onChange={(e) => setTag(e.target.value)} placeholder="add a tag" aria-label="new tag" data-testid="run-tag-input" />
        <button type="submit" disabled={busy || !tag.trim()} data-testid="run-tag-add">
          Add tag
        </button>
      </form>
      <h2>Notes</h2>
      {notes.length === 0 && <p className="muted">No notes yet.</p>}
      <ul data-testid="run-notes" style={{ paddingLeft: 18 }}>
        {notes.map((n) => (
          <li key={n.id}>
            <span className="muted">{formatTime(n.createdAt)}</span> — <span style={{ whiteSpace: 'pre-wrap' }}>{n.text}</span>
          </li>
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (note.trim()) void run(() => lab.addNote(runId, note.trim()), () => setNote(''));
        }}
      >
        <textarea value={note} onChange={(e) => setNote(e.target.value)} rows={3} style={{ width: '100%' }} placeholder="What did you try, what did you see?" aria-label="new note" data-testid="run-note-input" />
        <button type="submit" disabled={busy || !note.trim()} data-testid="run-note-add">
          Add note
        </button>
      </form>
      {error && <p className="error">{error}</p>}
    </div>
  );
}

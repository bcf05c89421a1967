/**
 * "Compare samples": one click asks the engine for the runs' sample sets drawn from the same noise
 * with the chosen settings; sets that exist come back at once, the others are sampled (progress
 * per run) and appear when their jobs finish. Before any click, the newest paired sets the runs
 * already have (saved-pairs.ts) are shown, with the form set to ask for them.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { CompareSamplesRequest, SampleComparisonEntry } from '../../../../shared/api';
import { useLab } from '../../lab';
import { ApiError } from './api-error';
import { progressFraction, progressText, useJobTracker, type TrackedJob } from './job-tracker';
import { SampleGrids, type GridRun } from './SampleGrids';
import { DEFAULT_SAMPLE_FORM, STEP_CHOICES, sampleRequest, stepsSpec, type FieldErrors, type SampleForm } from './sample-request';
import { useArtifactUrls } from './artifact-urls';
import { preloadSetGrids } from './grid-images';
import type { SavedPair } from './saved-pairs';

export interface PanelRun {
  runId: string;
  label: string;
  color: string;
}

export function SamplesPanel({ runs, checkpoints, baselineId, saved, onGridsSettled }: {
  runs: PanelRun[];
  checkpoints: number[] | null;
  baselineId: string | null;
  /** Paired sets the runs have already; undefined while still looking. */
  saved?: SavedPair | null;
  /** Called when the grids shown are all on screen (or failed to load). */
  onGridsSettled?: () => void;
}) {
  const lab = useLab();
  const [form, setForm] = useState<SampleForm>(DEFAULT_SAMPLE_FORM);
  const [custom, setCustom] = useState(false);
  const [errors, setErrors] = useState<FieldErrors<SampleForm>>({});
  const [asked, setAsked] = useState<SampleComparisonEntry[] | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const touched = useRef(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const request = useRef<CompareSamplesRequest | null>(null);
  const runIds = runs.map((r) => r.runId);

  const ask = useCallback(
    async (req: CompareSamplesRequest, tracker: { track: (job: NonNullable<SampleComparisonEntry['job']>, purpose: string) => void }) => {
      setBusy(true);
      try {
        const result = await lab.compareSamples(req);
        if (request.current !== req) return;
        // The images start downloading now, not after the renders that lead to the grids.
        await preloadSetGrids(lab, result.map((e) => e.sampleSet));
        if (request.current !== req) return;
        setAsked(result);
        setError(null);
        for (const e of result) if (e.job && !e.sampleSet) tracker.track(e.job, e.runId);
      } catch (err) {
        if (request.current === req) setError(err);
      } finally {
        setBusy(false);
      }
    },
    [lab],
  );

  // A finished sampling job means its set exists now: ask again (the engine returns existing sets
  // and the jobs already queued for the rest, so this queues nothing new).
  const tracker = useJobTracker((job: TrackedJob) => {
    if (job.status === 'done' && request.current) void ask(request.current, tracker);
  });

  const submit = () => {
    const r = sampleRequest(runIds, form);
    setErrors(r.errors ?? {});
    if (!r.request) return;
    request.current = r.request;
    tracker.forget();
    setSubmitted(true);
    setAsked(null);
    void ask(r.request, tracker);
  };

  // Until the first click, the saved pair is what the panel shows, and the form asks for it (unless
  // the user has started filling it in).
  const savedEntries = useMemo(() => saved?.sets.map((set): SampleComparisonEntry => ({ runId: set.runId, sampleSet: set, job: null })) ?? null, [saved]);
  const entries = submitted ? asked : savedEntries;
  useEffect(() => {
    if (!saved || touched.current || request.current) return;
    setForm((f) => ({ ...f, ...saved.form }));
    setCustom(saved.customSteps);
  }, [saved]);

  const set = <K extends keyof SampleForm>(k: K, v: SampleForm[K]) => {
    touched.current = true;
    setForm((f) => ({ ...f, [k]: v }));
  };
  const stepsNumber = Number(form.steps);

  const gridArtifactIds = (entries ?? []).map((e) => e.sampleSet?.gridArtifactId ?? null);
  const urls = useArtifactUrls(gridArtifactIds);
  const gridRuns: GridRun[] = useMemo(
    () =>
      (entries ?? []).flatMap((e) => {
        const run = runs.find((r) => r.runId === e.runId);
        if (!run || !e.sampleSet) return [];
        const id = e.sampleSet.gridArtifactId;
        const url = id ? urls.get(id) : null;
        if (id && url === undefined) return [];
        return [{ runId: e.runId, label: run.label, color: run.color, sampleSet: e.sampleSet, url: url ?? null }];
      }),
    [entries, runs, urls],
  );
  const allReady = entries !== null && gridRuns.length === entries.length;

  return (
    <section className="panel" aria-labelledby="samples-title">
      <h2 id="samples-title">Paired samples</h2>
      <form
        className="sample-form"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <label className="field">
          <span>checkpoint</span>
          <select value={form.checkpoint} onChange={(e) => set('checkpoint', e.target.value)} aria-invalid={Boolean(errors.checkpoint)}>
            <option value="">latest of each run</option>
            {(checkpoints ?? []).map((s) => (
              <option key={s} value={String(s)}>
                {s.toLocaleString('en-US')} (all runs)
              </option>
            ))}
          </select>
          {errors.checkpoint && <span className="issue">{errors.checkpoint}</span>}
        </label>
        <label className="field">
          <span>sampler</span>
          <select value={form.sampler} onChange={(e) => set('sampler', e.target.value as SampleForm['sampler'])}>
            <option value="ddpm">DDPM (ancestral)</option>
            <option value="ddim">DDIM (η = 0)</option>
          </select>
        </label>
        <label className="field">
          <span>sampling steps T'</span>
          <select
            data-testid="steps-select"
            value={custom ? 'custom' : form.steps}
            onChange={(e) => {
              if (e.target.value === 'custom') {
                touched.current = true;
                setCustom(true);
              } else {
                setCustom(false);
                set('steps', e.target.value);
              }
            }}
          >
            {STEP_CHOICES.map((s) => (
              <option key={s} value={String(s)}>
                {s}
              </option>
            ))}
            <option value="custom">custom…</option>
          </select>
          {custom && (
            <input
              aria-label="custom T'"
              inputMode="numeric"
              value={form.steps}
              onChange={(e) => set('steps', e.target.value)}
              aria-invalid={Boolean(errors.steps)}
            />
          )}
          {errors.steps ? (
            <span className="issue">{errors.steps}</span>
          ) : (
            Number.isInteger(stepsNumber) && stepsNumber > 0 && <span className="hint">respacing "{stepsSpec(form.sampler, stepsNumber)}"</span>
          )}
        </label>
        <label className="field">
          <span>samples n</span>
          <input inputMode="numeric" value={form.n} onChange={(e) => set('n', e.target.value)} aria-invalid={Boolean(errors.n)} />
          {errors.n && <span className="issue">{errors.n}</span>}
        </label>
        <label className="field">
          <span>seed</span>
          <input inputMode="numeric" value={form.seed} onChange={(e) => set('seed', e.target.value)} aria-invalid={Boolean(errors.seed)} />
          {errors.seed && <span className="issue">{errors.seed}</span>}
        </label>
        <label className="field">
          <span>weights</span>
          <select value={form.weights} onChange={(e) => set('weights', e.target.value as SampleForm['weights'])}>
            <option value="ema">EMA</option>
            <option value="raw">raw</option>
          </select>
        </label>
        <div className="field submit">
          <button type="submit" className="primary" disabled={busy} data-testid="compare-samples">
            Compare samples
          </button>
        </div>
      </form>

      {error !== null && <ApiError error={error} what="Paired sampling" />}
      {!submitted && entries && (
        <p className="muted" data-testid="saved-samples-note">
          The newest paired samples these runs already have. Change the settings and press Compare samples for others.
        </p>
      )}

      {entries && (
        <ul className="sample-status" aria-live="polite">
          {entries.map((e) => {
            const run = runs.find((r) => r.runId === e.runId);
            const job = tracker.jobs.find((j) => j.purpose === e.runId);
            return (
              <li key={e.runId} data-testid="sample-status" data-run={e.runId}>
                <span className="swatch" style={{ background: run?.color }} /> {run?.label ?? e.runId}:{' '}
                {e.sampleSet ? (
                  <span className="ok">ready (sample set {e.sampleSet.id})</span>
                ) : job ? (
                  <span className={job.status === 'failed' ? 'error' : undefined}>
                    {progressText(job, 'sampling')}
                    <span className="progress inline" aria-hidden="true">
                      <span className="bar" style={{ width: `${Math.round(progressFraction(job) * 100)}%` }} />
                    </span>
                  </span>
                ) : (
                  <span className="muted">no sample set and no job (the engine queued nothing)</span>
                )}
              </li>
            );
          })}
        </ul>
      )}

      {entries && gridRuns.length > 0 && (
        <div data-testid="paired-grids" data-ready={allReady ? 'true' : 'false'}>
          <SampleGrids
            key={gridRuns.map((g) => `${g.runId}:${g.sampleSet.id}`).join(',')}
            runs={gridRuns}
            baselineId={baselineId}
            onSettled={onGridsSettled}
          />
        </div>
      )}
      {!entries && !busy && error === null && (
        <p className="muted">
          Choose the settings and press Compare samples: every run samples from the same noise (same seed), so sample k of one run
          pairs with sample k of the other.
        </p>
      )}
    </section>
  );
}

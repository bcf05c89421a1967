/** The "Run analysis" form of one analysis kind: small parameter fields, one job per run, progress until each lands. */
import { useState } from 'react';
import type { AnalysisKind } from '../../../../shared/api';
import { useLab } from '../../lab';
import { ApiError } from '../compare/api-error';
import { progressFraction, progressText, useJobTracker } from '../compare/job-tracker';
import type { PanelRun } from '../compare/SamplesPanel';
import { analysisRequest, defaultAnalysisForm, type AnalysisErrors, type AnalysisForm } from './analysis-request';

function Field({ label, value, onChange, error, hint, name }: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  hint?: string;
  name: string;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <input name={name} value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={Boolean(error)} />
      {error ? <span className="issue">{error}</span> : hint && <span className="hint">{hint}</span>}
    </label>
  );
}

export function StartAnalysis({ kind, runs, checkpoints, onDone }: {
  kind: AnalysisKind;
  runs: PanelRun[];
  checkpoints: number[] | null;
  onDone: () => void;
}) {
  const lab = useLab();
  const [form, setForm] = useState<AnalysisForm>(() => defaultAnalysisForm(kind));
  const [errors, setErrors] = useState<AnalysisErrors>({});
  const [startError, setStartError] = useState<unknown>(null);
  const tracker = useJobTracker((job) => {
    if (job.status === 'done') onDone();
  });
  const set = (k: keyof AnalysisForm) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const running = tracker.jobs.some((j) => j.status === 'queued' || j.status === 'running');

  const start = async () => {
    setStartError(null);
    const requests = [];
    for (const r of runs) {
      const result = analysisRequest(r.runId, kind, form);
      if (!result.request) {
        setErrors(result.errors);
        return;
      }
      requests.push(result.request);
    }
    setErrors({});
    for (const request of requests) {
      try {
        const started = await lab.startAnalysis(request);
        tracker.track(started.job, request.runId);
      } catch (err) {
        setStartError(err);
        return;
      }
    }
  };

  return (
    <details className="start-analysis">
      <summary>Run this analysis…</summary>
      <form
        className="sample-form"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <label className="field">
          <span>checkpoint</span>
          <select value={form.checkpoint} onChange={(e) => set('checkpoint')(e.target.value)}>
            <option value="">latest of each run</option>
            {(checkpoints ?? []).map((s) => (
              <option key={s} value={String(s)}>
                {s.toLocaleString('en-US')}
              </option>
            ))}
          </select>
        </label>
        <Field name="n" label={kind === 'chain-length' ? 'images per row n' : 'samples n'} value={form.n} onChange={set('n')} error={errors.n} />
        <Field name="seed" label="seed" value={form.seed} onChange={set('seed')} error={errors.seed} />
        <label className="field">
          <span>weights</span>
          <select value={form.weights} onChange={(e) => setForm((f) => ({ ...f, weights: e.target.value as AnalysisForm['weights'] }))}>
            <option value="ema">EMA</option>
            <option value="raw">raw</option>
          </select>
        </label>
        {kind === 'prediction-error' && (
          <Field name="timesteps" label="timesteps t" value={form.timesteps} onChange={set('timesteps')} error={errors.timesteps} hint="e.g. 100, 500, 900 (empty: default)" />
        )}
        {(kind === 'delta-t' || kind === 'spectrum') && (
          <Field name="steps" label="sampling chain (respacing)" value={form.steps} onChange={set('steps')} error={errors.steps} hint="'100', 'ddim50', '' = all T" />
        )}
        {kind === 'delta-t' && <Field name="tStart" label="t start" value={form.tStart} onChange={set('tStart')} error={errors.tStart} hint="empty: T − 1" />}
        {kind === 'chain-length' && (
          <Field name="tStarts" label="start timesteps" value={form.tStarts} onChange={set('tStarts')} error={errors.tStarts} hint="e.g. 100, 300, 600, 999" />
        )}
        <div className="field submit">
          <button type="submit" className="primary" disabled={running || runs.length === 0} data-testid={`start-${kind}`}>
            Run for {runs.length} run{runs.length === 1 ? '' : 's'}
          </button>
        </div>
      </form>
      {startError !== null && <ApiError error={startError} what="Starting the analysis" />}
      {tracker.jobs.length > 0 && (
        <ul className="sample-status" aria-live="polite">
          {tracker.jobs.map((j) => (
            <li key={j.jobId} data-testid="analysis-job">
              {runs.find((r) => r.runId === j.purpose)?.label ?? j.purpose}: {progressText(j, 'analysing')}
              <span className="progress inline" aria-hidden="true">
                <span className="bar" style={{ width: `${Math.round(progressFraction(j) * 100)}%` }} />
              </span>
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}

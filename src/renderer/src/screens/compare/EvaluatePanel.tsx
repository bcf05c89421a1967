/**
 * Scoring runs that have no scores yet: FID-family metrics of n samples at each T', at the latest
 * or at every checkpoint. Each run gets its own evaluation job; the charts and tables refresh as
 * they finish.
 */
import { useState } from 'react';
import type { CheckpointInfo } from '../../../../shared/api';
import { useLab, useQuery } from '../../lab';
import { ApiError } from './api-error';
import { progressFraction, progressText, useJobTracker } from './job-tracker';
import { DEFAULT_EVALUATE_FORM, evaluationRequest, type EvaluateForm, type FieldErrors } from './sample-request';
import type { PanelRun } from './SamplesPanel';

export function EvaluatePanel({ runs, checkpoints, onScored, refresh }: {
  runs: PanelRun[];
  checkpoints: Map<string, CheckpointInfo[]>;
  onScored: () => void;
  refresh: number;
}) {
  const lab = useLab();
  const runIds = runs.map((r) => r.runId);
  const keys = useQuery((l) => l.evaluationKeys({ runIds }), [runIds.join(','), refresh]);
  const scored = new Set((keys.data ?? []).flatMap((k) => k.runIds));
  const unscored = runs.filter((r) => !scored.has(r.runId));
  const [form, setForm] = useState<EvaluateForm>(DEFAULT_EVALUATE_FORM);
  const [chosen, setChosen] = useState<Set<string> | null>(null);
  const [errors, setErrors] = useState<FieldErrors<EvaluateForm>>({});
  const [startError, setStartError] = useState<unknown>(null);
  const tracker = useJobTracker((job) => {
    if (job.status === 'done') onScored();
  });
  const selected = chosen ?? new Set(unscored.map((r) => r.runId));
  const set = <K extends keyof EvaluateForm>(k: K, v: EvaluateForm[K]) => setForm((f) => ({ ...f, [k]: v }));

  const start = async () => {
    setStartError(null);
    const requests = [];
    for (const runId of selected) {
      const steps = (checkpoints.get(runId) ?? []).map((c) => c.step);
      const r = evaluationRequest(runId, form, steps);
      if (!r.request) {
        setErrors(r.errors);
        return;
      }
      requests.push(r.request);
    }
    setErrors({});
    for (const request of requests) {
      try {
        const started = await lab.startEvaluation(request);
        tracker.track(started.job, request.runId);
      } catch (err) {
        setStartError(err);
        return;
      }
    }
  };

  return (
    <section className="panel" aria-labelledby="evaluate-title">
      <h2 id="evaluate-title">Evaluate</h2>
      {keys.error !== null && <ApiError error={keys.error} what="Looking up existing scores" />}
      {keys.data && (
        <p className="muted">
          {unscored.length === 0
            ? 'Every run here has scores. You can still score more checkpoints or step counts.'
            : `No scores yet: ${unscored.map((r) => r.label).join(', ')}.`}
        </p>
      )}
      <form
        className="sample-form"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <fieldset className="field run-choice">
          <legend>runs</legend>
          {runs.map((r) => (
            <label key={r.runId}>
              <input
                type="checkbox"
                checked={selected.has(r.runId)}
                onChange={(e) => {
                  const next = new Set(selected);
                  if (e.target.checked) next.add(r.runId);
                  else next.delete(r.runId);
                  setChosen(next);
                }}
              />{' '}
              {r.label}
            </label>
          ))}
        </fieldset>
        <label className="field">
          <span>samples n per score</span>
          <input inputMode="numeric" value={form.n} onChange={(e) => set('n', e.target.value)} aria-invalid={Boolean(errors.n)} />
          {errors.n && <span className="issue">{errors.n}</span>}
        </label>
        <label className="field">
          <span>sampling steps T' (list)</span>
          <input value={form.steps} onChange={(e) => set('steps', e.target.value)} aria-invalid={Boolean(errors.steps)} />
          {errors.steps ? <span className="issue">{errors.steps}</span> : <span className="hint">e.g. 20, 50, 100, 1000</span>}
        </label>
        <label className="field">
          <span>sampler</span>
          <select value={form.sampler} onChange={(e) => set('sampler', e.target.value as EvaluateForm['sampler'])}>
            <option value="ddpm">DDPM</option>
            <option value="ddim">DDIM</option>
          </select>
        </label>
        <label className="field">
          <span>checkpoints</span>
          <select value={form.checkpoints} onChange={(e) => set('checkpoints', e.target.value as EvaluateForm['checkpoints'])}>
            <option value="latest">latest</option>
            <option value="all">every checkpoint (the curve over training)</option>
          </select>
          {errors.checkpoints && <span className="issue">{errors.checkpoints}</span>}
        </label>
        <div className="field submit">
          <button type="submit" disabled={selected.size === 0} data-testid="evaluate">
            Evaluate {selected.size} run{selected.size === 1 ? '' : 's'}
          </button>
        </div>
      </form>
      {startError !== null && <ApiError error={startError} what="Starting the evaluation" />}
      {tracker.jobs.length > 0 && (
        <ul className="sample-status" aria-live="polite">
          {tracker.jobs.map((j) => (
            <li key={j.jobId}>
              {runs.find((r) => r.runId === j.purpose)?.label ?? j.purpose}: {progressText(j, 'evaluating')}
              <span className="progress inline" aria-hidden="true">
                <span className="bar" style={{ width: `${Math.round(progressFraction(j) * 100)}%` }} />
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

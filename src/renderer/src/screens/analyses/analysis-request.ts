/**
 * The small form behind each "Run analysis" button, as StartAnalysisRequests (one per run), with
 * each field checked and a message that says what to type.
 */
import type { AnalysisKind, StartAnalysisRequest } from '../../../../shared/api';

export interface AnalysisForm {
  /** '' = each run's latest checkpoint. */
  checkpoint: string;
  n: string;
  seed: string;
  weights: 'ema' | 'raw';
  /** prediction-error: timesteps t, comma-separated ('' = the engine's default). */
  timesteps: string;
  /** delta-t, spectrum: respacing spec of the chain. */
  steps: string;
  /** delta-t: the t the chain starts from ('' = T - 1). */
  tStart: string;
  /** chain-length: the t each chain starts from ('' = the engine's default). */
  tStarts: string;
}

export const ANALYSIS_LABELS: Record<AnalysisKind, string> = {
  'prediction-error': 'Prediction error',
  'delta-t': 'Exposure bias δ_t',
  spectrum: 'Power spectra',
  'chain-length': 'Chain length',
};

export function defaultAnalysisForm(kind: AnalysisKind): AnalysisForm {
  return {
    checkpoint: '',
    n: kind === 'chain-length' ? '8' : kind === 'delta-t' ? '64' : '256',
    seed: '0',
    weights: 'ema',
    timesteps: '',
    steps: '100',
    tStart: '',
    tStarts: '',
  };
}

export type AnalysisErrors = Partial<Record<keyof AnalysisForm, string>>;

function intList(text: string, what: string, max: number): number[] | string | undefined {
  const items = text.split(/[\s,]+/).filter(Boolean);
  if (!items.length) return undefined;
  const out: number[] = [];
  for (const item of items) {
    if (!/^\d+$/.test(item)) return `${what}: '${item}' is not a whole number`;
    out.push(Number(item));
  }
  if (out.length > max) return `${what}: at most ${max} values`;
  return [...new Set(out)].sort((a, b) => a - b);
}

function int(text: string, min: number, max: number, what: string): number | string {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return `${what}: enter a whole number from ${min} to ${max}`;
  const v = Number(t);
  return v < min || v > max ? `${what}: must be from ${min} to ${max}, got ${v}` : v;
}

export function analysisRequest(
  runId: string, kind: AnalysisKind, form: AnalysisForm,
): { request: StartAnalysisRequest; errors: null } | { request: null; errors: AnalysisErrors } {
  const errors: AnalysisErrors = {};
  const n = int(form.n, 2, 50_000, 'n');
  const seed = int(form.seed, 0, 2 ** 32 - 1, 'seed');
  const checkpoint = form.checkpoint === '' ? undefined : int(form.checkpoint, 0, Number.MAX_SAFE_INTEGER, 'checkpoint');
  if (typeof n === 'string') errors.n = n;
  if (typeof seed === 'string') errors.seed = seed;
  if (typeof checkpoint === 'string') errors.checkpoint = checkpoint;
  const request: StartAnalysisRequest = { runId, kind, n: n as number, seed: seed as number, weights: form.weights };
  if (typeof checkpoint === 'number') request.checkpointStep = checkpoint;
  if (kind === 'prediction-error') {
    const t = intList(form.timesteps, 'timesteps t', 64);
    if (typeof t === 'string') errors.timesteps = t;
    else if (t) request.timesteps = t;
  }
  if (kind === 'delta-t' || kind === 'spectrum') {
    const spec = form.steps.trim();
    if (!/^(|ddim\d+|\d+(,\d+)*)$/.test(spec)) errors.steps = "steps: expected '' (all T), '100', '10,15,20' or 'ddim50'";
    else request.steps = spec;
  }
  if (kind === 'delta-t' && form.tStart.trim() !== '') {
    const t = int(form.tStart, 0, 100_000, 't start');
    if (typeof t === 'string') errors.tStart = t;
    else request.tStart = t;
  }
  if (kind === 'chain-length') {
    const t = intList(form.tStarts, 'start timesteps', 32);
    if (typeof t === 'string') errors.tStarts = t;
    else if (t) request.tStarts = t;
  }
  return Object.keys(errors).length ? { request: null, errors } : { request, errors: null };
}

/**
 * The Compare screen's forms as LabApi requests. Each field is checked here with a message that
 * says what to type, so a bad value is caught next to the field before anything is queued.
 */
import type { CompareSamplesRequest, StartEvaluationRequest } from '../../../../shared/api';

export type SamplerKind = 'ddpm' | 'ddim';

export interface SampleForm {
  /** '' = each run's latest checkpoint. */
  checkpoint: string;
  sampler: SamplerKind;
  /** Sampling steps T' as typed. */
  steps: string;
  n: string;
  seed: string;
  weights: 'ema' | 'raw';
}

export const DEFAULT_SAMPLE_FORM: SampleForm = { checkpoint: '', sampler: 'ddpm', steps: '100', n: '64', seed: '0', weights: 'ema' };

export const STEP_CHOICES = [20, 50, 100, 250, 1000] as const;

export type FieldErrors<F> = Partial<Record<keyof F, string>>;

function int(text: string, min: number, max: number, what: string): number | string {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return `${what}: enter a whole number from ${min} to ${max}`;
  const v = Number(t);
  if (v < min || v > max) return `${what}: must be from ${min} to ${max}, got ${v}`;
  return v;
}

/**
 * The respacing spec of T' sampling steps: the even-stride rule ("100") for DDPM, the DDIM stride
 * rule ("ddim50", as ADM's scripts use with DDIM) for DDIM.
 */
export function stepsSpec(sampler: SamplerKind, steps: number): string {
  return sampler === 'ddim' ? `ddim${steps}` : String(steps);
}

export function sampleRequest(
  runIds: string[], form: SampleForm,
): { request: CompareSamplesRequest; errors: null } | { request: null; errors: FieldErrors<SampleForm> } {
  const errors: FieldErrors<SampleForm> = {};
  const steps = int(form.steps, 1, 100_000, "sampling steps T'");
  const n = int(form.n, 1, 1024, 'samples n');
  const seed = int(form.seed, 0, 2 ** 32 - 1, 'seed');
  const checkpoint = form.checkpoint === '' ? undefined : int(form.checkpoint, 0, Number.MAX_SAFE_INTEGER, 'checkpoint');
  if (typeof steps === 'string') errors.steps = steps;
  if (typeof n === 'string') errors.n = n;
  if (typeof seed === 'string') errors.seed = seed;
  if (typeof checkpoint === 'string') errors.checkpoint = checkpoint;
  if (runIds.length < 1 || runIds.length > 4) errors.checkpoint = `compare 1 to 4 runs at once (${runIds.length} selected)`;
  if (Object.keys(errors).length) return { request: null, errors };
  return {
    request: {
      runIds,
      ...(checkpoint !== undefined ? { checkpointStep: checkpoint as number } : {}),
      sampler: { kind: form.sampler, steps: stepsSpec(form.sampler, steps as number) },
      n: n as number,
      seed: seed as number,
      weights: form.weights,
    },
    errors: null,
  };
}

export interface EvaluateForm {
  n: string;
  /** Comma-separated T' list. */
  steps: string;
  sampler: SamplerKind;
  /** 'latest' or 'all' checkpoints. */
  checkpoints: 'latest' | 'all';
}

export const DEFAULT_EVALUATE_FORM: EvaluateForm = { n: '1000', steps: '20, 100', sampler: 'ddpm', checkpoints: 'latest' };

/** "20, 100 ,1000" -> [20, 100, 1000]: distinct, ascending. */
export function parseStepsList(text: string): number[] | string {
  const items = text.split(/[\s,]+/).filter(Boolean);
  if (!items.length) return "sampling steps T': enter one or more numbers, e.g. 20, 100";
  const out = new Set<number>();
  for (const item of items) {
    if (!/^\d+$/.test(item) || Number(item) < 1) return `sampling steps T': '${item}' is not a positive whole number`;
    out.add(Number(item));
  }
  if (out.size > 32) return "sampling steps T': at most 32 values";
  return [...out].sort((a, b) => a - b);
}

export function evaluationRequest(
  runId: string, form: EvaluateForm, checkpointSteps: number[] | null,
): { request: StartEvaluationRequest; errors: null } | { request: null; errors: FieldErrors<EvaluateForm> } {
  const errors: FieldErrors<EvaluateForm> = {};
  const n = int(form.n, 10, 100_000, 'samples n');
  const steps = parseStepsList(form.steps);
  if (typeof n === 'string') errors.n = n;
  if (typeof steps === 'string') errors.steps = steps;
  if (form.checkpoints === 'all' && checkpointSteps && checkpointSteps.length === 0) errors.checkpoints = 'this run has no checkpoints yet';
  if (Object.keys(errors).length) return { request: null, errors };
  return {
    request: {
      runId,
      n: n as number,
      steps: (steps as number[]).map((s) => stepsSpec(form.sampler, s)),
      sampler: form.sampler,
      ...(form.checkpoints === 'all' && checkpointSteps ? { checkpointSteps: checkpointSteps.slice(-1000) } : {}),
    },
    errors: null,
  };
}

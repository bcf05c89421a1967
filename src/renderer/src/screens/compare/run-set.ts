/**
 * Facts about the runs being compared: their labels, which one is the baseline, the checkpoints
 * they all have, and each run's difference from the baseline.
 */
import type { CheckpointInfo, RunInfo } from '../../../../shared/api';

/** "0.1", "0.2→0.05 (linear)"; null when the objective has no gamma. */
export function gammaText(run: Pick<RunInfo, 'objective' | 'gamma' | 'config'>): string | null {
  if (run.objective !== 'adm-ip' && run.objective !== 'adm-y') return null;
  const g = run.config['gamma'] as { kind?: string; gamma?: number; start?: number; end?: number } | undefined;
  if (g && g.kind && g.kind !== 'constant' && typeof g.start === 'number' && typeof g.end === 'number') {
    return `${g.start}→${g.end} (${g.kind})`;
  }
  const v = typeof g?.gamma === 'number' ? g.gamma : run.gamma;
  return v === null || v === undefined ? null : String(v);
}

const OBJECTIVE_NAMES: Record<string, string> = {
  adm: 'ADM',
  'adm-ip': 'ADM-IP',
  'adm-y': 'ADM-y',
  'adm-wd': 'ADM-WD',
  'adm-gp': 'ADM-GP',
};

export function objectiveName(objective: string | null): string {
  return objective ? (OBJECTIVE_NAMES[objective] ?? objective) : 'unknown objective';
}

/** The label of a run in legends and headers: its name, and the objective when the name does not say it. */
export function runLabel(run: Pick<RunInfo, 'name' | 'objective' | 'gamma' | 'config'>): string {
  const objective = objectiveName(run.objective);
  const gamma = gammaText(run);
  const variant = gamma ? `${objective} γ=${gamma}` : objective;
  return run.name.toLowerCase().includes(objective.toLowerCase()) ? run.name : `${run.name} (${variant})`;
}

/** Labels that tell every run apart (a duplicate gets its id appended). */
export function distinctLabels(runs: Pick<RunInfo, 'id' | 'name' | 'objective' | 'gamma' | 'config'>[]): Map<string, string> {
  const labels = runs.map(runLabel);
  const out = new Map<string, string>();
  runs.forEach((r, i) => {
    const dup = labels.filter((l) => l === labels[i]).length > 1;
    out.set(r.id, dup ? `${labels[i]} [${r.id}]` : labels[i]!);
  });
  return out;
}

/** The default baseline: the first plain ADM run, else the first run. */
export function defaultBaseline(runs: Pick<RunInfo, 'id' | 'objective'>[]): string | null {
  return (runs.find((r) => r.objective === 'adm') ?? runs[0])?.id ?? null;
}

/** Checkpoint steps present in every run, ascending. */
export function commonCheckpoints(perRun: CheckpointInfo[][]): number[] {
  if (!perRun.length) return [];
  const [first, ...rest] = perRun.map((cs) => new Set(cs.map((c) => c.step)));
  return [...first!].filter((s) => rest.every((set) => set.has(s))).sort((a, b) => a - b);
}

/** value - baseline, or null when either is missing. */
export function delta(value: number | null, baseline: number | null): number | null {
  return value === null || baseline === null || !Number.isFinite(value) || !Number.isFinite(baseline) ? null : value - baseline;
}

/** The experiment every run belongs to, or null when they are not all in one. */
export function sharedExperiment(runs: Pick<RunInfo, 'experimentId'>[]): number | null {
  const ids = new Set(runs.map((r) => r.experimentId));
  const [only] = [...ids];
  return ids.size === 1 && only !== null && only !== undefined ? only : null;
}

/**
 * The paper-style comparison of an experiment's training runs, from stored scores: FID and sFID of
 * each variant at each T' (the paper's Tables 3 and 7), the iterations each variant needs to reach
 * a target FID (Table 4), and paired tests of each variant against the baseline across seeds.
 *
 * A variant is a set of runs that differ only in their seed (and in settings that do not change
 * the model: backend, logging and checkpoint cadence, scheduled evaluation, output folder). The
 * baseline is the 'adm' variant unless a baseline run is named. All tables use ONE comparability key
 * with T' dropped (T' are the columns); a mix of keys is refused unless one is chosen.
 *
 * Per run, a table cell uses the run's latest evaluated checkpoint at that T' (the trained model).
 * Across seeds a cell is the mean with a t-interval; for one seed it is the score with its
 * bootstrap interval. Pure functions of the rows: the API gathers them, tests build them by hand.
 */
import {
  LabApiError,
  type ComparisonReport,
  type EvaluationInfo,
  type EvaluationKeyInfo,
  type ExperimentInfo,
  type JsonObject,
  type PairedTest,
  type ReportVariant,
  type TableCell,
} from '../../shared/api';
import { OBJECTIVES } from '../../shared/config';
import { keyDropping, mixedKeysMessage } from './curves';
import { comparisonCsv, comparisonMarkdown } from './comparison-format';
import { mean, pairedTTestLess, signFlipTestLess, tInterval } from './statistics';

export interface ReportRun {
  id: string;
  name: string;
  objective: string | null;
  gamma: number | null;
  seed: number;
  config: JsonObject;
  createdAt: number;
}

export interface ComparisonOptions {
  /** A key as listed (with or without its steps field). */
  key?: string;
  baselineRunId?: string;
  targetFid?: number;
}

export interface ComparisonInput {
  experiment: ExperimentInfo;
  /** The experiment's training runs. */
  runs: readonly ReportRun[];
  /** Their scores (fid and sfid are used; others are ignored), under any key. */
  evaluations: readonly EvaluationInfo[];
  /** The keys in use, as evaluationKeys lists them. */
  keys: readonly EvaluationKeyInfo[];
  options?: ComparisonOptions;
}

/** Config fields that do not change the trained model: runs differing only in these share a variant. */
export const NON_MODEL_FIELDS = ['seed', 'backend', 'logEvery', 'checkpointEvery', 'evaluation', 'outDir', 'workers'] as const;

/** Below this many seed pairs the t-test's normality assumption is untestable: use the exact sign-flip test. */
export const MIN_PAIRS_FOR_T_TEST = 6;

const OBJECTIVE_LABELS: Record<string, string> = {
  adm: 'ADM',
  'adm-ip': 'ADM-IP',
  'adm-y': 'ADM-y',
  'adm-wd': 'ADM-WD',
  'adm-gp': 'ADM-GP',
};

interface Variant extends ReportVariant {
  signature: string;
  runs: ReportRun[];
}

/** JSON with sorted keys, so two equal configs give one signature whatever their key order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function modelConfig(config: JsonObject): JsonObject {
  const out: JsonObject = { ...config };
  for (const f of NON_MODEL_FIELDS) delete out[f];
  return out;
}

/** Dotted paths and values of a config, for telling apart variants with the same objective and gamma. */
function flatten(v: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as object)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, canonicalJson(v));
  }
  return out;
}

function gammaLabel(config: JsonObject, gamma: number | null): string {
  const g = config['gamma'] as { kind?: string; gamma?: number; start?: number; end?: number } | undefined;
  if (g && g.kind && g.kind !== 'constant') return ` γ ${g.kind} ${g.start}→${g.end}`;
  const value = g?.gamma ?? gamma;
  return value === null || value === undefined ? '' : ` γ=${value}`;
}

function baseLabel(run: ReportRun): string {
  const objective = run.objective ?? String(run.config['objective'] ?? 'run');
  const name = OBJECTIVE_LABELS[objective] ?? objective;
  const perturbed = objective === 'adm-ip' || objective === 'adm-y';
  return name + (perturbed ? gammaLabel(run.config, run.gamma) : '');
}

/** Runs grouped into variants, with labels that tell every variant apart. */
export function groupVariants(runs: readonly ReportRun[]): Variant[] {
  const bySignature = new Map<string, Variant>();
  const ordered = [...runs].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  for (const run of ordered) {
    const signature = canonicalJson({ objective: run.objective, gamma: run.gamma, config: modelConfig(run.config) });
    let v = bySignature.get(signature);
    if (!v) {
      v = { label: baseLabel(run), objective: run.objective, gamma: run.gamma, runIds: [], isBaseline: false, signature, runs: [] };
      bySignature.set(signature, v);
    }
    v.runIds.push(run.id);
    v.runs.push(run);
  }
  const variants = [...bySignature.values()];
  // Same objective and gamma, other settings differ: name the settings that differ.
  const byLabel = new Map<string, Variant[]>();
  for (const v of variants) byLabel.set(v.label, [...(byLabel.get(v.label) ?? []), v]);
  for (const same of byLabel.values()) {
    if (same.length < 2) continue;
    const flats = same.map((v) => flatten(modelConfig(v.runs[0]!.config), '', new Map()));
    const paths = [...new Set(flats.flatMap((f) => [...f.keys()]))].sort();
    const differing = paths.filter((p) => new Set(flats.map((f) => f.get(p) ?? 'unset')).size > 1);
    same.forEach((v, i) => {
      const parts = differing.slice(0, 3).map((p) => `${p}=${flats[i]!.get(p) ?? 'unset'}`);
      v.label += ` (${parts.length ? parts.join(', ') : `#${i + 1}`}${differing.length > 3 ? ', …' : ''})`;
    });
  }
  return variants;
}

function objectiveRank(o: string | null): number {
  const i = (OBJECTIVES as readonly string[]).indexOf(o ?? '');
  return i < 0 ? OBJECTIVES.length : i;
}

function pickBaseline(variants: Variant[], baselineRunId: string | undefined): Variant | null {
  if (baselineRunId !== undefined) {
    const v = variants.find((x) => x.runIds.includes(baselineRunId));
    if (!v) throw new LabApiError('NOT_FOUND', `options.baselineRunId: run ${baselineRunId} is not a training run of this experiment`);
    return v;
  }
  // Several 'adm' variants: the one with the most seeds (then the oldest) is the baseline.
  const adm = variants.filter((v) => v.objective === 'adm').sort((a, b) => b.runIds.length - a.runIds.length);
  return adm[0] ?? null;
}

/** The table key: the one asked for, or the only one in use (T' dropped); CONFLICT when several. */
function chooseTableKey(rows: readonly EvaluationInfo[], key: string | undefined, runs: readonly ReportRun[]): string | null {
  const runIdsByKey = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = keyDropping(r.comparabilityKey, ['steps']);
    runIdsByKey.set(k, (runIdsByKey.get(k) ?? new Set()).add(r.runId));
  }
  const keys = [...runIdsByKey.keys()].sort();
  if (key !== undefined) {
    const wanted = keyDropping(key, ['steps']);
    if (!runIdsByKey.has(wanted)) {
      throw new LabApiError(
        'NOT_FOUND',
        `options.key: no FID or sFID scores of this experiment under '${key}'` +
          (keys.length ? `; keys in use (steps dropped): ${keys.map((k) => `'${k}'`).join(', ')}` : '; nothing is scored yet'),
      );
    }
    return wanted;
  }
  if (keys.length === 0) return null;
  if (keys.length > 1) {
    const order = new Map(runs.map((r, i) => [r.id, i]));
    throw new LabApiError(
      'CONFLICT',
      mixedKeysMessage(
        "this experiment's FID/sFID scores",
        keys.map((k) => ({ key: k, runIds: [...runIdsByKey.get(k)!].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0)) })),
        'Choose the key the tables use with `key` (xlab compare --key KEY).',
      ),
    );
  }
  return keys[0]!;
}

/** run -> T' -> the score at the run's latest evaluated checkpoint at that T' (newest row on ties). */
function finalScores(rows: readonly EvaluationInfo[]): Map<string, Map<number, EvaluationInfo>> {
  const out = new Map<string, Map<number, EvaluationInfo>>();
  for (const r of rows) {
    if (r.samplingSteps === null) continue;
    let byT = out.get(r.runId);
    if (!byT) out.set(r.runId, (byT = new Map()));
    const cur = byT.get(r.samplingSteps);
    const step = r.checkpointStep ?? -1;
    const curStep = cur ? (cur.checkpointStep ?? -1) : -Infinity;
    if (!cur || step > curStep || (step === curStep && r.id > cur.id)) byT.set(r.samplingSteps, r);
  }
  return out;
}

export function tableCell(scores: readonly EvaluationInfo[]): TableCell | null {
  if (scores.length === 0) return null;
  if (scores.length === 1) {
    const s = scores[0]!;
    return { mean: s.value, ciLow: s.ciLow, ciHigh: s.ciHigh, n: 1 };
  }
  const t = tInterval(scores.map((s) => s.value));
  return { mean: t.mean, ciLow: t.low, ciHigh: t.high, n: scores.length };
}

/** Mean over the variant's runs at each iteration where every one of them has a score. */
export function meanCurve(rows: readonly EvaluationInfo[], runIds: readonly string[], samplingSteps: number): { iteration: number; value: number }[] {
  const byStep = new Map<number, Map<string, EvaluationInfo>>();
  for (const r of rows) {
    if (r.samplingSteps !== samplingSteps || r.checkpointStep === null || !runIds.includes(r.runId)) continue;
    let byRun = byStep.get(r.checkpointStep);
    if (!byRun) byStep.set(r.checkpointStep, (byRun = new Map()));
    const cur = byRun.get(r.runId);
    if (!cur || r.id > cur.id) byRun.set(r.runId, r);
  }
  return [...byStep.entries()]
    .filter(([, byRun]) => byRun.size === runIds.length)
    .map(([iteration, byRun]) => ({ iteration, value: mean([...byRun.values()].map((r) => r.value)) }))
    .sort((a, b) => a.iteration - b.iteration);
}

/** First iteration at which the curve is at or below the target; null if it never gets there. */
export function firstIterationReaching(curve: readonly { iteration: number; value: number }[], target: number): number | null {
  return curve.find((p) => p.value <= target)?.iteration ?? null;
}

export function pairedTest(
  variant: Variant,
  baseline: Variant,
  scores: Map<string, Map<number, EvaluationInfo>>,
  metric: string,
  samplingSteps: number,
): PairedTest | null {
  // Paired by training seed; a seed trained twice in one variant counts once, averaged.
  const bySeed = (v: Variant) => {
    const values = new Map<number, number[]>();
    for (const run of v.runs) {
      const s = scores.get(run.id)?.get(samplingSteps);
      if (s) values.set(run.seed, [...(values.get(run.seed) ?? []), s.value]);
    }
    return new Map([...values].map(([seed, vs]) => [seed, mean(vs)]));
  };
  const a = bySeed(variant);
  const b = bySeed(baseline);
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  if (seeds.length === 0) return null;
  const d = seeds.map((s) => a.get(s)! - b.get(s)!);
  const base = { variant: variant.label, baseline: baseline.label, metric, samplingSteps, pairs: d.length, meanDifference: mean(d) };
  if (d.length < 2) return { ...base, pValue: null, method: 'none: fewer than 2 seed pairs' };
  if (d.length < MIN_PAIRS_FOR_T_TEST) {
    const r = signFlipTestLess(d);
    return { ...base, pValue: r.p, method: `exact sign-flip permutation test, one-sided (${r.assignments} sign assignments)` };
  }
  const t = pairedTTestLess(d);
  return { ...base, pValue: t.p, method: `paired t-test, one-sided (t = ${Number.isFinite(t.t) ? t.t.toFixed(3) : String(t.t)}, df = ${t.df})` };
}

export function buildComparisonReport(input: ComparisonInput): ComparisonReport {
  const options = input.options ?? {};
  const variants = groupVariants(input.runs);
  const baseline = pickBaseline(variants, options.baselineRunId);
  if (baseline) baseline.isBaseline = true;
  variants.sort(
    (a, b) =>
      Number(b.isBaseline) - Number(a.isBaseline) ||
      objectiveRank(a.objective) - objectiveRank(b.objective) ||
      (a.gamma ?? -1) - (b.gamma ?? -1) ||
      a.label.localeCompare(b.label),
  );
  const runIds = new Set(input.runs.map((r) => r.id));
  const scored = input.evaluations.filter((e) => runIds.has(e.runId) && (e.metric === 'fid' || e.metric === 'sfid'));
  const key = chooseTableKey(scored, options.key, input.runs);
  const inKey = key === null ? [] : scored.filter((e) => keyDropping(e.comparabilityKey, ['steps']) === key);

  const bySteps: ComparisonReport['bySteps'] = [];
  const pairedTests: PairedTest[] = [];
  for (const metric of ['fid', 'sfid'] as const) {
    const rows = inKey.filter((e) => e.metric === metric);
    if (rows.length === 0) continue;
    const final = finalScores(rows);
    const steps = [...new Set(rows.map((r) => r.samplingSteps).filter((s): s is number => s !== null))].sort((a, b) => a - b);
    if (steps.length === 0) continue;
    bySteps.push({
      metric,
      steps,
      rows: variants.map((v) => ({
        variant: v.label,
        cells: steps.map((T) => tableCell(v.runIds.map((id) => final.get(id)?.get(T)).filter((s): s is EvaluationInfo => !!s))),
      })),
    });
    if (baseline) {
      for (const v of variants) {
        if (v === baseline) continue;
        for (const T of steps) {
          const test = pairedTest(v, baseline, final, metric, T);
          if (test) pairedTests.push(test);
        }
      }
    }
  }

  let iterationsToTarget: ComparisonReport['iterationsToTarget'] = null;
  const fidTable = bySteps.find((t) => t.metric === 'fid');
  if (fidTable) {
    const T = fidTable.steps[fidTable.steps.length - 1]!;
    const fidRows = inKey.filter((e) => e.metric === 'fid');
    const curves = new Map(variants.map((v) => [v, meanCurve(fidRows, v.runIds, T)]));
    let target = options.targetFid ?? null;
    if (target === null && baseline) {
      const c = curves.get(baseline)!;
      if (c.length) target = Math.min(...c.map((p) => p.value));
    }
    if (target !== null) {
      iterationsToTarget = {
        target,
        samplingSteps: T,
        rows: variants.map((v) => ({ variant: v.label, iteration: firstIterationReaching(curves.get(v)!, target) })),
      };
    }
  }

  const reportVariants: ReportVariant[] = variants.map(({ label, objective, gamma, runIds: ids, isBaseline }) => ({
    label,
    objective,
    gamma,
    runIds: ids,
    isBaseline,
  }));
  const report: Omit<ComparisonReport, 'markdown' | 'csv'> = {
    experiment: input.experiment,
    key,
    keys: [...input.keys],
    variants: reportVariants,
    bySteps,
    iterationsToTarget,
    pairedTests,
  };
  return { ...report, markdown: comparisonMarkdown(report), csv: comparisonCsv(report) };
}

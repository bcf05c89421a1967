/**
 * Score curves from stored evaluations: a metric against training iterations (one point per
 * evaluated checkpoint, at fixed T') or against T' (one point per chain length, at one checkpoint).
 * Series are grouped by comparability key, with the field that varies along x dropped from it
 * (steps for a T' chart); series under different keys are never merged into one group, and asking
 * for a chart across keys without choosing is refused with a message that says how they differ.
 */
import {
  LabApiError,
  type CurveGroup,
  type CurvePoint,
  type EvaluationCurves,
  type EvaluationInfo,
  type EvaluationKeyInfo,
} from '../../shared/api';
import {
  COMPARABILITY_FIELD_LABELS,
  keyDifferences,
  keyWithout,
  parseComparabilityKey,
  type ComparabilityField,
  type ComparabilityKeyParts,
} from '../../shared/comparability';

/** The fields of a key, or none for a key written before keys were canonical (kept as an opaque label). */
export function keyParts(key: string): Partial<ComparabilityKeyParts> {
  try {
    return parseComparabilityKey(key);
  } catch {
    return {};
  }
}

/** keyWithout, leaving a non-canonical (legacy) key as it is. */
export function keyDropping(key: string, omit: readonly ComparabilityField[]): string {
  try {
    return keyWithout(key, omit);
  } catch {
    return key;
  }
}

function differingFields(a: string, b: string): ComparabilityField[] {
  try {
    return keyDifferences(a, b);
  } catch {
    return [];
  }
}

export function toKeyInfo(row: { key: string; metric: string; count: number; runIds: string[] }): EvaluationKeyInfo {
  return { key: row.key, parts: keyParts(row.key), metric: row.metric, count: row.count, runIds: row.runIds };
}

/**
 * The message of a refusal to mix keys: every key (with the runs under it), the fields in which
 * each differs from the first, and how to proceed.
 */
export function mixedKeysMessage(what: string, groups: { key: string; runIds: readonly string[] }[], fix: string): string {
  const first = groups[0]!.key;
  const fields = new Set<ComparabilityField>();
  const lines = groups.map((g, i) => {
    const diff = i === 0 ? [] : differingFields(first, g.key);
    diff.forEach((f) => fields.add(f));
    const differs = i === 0 ? '' : diff.length ? ` (differs in ${diff.map((f) => COMPARABILITY_FIELD_LABELS[f]).join(', ')})` : ' (not a canonical key)';
    return `  [${i + 1}] ${g.key || '(empty key)'} — runs ${g.runIds.join(', ')}${differs}`;
  });
  const fieldText = fields.size ? ` They differ in ${[...fields].map((f) => `${COMPARABILITY_FIELD_LABELS[f]} (${f})`).join(', ')}.` : '';
  return `${what} span ${groups.length} comparability keys, and scores under different keys are different metrics:${fieldText}\n${lines.join('\n')}\n${fix}`;
}

export interface CurveQuery {
  metric: string;
  x: 'iteration' | 'samplingSteps';
  key?: string;
  allowMixedKeys?: boolean;
  checkpointStep?: number;
}

/** The newest score wins where a run has several at one x (an evaluation repeated). */
function upsertPoint(points: Map<number, CurvePoint>, p: CurvePoint): void {
  const cur = points.get(p.x);
  if (!cur || cur.evaluationId < p.evaluationId) points.set(p.x, p);
}

/**
 * Builds the curves of `query.metric` from the given runs' scores (of that metric, any key).
 * `runOrder` fixes the order of the series (the order the caller asked for the runs in).
 */
export function buildCurves(rows: readonly EvaluationInfo[], query: CurveQuery, runOrder: readonly string[]): EvaluationCurves {
  const dropped: ComparabilityField[] = query.x === 'samplingSteps' ? ['steps'] : [];
  // group key -> run -> rows
  const grouped = new Map<string, Map<string, EvaluationInfo[]>>();
  for (const r of rows) {
    if (r.metric !== query.metric) continue;
    if (query.x === 'iteration' ? r.checkpointStep === null : r.samplingSteps === null) continue;
    if (query.x === 'samplingSteps' && query.checkpointStep !== undefined && r.checkpointStep !== query.checkpointStep) continue;
    const key = keyDropping(r.comparabilityKey, dropped);
    let byRun = grouped.get(key);
    if (!byRun) grouped.set(key, (byRun = new Map()));
    let list = byRun.get(r.runId);
    if (!list) byRun.set(r.runId, (list = []));
    list.push(r);
  }

  let keys = [...grouped.keys()].sort();
  if (query.key !== undefined) {
    const wanted = keyDropping(query.key, dropped);
    if (!grouped.has(wanted)) {
      throw new LabApiError(
        'NOT_FOUND',
        `no ${query.metric} scores of these runs under key '${query.key}'` +
          (keys.length ? `; keys in use (x = ${query.x}): ${keys.map((k) => `'${k}'`).join(', ')}` : '; they have no such scores yet'),
      );
    }
    keys = [wanted];
  } else if (keys.length > 1 && !query.allowMixedKeys) {
    throw new LabApiError(
      'CONFLICT',
      mixedKeysMessage(
        `the ${query.metric} scores of these runs`,
        keys.map((k) => ({ key: k, runIds: orderRuns([...grouped.get(k)!.keys()], runOrder) })),
        'Choose one with `key` (xlab: --key), or pass allowMixedKeys to get each key as its own group.',
      ),
    );
  }

  const groups: CurveGroup[] = keys.map((key) => {
    const byRun = grouped.get(key)!;
    const series = orderRuns([...byRun.keys()], runOrder).map((runId) => {
      const runRows = byRun.get(runId)!;
      const points = new Map<number, CurvePoint>();
      if (query.x === 'iteration') {
        for (const r of runRows) upsertPoint(points, pointOf(r, r.checkpointStep!));
      } else {
        // One checkpoint per run: the one asked for, else the run's latest evaluated under this key.
        const step = query.checkpointStep ?? Math.max(...runRows.map((r) => r.checkpointStep ?? -1));
        for (const r of runRows) {
          if ((r.checkpointStep ?? -1) === step) upsertPoint(points, pointOf(r, r.samplingSteps!));
        }
      }
      return { runId, points: [...points.values()].sort((a, b) => a.x - b.x) };
    });
    return { key, parts: keyParts(key), series: series.filter((s) => s.points.length > 0) };
  });
  return { metric: query.metric, x: query.x, groups: groups.filter((g) => g.series.length > 0) };
}

function pointOf(r: EvaluationInfo, x: number): CurvePoint {
  return { x, value: r.value, ciLow: r.ciLow, ciHigh: r.ciHigh, evaluationId: r.id };
}

function orderRuns(runIds: string[], order: readonly string[]): string[] {
  const rank = new Map(order.map((id, i) => [id, i]));
  return runIds.sort((a, b) => (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || a.localeCompare(b));
}

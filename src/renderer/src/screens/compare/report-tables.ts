/**
 * The paper-style tables of a ComparisonReport as DataTables: a display form (what the screen and
 * the Markdown show: "3.37 [3.12, 3.61]") and a numeric form (what the CSV holds: one column per
 * number, so a script can read it without parsing brackets).
 */
import type { ComparisonReport, TableCell } from '../../../../shared/api';
import { formatNumber, type DataTable } from '../../export/table-text';
import { METRIC_NAMES } from '../../charts/key-text';

export function cellText(c: TableCell | null): string {
  if (!c) return '—';
  const ci = c.ciLow !== null && c.ciHigh !== null ? ` [${formatNumber(c.ciLow)}, ${formatNumber(c.ciHigh)}]` : '';
  const n = c.n > 1 ? ` (n=${c.n})` : '';
  return `${formatNumber(c.mean)}${ci}${n}`;
}

export interface StepsTable {
  metric: 'fid' | 'sfid';
  title: string;
  display: DataTable;
  numeric: DataTable;
  /** Per column (T'), the row index of the lowest mean: bold on screen. */
  best: (number | null)[];
}

export function stepsTables(report: ComparisonReport): StepsTable[] {
  const baseline = new Set(report.variants.filter((v) => v.isBaseline).map((v) => v.label));
  return report.bySteps.map((t) => {
    const name = METRIC_NAMES[t.metric] ?? t.metric;
    const label = (v: string) => (baseline.has(v) ? `${v} (baseline)` : v);
    const display: DataTable = {
      columns: ['variant', ...t.steps.map((s) => `T'=${s}`)],
      rows: t.rows.map((r) => [label(r.variant), ...r.cells.map(cellText)]),
    };
    const numeric: DataTable = {
      columns: ['variant', ...t.steps.flatMap((s) => [`${t.metric} T'=${s}`, `ci low T'=${s}`, `ci high T'=${s}`, `n T'=${s}`])],
      rows: t.rows.map((r) => [r.variant, ...r.cells.flatMap((c) => (c ? [c.mean, c.ciLow, c.ciHigh, c.n] : [null, null, null, null]))]),
    };
    const best = t.steps.map((_, j) => {
      let bestRow: number | null = null;
      t.rows.forEach((r, i) => {
        const c = r.cells[j];
        if (c && (bestRow === null || c.mean < t.rows[bestRow]!.cells[j]!.mean)) bestRow = i;
      });
      return bestRow;
    });
    return { metric: t.metric, title: `${name} by sampling steps T' (lower is better)`, display, numeric, best };
  });
}

export function iterationsTable(report: ComparisonReport): { title: string; table: DataTable } | null {
  const t = report.iterationsToTarget;
  if (!t) return null;
  return {
    title: `Training iterations to reach FID ≤ ${formatNumber(t.target)} at T'=${t.samplingSteps}`,
    table: { columns: ['variant', 'iterations'], rows: t.rows.map((r) => [r.variant, r.iteration ?? 'not reached']) },
  };
}

export function pairedTestsTable(report: ComparisonReport): DataTable {
  return {
    columns: ['variant', 'baseline', 'metric', "T'", 'pairs', 'mean difference', 'p (one-sided)', 'method'],
    rows: report.pairedTests.map((p) => [
      p.variant,
      p.baseline,
      METRIC_NAMES[p.metric] ?? p.metric,
      p.samplingSteps,
      p.pairs,
      p.meanDifference,
      p.pValue,
      p.method,
    ]),
  };
}

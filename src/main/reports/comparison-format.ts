/**
 * The comparison report as a person reads it (Markdown, the paper's table layout) and as a
 * spreadsheet or pandas reads it (CSV, one long table: a row per cell, per Table-4 entry and per
 * paired test, with a `section` column).
 */
import type { ComparisonReport, TableCell } from '../../shared/api';

type ReportTables = Omit<ComparisonReport, 'markdown' | 'csv'>;

const METRIC_TITLES: Record<string, string> = {
  fid: "FID by sampling steps T' (the paper's Table 3)",
  sfid: "sFID by sampling steps T' (the paper's Table 7)",
};

function fmt(v: number | null, digits = 2): string {
  return v === null ? '' : v.toFixed(digits);
}

function pFmt(p: number | null): string {
  if (p === null) return '—';
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

function cellText(c: TableCell | null, best: boolean): string {
  if (!c) return '—';
  const value = best ? `**${fmt(c.mean)}**` : fmt(c.mean);
  const ci = c.ciLow !== null && c.ciHigh !== null ? ` [${fmt(c.ciLow)}, ${fmt(c.ciHigh)}]` : '';
  return `${value}${ci} (${c.n === 1 ? '1 seed' : `${c.n} seeds`})`;
}

function mdRow(cells: string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
}

function mdTable(headers: string[], rows: string[][]): string[] {
  return [mdRow(headers), `|${headers.map(() => '---').join('|')}|`, ...rows.map(mdRow)];
}

export function comparisonMarkdown(r: ReportTables): string {
  const out: string[] = [`# Comparison: ${r.experiment.name}`, ''];
  const baseline = r.variants.find((v) => v.isBaseline);
  out.push(`- Comparability key (T' varies along the columns): ${r.key === null ? 'none — nothing is scored yet' : `\`${r.key}\``}`);
  out.push(`- Baseline: ${baseline ? `${baseline.label} (runs ${baseline.runIds.join(', ')})` : "none (no 'adm' variant; pass a baseline run)"}`);
  for (const v of r.variants.filter((x) => !x.isBaseline)) out.push(`- ${v.label}: runs ${v.runIds.join(', ')}`);
  out.push(
    "- Cells: mean over seeds at each run's latest evaluated checkpoint, with a 95% interval " +
      '(t-interval across seeds; bootstrap interval of the one score for a single seed). Lower is better; the best mean is in bold.',
  );

  for (const table of r.bySteps) {
    out.push('', `## ${METRIC_TITLES[table.metric] ?? table.metric}`, '');
    const bestPerColumn = table.steps.map((_, j) => {
      const means = table.rows.map((row) => row.cells[j]?.mean).filter((m): m is number => m !== undefined);
      return means.length ? Math.min(...means) : null;
    });
    out.push(
      ...mdTable(
        ['Variant', ...table.steps.map((T) => `T'=${T}`)],
        table.rows.map((row) => [row.variant, ...row.cells.map((c, j) => cellText(c, c !== null && c.mean === bestPerColumn[j]))]),
      ),
    );
  }

  if (r.iterationsToTarget) {
    const t = r.iterationsToTarget;
    out.push('', `## Training iterations to reach FID ≤ ${fmt(t.target, 3)} at T'=${t.samplingSteps} (the paper's Table 4)`, '');
    const base = baseline ? t.rows.find((x) => x.variant === baseline.label)?.iteration ?? null : null;
    out.push(
      ...mdTable(
        ['Variant', 'Iterations', 'Speed-up vs baseline'],
        t.rows.map((row) => [
          row.variant,
          row.iteration === null ? 'not reached' : String(row.iteration),
          row.iteration !== null && base !== null && row.iteration > 0 ? `${(base / row.iteration).toFixed(2)}x` : '—',
        ]),
      ),
    );
    out.push('', 'Iterations are those of the evaluated checkpoints (mean FID over seeds, at checkpoints every seed has).');
  }

  if (r.pairedTests.length) {
    out.push('', '## Paired tests against the baseline (paired by training seed)', '');
    out.push(
      ...mdTable(
        ['Variant', 'Metric', "T'", 'Pairs', 'Mean difference', 'p (variant < baseline)', 'Method'],
        r.pairedTests.map((p) => [p.variant, p.metric, String(p.samplingSteps), String(p.pairs), fmt(p.meanDifference, 3), pFmt(p.pValue), p.method]),
      ),
    );
  }

  if (r.keys.length > 1) {
    out.push('', '## Comparability keys in use', '');
    out.push(...mdTable(['Metric', 'Key', 'Scores', 'Runs'], r.keys.map((k) => [k.metric, `\`${k.key}\``, String(k.count), String(k.runIds.length)])));
  }
  return out.join('\n') + '\n';
}

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const COMPARISON_CSV_HEADER = [
  'section',
  'variant',
  'metric',
  'sampling_steps',
  'value',
  'ci_low',
  'ci_high',
  'n',
  'baseline',
  'target',
  'p_value',
  'method',
  'key',
] as const;

export function comparisonCsv(r: ReportTables): string {
  const lines: (string | number | null)[][] = [];
  for (const table of r.bySteps) {
    for (const row of table.rows) {
      row.cells.forEach((c, j) => {
        if (c) lines.push(['by-steps', row.variant, table.metric, table.steps[j]!, c.mean, c.ciLow, c.ciHigh, c.n, null, null, null, null, r.key]);
      });
    }
  }
  if (r.iterationsToTarget) {
    const t = r.iterationsToTarget;
    for (const row of t.rows) {
      lines.push(['iterations-to-target', row.variant, 'fid', t.samplingSteps, row.iteration, null, null, null, null, t.target, null, null, r.key]);
    }
  }
  for (const p of r.pairedTests) {
    lines.push(['paired-test', p.variant, p.metric, p.samplingSteps, p.meanDifference, null, null, p.pairs, p.baseline, null, p.pValue, p.method, r.key]);
  }
  return [COMPARISON_CSV_HEADER.join(','), ...lines.map((l) => l.map(csvField).join(','))].join('\n') + '\n';
}

/**
 * Tables as text to save: CSV for spreadsheets and scripts, GitHub-flavoured Markdown for notes and
 * papers. Pure functions (no DOM), so they are unit-tested in node.
 */

export type CellValue = string | number | boolean | null | undefined;

export interface DataTable {
  columns: string[];
  rows: CellValue[][];
}

/** A number as CSV wants it: full precision, nothing for missing or non-finite values. */
function csvNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : '';
}

// A spreadsheet runs a text cell that starts with one of these as a formula ("CSV injection"); run
// names and notes are user text, so such cells get a leading apostrophe. Numbers are never touched.
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMERIC_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function csvField(v: CellValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return csvNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  let s = v;
  if (FORMULA_START.test(s) && !NUMERIC_TEXT.test(s.trim())) s = `'${s}`;
  // RFC 4180: quote fields holding a separator, a quote or a line break; double inner quotes.
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 quoting with '\n' line ends (which every spreadsheet reads); a header row first. */
export function toCsv(table: DataTable): string {
  checkShape(table);
  return [table.columns, ...table.rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

function checkShape(table: DataTable): void {
  table.rows.forEach((row, i) => {
    if (row.length !== table.columns.length) {
      throw new Error(`table row ${i + 1} has ${row.length} cells but there are ${table.columns.length} columns`);
    }
  });
}

/** Numbers for reading: `digits` significant digits, no trailing zeros lost to exponent noise. */
export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-4) return v.toExponential(Math.max(0, digits - 1));
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

function markdownCell(v: CellValue): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? formatNumber(v) : String(v);
  // A pipe ends the cell and a line break ends the row: escape the one, flatten the other.
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A GitHub-flavoured Markdown table; columns whose cells are all numbers are right-aligned. */
export function toMarkdown(table: DataTable): string {
  checkShape(table);
  const numeric = table.columns.map(
    (_, j) => table.rows.length > 0 && table.rows.every((r) => r[j] === null || r[j] === undefined || typeof r[j] === 'number'),
  );
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return (
    [
      line(table.columns.map(markdownCell)),
      line(numeric.map((n) => (n ? '---:' : '---'))),
      ...table.rows.map((r) => line(r.map(markdownCell))),
    ].join('\n') + '\n'
  );
}

/**
 * Series -> the rows recharts draws, plus the axis ticks of log scales. recharts wants one row per
 * x with a column per series; series measured at different x (runs evaluated at different
 * checkpoints) leave gaps that the lines bridge (connectNulls). Pure, so it is tested in node.
 */
import type { DataTable } from '../export/table-text';

export interface ChartPoint {
  x: number;
  y: number | null;
  /** Confidence interval, when the score has one. */
  low?: number | null;
  high?: number | null;
}

export interface ChartSeries {
  id: string;
  label: string;
  color: string;
  points: ChartPoint[];
  dashed?: boolean;
  /** Draw as steps (histograms). */
  step?: boolean;
}

export type ChartRow = { x: number } & Record<string, number | null | [number, number]>;

export interface ChartRows {
  rows: ChartRow[];
  /** Per series: whether it has any interval (an ErrorBar is drawn only then). */
  hasErrors: boolean[];
  /** Points left out because a log axis cannot show them (x or y <= 0, or not finite). */
  dropped: number;
}

export const valueKey = (i: number) => `s${i}`;
export const errorKey = (i: number) => `e${i}`;

/**
 * One row per distinct x, ascending. Error bars are offsets from the value ([below, above], as
 * recharts' ErrorBar expects); on a log y axis a lower bound <= 0 cannot be drawn, so that bar
 * shows only its upper half.
 */
export function mergeSeries(series: ChartSeries[], opts: { logX?: boolean; logY?: boolean } = {}): ChartRows {
  const byX = new Map<number, ChartRow>();
  const hasErrors = series.map(() => false);
  let dropped = 0;
  series.forEach((s, i) => {
    for (const p of s.points) {
      const badX = !Number.isFinite(p.x) || (opts.logX && p.x <= 0);
      const badY = p.y !== null && (!Number.isFinite(p.y) || (opts.logY && p.y <= 0));
      if (badX || badY) {
        dropped++;
        continue;
      }
      let row = byX.get(p.x);
      if (!row) {
        row = { x: p.x } as ChartRow;
        byX.set(p.x, row);
      }
      row[valueKey(i)] = p.y;
      if (p.y !== null && (isNum(p.low) || isNum(p.high))) {
        let below = isNum(p.low) ? Math.max(0, p.y - p.low) : 0;
        const above = isNum(p.high) ? Math.max(0, p.high - p.y) : 0;
        if (opts.logY && isNum(p.low) && p.low <= 0) below = 0;
        row[errorKey(i)] = [below, above];
        hasErrors[i] = true;
      }
    }
  });
  const rows = [...byX.values()].sort((a, b) => a.x - b.x);
  // Every row names every series (null where it has no point), so the tooltip lists them all.
  for (const row of rows) series.forEach((_, i) => (row[valueKey(i)] ??= null));
  return { rows, hasErrors, dropped };
}

function isNum(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Ticks of a log axis covering [min, max]: the powers of ten, and 2x and 5x between them when the
 * range spans fewer than three decades (else a short axis shows one or two labels only).
 */
export function logTicks(min: number, max: number): { domain: [number, number]; ticks: number[] } {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new Error(`log axis: the range must be positive and finite, got [${min}, ${max}]`);
  }
  const lo = Math.floor(Math.log10(Math.min(min, max)) + 1e-12);
  const hi = Math.ceil(Math.log10(Math.max(min, max)) - 1e-12);
  const top = Math.max(hi, lo + 1);
  const fine = top - lo < 3;
  const ticks: number[] = [];
  for (let e = lo; e <= top; e++) {
    const p = 10 ** e;
    ticks.push(roundTick(p));
    if (fine && e < top) ticks.push(roundTick(2 * p), roundTick(5 * p));
  }
  // Tighten the domain to the first and last tick that still enclose the data.
  const first = [...ticks].reverse().find((t) => t <= min) ?? ticks[0]!;
  let last = ticks.find((t) => t >= max) ?? ticks[ticks.length - 1]!;
  // A single value (or a range on one tick) still needs an axis with some length.
  if (last <= first) last = ticks.find((t) => t > first) ?? first * 10;
  return { domain: [first, last], ticks: ticks.filter((t) => t >= first && t <= last) };
}

/** 10 ** -3 is 0.0010000000000000002 in floating point; ticks must print cleanly. */
function roundTick(v: number): number {
  return Number(v.toPrecision(12));
}

/** The y range the chart shows, including interval ends (so bars are not cut off). */
export function valueRange(series: ChartSeries[], opts: { logY?: boolean } = {}): [number, number] | null {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    for (const p of s.points) {
      for (const v of [p.y, p.low, p.high]) {
        if (!isNum(v) || (opts.logY && v <= 0)) continue;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
  }
  return min <= max ? [min, max] : null;
}

export function xRange(series: ChartSeries[], opts: { logX?: boolean } = {}): [number, number] | null {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || (opts.logX && p.x <= 0)) continue;
      min = Math.min(min, p.x);
      max = Math.max(max, p.x);
    }
  }
  return min <= max ? [min, max] : null;
}

/** The chart's numbers in long form (one row per point), for CSV. */
export function seriesTable(series: ChartSeries[], xName: string, yName: string): DataTable {
  const hasCi = series.some((s) => s.points.some((p) => isNum(p.low) || isNum(p.high)));
  const columns = ['series', xName, yName, ...(hasCi ? ['ci low', 'ci high'] : [])];
  const rows = series.flatMap((s) =>
    s.points.map((p) => [s.label, p.x, p.y, ...(hasCi ? [p.low ?? null, p.high ?? null] : [])]),
  );
  return { columns, rows };
}

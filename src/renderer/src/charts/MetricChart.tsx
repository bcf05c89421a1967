/**
 * A line chart of one quantity against another for several runs: scores vs training iterations or
 * vs T', delta_t vs t, spectra, histograms (as steps). Axes carry their names and units, log scales
 * get decade ticks, intervals are drawn as error bars, the key the numbers belong to is printed
 * under the chart, and the chart saves as SVG, PNG and CSV.
 */
import { useMemo, useRef, type ReactNode } from 'react';
import { CartesianGrid, ErrorBar, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ChartExportButtons } from '../export/ExportButtons';
import { formatNumber } from '../export/table-text';
import { errorKey, logTicks, mergeSeries, seriesTable, valueKey, valueRange, xRange, type ChartRow, type ChartSeries } from './chart-data';
import './charts.css';

export interface MetricChartProps {
  title: string;
  series: ChartSeries[];
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  /** Lines saved under the chart and shown by the caller (the key in words). */
  caption: string[];
  /** File name parts for exports. */
  exportName: (string | number)[];
  height?: number;
  xFormat?: (x: number) => string;
  /** Controls shown above the chart (metric picker, log toggle). */
  controls?: ReactNode;
  /** Shown under the chart: the key caption and notes. */
  footer?: ReactNode;
  emptyText?: string;
  testId?: string;
}

/** Tick labels: thousands separated, small numbers as JavaScript prints them ("0.001", "1e-7"). */
const axisNumber = (v: number) => (Math.abs(v) >= 10_000 ? v.toLocaleString('en-US') : String(Number(v.toPrecision(3))));

/** Room for the widest tick label, so the axis title never runs over the numbers. */
function yAxisWidth(labels: string[]): number {
  return Math.max(56, 30 + 7 * Math.max(0, ...labels.map((l) => l.length)));
}

function TooltipBody({ active, payload, label, series, xLabel, xFormat }: {
  active?: boolean;
  payload?: readonly { dataKey?: unknown; payload?: ChartRow; value?: unknown }[];
  label?: unknown;
  series: ChartSeries[];
  xLabel: string;
  xFormat: (x: number) => string;
}) {
  if (!active || !payload?.length) return null;
  const row = payload[0]?.payload;
  if (!row) return null;
  return (
    <div className="chart-tooltip">
      <div className="chart-tooltip-x">
        {xLabel}: {xFormat(Number(label ?? row.x))}
      </div>
      {series.map((s, i) => {
        const v = row[valueKey(i)];
        if (typeof v !== 'number') return null;
        const e = row[errorKey(i)];
        return (
          <div key={s.id}>
            <span className="swatch" style={{ background: s.color }} /> {s.label}: <b>{formatNumber(v)}</b>
            {Array.isArray(e) && (
              <span className="muted">
                {' '}
                [{formatNumber(v - e[0])}, {formatNumber(v + e[1])}]
              </span>
            )}
          </div>
        );
      })}
    </div>
  );
}

export function MetricChart(props: MetricChartProps) {
  const { title, series, xLabel, yLabel, logX = false, logY = false, caption, exportName, height = 300, controls, footer, testId } = props;
  const xFormat = props.xFormat ?? axisNumber;
  const box = useRef<HTMLDivElement>(null);
  const merged = useMemo(() => mergeSeries(series, { logX, logY }), [series, logX, logY]);
  const yAxis = useMemo(() => {
    const r = valueRange(series, { logY });
    return logY && r ? logTicks(r[0], r[1]) : null;
  }, [series, logY]);
  const xAxis = useMemo(() => {
    const r = xRange(series, { logX });
    return logX && r ? logTicks(r[0], r[1]) : null;
  }, [series, logX]);
  const table = useMemo(() => seriesTable(series, xLabel, yLabel), [series, xLabel, yLabel]);
  const yWidth = useMemo(() => {
    const r = valueRange(series, { logY });
    if (yAxis) return yAxisWidth(yAxis.ticks.map(axisNumber));
    return r ? yAxisWidth([axisNumber(r[0]), axisNumber(r[1]), axisNumber((r[0] + r[1]) / 2)]) : 56;
  }, [series, logY, yAxis]);
  const empty = merged.rows.length === 0;

  return (
    <figure className="chart" data-testid={testId} data-points={series.map((s) => s.points.length).join(',')}>
      <figcaption className="chart-head">
        <h3>{title}</h3>
        {!empty && (
          <ChartExportButtons
            target={box}
            name={exportName}
            title={title}
            legend={series.map((s) => ({ label: s.label, color: s.color, dashed: s.dashed }))}
            caption={caption}
            data={table}
          />
        )}
      </figcaption>
      {controls && <div className="chart-controls">{controls}</div>}
      {empty ? (
        <p className="chart-empty muted">{props.emptyText ?? 'No points to plot yet.'}</p>
      ) : (
        <div className="chart-box" ref={box} style={{ height }} role="img" aria-label={`${title}: ${yLabel} against ${xLabel}`}>
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={merged.rows} margin={{ top: 8, right: 30, bottom: 28, left: 16 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis
                dataKey="x"
                type="number"
                scale={logX ? 'log' : 'linear'}
                domain={xAxis ? xAxis.domain : ['auto', 'auto']}
                ticks={xAxis?.ticks}
                allowDataOverflow={Boolean(xAxis)}
                tickFormatter={(v: number) => xFormat(v)}
                label={{ value: xLabel, position: 'insideBottom', offset: -16 }}
              />
              <YAxis
                type="number"
                scale={logY ? 'log' : 'linear'}
                domain={yAxis ? yAxis.domain : ['auto', 'auto']}
                ticks={yAxis?.ticks}
                allowDataOverflow={Boolean(yAxis)}
                tickFormatter={(v: number) => axisNumber(v)}
                width={yWidth}
                label={{ value: yLabel, angle: -90, position: 'insideLeft', offset: 4, style: { textAnchor: 'middle' } }}
              />
              <Tooltip content={(p) => <TooltipBody {...p} series={series} xLabel={xLabel} xFormat={xFormat} />} />
              <Legend verticalAlign="top" height={28} />
              {series.map((s, i) => (
                <Line
                  key={s.id}
                  name={s.label}
                  dataKey={valueKey(i)}
                  stroke={s.color}
                  strokeWidth={2}
                  strokeDasharray={s.dashed ? '6 4' : undefined}
                  type={s.step ? 'stepAfter' : 'linear'}
                  dot={s.step ? false : { r: 3, fill: s.color }}
                  connectNulls
                  isAnimationActive={false}
                >
                  {merged.hasErrors[i] && <ErrorBar dataKey={errorKey(i)} width={5} stroke={s.color} strokeWidth={1.5} />}
                </Line>
              ))}
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
      {merged.dropped > 0 && (
        <p className="muted chart-note">
          {merged.dropped} point{merged.dropped === 1 ? '' : 's'} at or below zero cannot be shown on the log scale.
        </p>
      )}
      {footer}
      {!empty && (
        <details className="chart-data">
          <summary>Data</summary>
          <table className="plain">
            <thead>
              <tr>
                {table.columns.map((c) => (
                  <th key={c}>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.map((r, i) => (
                <tr key={i}>
                  {r.map((c, j) => (
                    <td key={j}>{typeof c === 'number' ? formatNumber(c) : c}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}

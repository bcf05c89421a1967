/**
 * A training metric over iterations: the raw series and, optionally, an exponentially smoothed
 * copy on top (the raw one faded), with a log-scale option for the loss. Both axes are labelled
 * with what they measure and in which unit.
 */
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { MetricSeriesData } from '../../../../shared/api';
import { formatNumber } from '../../components/format';
import { smoothSeries } from './smoothing';

export interface MetricChartProps {
  series: MetricSeriesData | null;
  yLabel: string;
  /** 0 = raw only. */
  smoothing?: number;
  log?: boolean;
  color?: string;
  height?: number;
  /** The quantity is never negative (a rate, a speed): the axis starts at 0. */
  nonNegative?: boolean;
  testId?: string;
}

export function MetricChart({ series, yLabel, smoothing = 0, log = false, color = 'var(--series-1)', height = 240, nonNegative = false, testId }: MetricChartProps) {
  if (!series || series.step.length === 0) {
    return (
      <div className="chart-box muted" style={{ height, display: 'flex', alignItems: 'center', justifyContent: 'center' }} data-testid={testId}>
        no data yet
      </div>
    );
  }
  const smooth = smoothing > 0 ? smoothSeries(series.value, smoothing) : null;
  const rows = series.step.map((step, i) => {
    const v = series.value[i] ?? null;
    // A log axis cannot show zero or negatives; those points are left out rather than drawn at the edge.
    const ok = (x: number | null) => (x === null || (log && x <= 0) ? null : x);
    return { step, raw: ok(v), smooth: smooth ? ok(smooth[i] ?? null) : null };
  });
  return (
    <div className="chart-box" style={{ height }} data-testid={testId} data-points={series.step.length}>
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={rows} margin={{ top: 6, right: 14, bottom: 20, left: 14 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis
            dataKey="step"
            type="number"
            domain={['dataMin', 'dataMax']}
            tickFormatter={(v: number) => v.toLocaleString()}
            label={{ value: 'training iteration (steps)', position: 'insideBottom', offset: -12 }}
          />
          <YAxis
            scale={log ? 'log' : 'linear'}
            domain={nonNegative && !log ? [0, 'auto'] : ['auto', 'auto']}
            allowDataOverflow={false}
            tickFormatter={(v: number) => formatNumber(v, 3)}
            width={64}
            label={{ value: yLabel + (log ? ' (log scale)' : ''), angle: -90, position: 'insideLeft', style: { textAnchor: 'middle' }, offset: 0 }}
          />
          <Tooltip
            formatter={(v) => formatNumber(typeof v === 'number' ? v : Number(v), 5)}
            labelFormatter={(l) => `iteration ${Number(l).toLocaleString()}`}
            contentStyle={{ background: 'var(--bg-raised)', borderColor: 'var(--border)' }}
          />
          {smooth && <Legend verticalAlign="top" height={22} />}
          <Line
            dataKey="raw"
            name="raw"
            stroke={color}
            strokeOpacity={smooth ? 0.3 : 1}
            dot={false}
            isAnimationActive={false}
            connectNulls
          />
          {smooth && <Line dataKey="smooth" name={`smoothed (${smoothing})`} stroke={color} strokeWidth={2} dot={false} isAnimationActive={false} connectNulls />}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

/**
 * Analysis results as chart series: histograms as densities (runs with different sample counts
 * and bins overlay on one scale), and the newest analysis of each kind per run.
 */
import type { AnalysisInfo, AnalysisKind, HistogramData } from '../../../../shared/api';
import type { ChartPoint } from '../../charts/chart-data';

/**
 * A histogram as a step line of densities: count / (total * bin width), so the area under it is 1.
 * One point per left edge, and the last bin's value repeated at the right edge to close the step.
 */
export function densitySteps(h: HistogramData): ChartPoint[] {
  if (h.edges.length !== h.counts.length + 1) {
    throw new Error(`histogram: ${h.counts.length} bins need ${h.counts.length + 1} edges, got ${h.edges.length}`);
  }
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0 || h.counts.length === 0) return [];
  const points = h.counts.map((c, i) => {
    const width = h.edges[i + 1]! - h.edges[i]!;
    return { x: h.edges[i]!, y: width > 0 ? c / (total * width) : null };
  });
  points.push({ x: h.edges[h.edges.length - 1]!, y: points[points.length - 1]!.y });
  return points;
}

/** The newest analysis of a kind for each run (by creation time, then id). */
export function latestByRun<K extends AnalysisKind>(analyses: AnalysisInfo[], kind: K): Map<string, AnalysisInfo & { result: Extract<AnalysisInfo['result'], { kind: K }> }> {
  const out = new Map<string, AnalysisInfo>();
  for (const a of analyses) {
    if (a.kind !== kind || a.result.kind !== kind) continue;
    const cur = out.get(a.runId);
    if (!cur || a.createdAt > cur.createdAt || (a.createdAt === cur.createdAt && a.id > cur.id)) out.set(a.runId, a);
  }
  return out as Map<string, AnalysisInfo & { result: Extract<AnalysisInfo['result'], { kind: K }> }>;
}

/** "checkpoint 2000 · n = 256 · steps 100 · seed 0" from an analysis' recorded parameters. */
export function paramsText(a: AnalysisInfo): string {
  const p = a.params;
  const parts = [`checkpoint ${a.checkpointStep ?? 'latest'}`];
  if (typeof p['n'] === 'number') parts.push(`n = ${p['n']}`);
  if (typeof p['steps'] === 'string' && (a.kind === 'delta-t' || a.kind === 'spectrum')) parts.push(`steps ${p['steps'] === '' ? 'all T' : p['steps']}`);
  if (typeof p['weights'] === 'string') parts.push(p['weights'] === 'ema' ? 'EMA weights' : 'raw weights');
  if (typeof p['seed'] === 'number') parts.push(`seed ${p['seed']}`);
  return parts.join(' · ');
}

/** samples / data at each frequency (the high-frequency deficit reads directly off this). */
export function spectrumRatio(samples: number[], data: number[]): (number | null)[] {
  return samples.map((s, i) => {
    const d = data[i];
    return d !== undefined && d > 0 && Number.isFinite(s) ? s / d : null;
  });
}

/**
 * Comparability keys in words. Every chart and table says which key its numbers were measured
 * under (feature network, sample count, reference set, sampler, T', weights), because two FIDs
 * are the same metric only when all of these match.
 */
import {
  COMPARABILITY_FIELD_LABELS,
  keyDifferences,
  parseComparabilityKey,
  type ComparabilityField,
  type ComparabilityKeyParts,
} from '../../../shared/comparability';

const ORDER: ComparabilityField[] = ['featureNetwork', 'sampleCount', 'reference', 'sampler', 'steps', 'weights'];

/** A respacing spec as a person says it: '' is the full chain, 'ddim50' a DDIM stride. */
export function describeSteps(spec: string): string {
  if (spec === '') return 'all T';
  const ddim = /^ddim(\d+)$/.exec(spec);
  if (ddim) return `${ddim[1]} (DDIM stride)`;
  if (spec.includes(',')) {
    const parts = spec.split(',').map(Number);
    return `${parts.reduce((a, b) => a + b, 0)} (sections ${spec})`;
  }
  return spec;
}

function describeValue(field: ComparabilityField, value: string | number): string {
  switch (field) {
    case 'steps':
      return describeSteps(String(value));
    case 'weights':
      return value === 'ema' ? 'EMA' : value === 'raw' ? 'raw (no EMA)' : String(value);
    case 'sampleCount':
      return Number(value).toLocaleString('en-US');
    default:
      return String(value);
  }
}

export interface KeyField {
  field: ComparabilityField;
  label: string;
  value: string;
}

/** The key's fields in a fixed order, labelled; fields the key leaves out (e.g. the x axis) are skipped. */
export function keyFields(key: string | Partial<ComparabilityKeyParts>): KeyField[] {
  const parts = typeof key === 'string' ? parseComparabilityKey(key) : key;
  return ORDER.filter((f) => parts[f] !== undefined).map((f) => ({
    field: f,
    label: COMPARABILITY_FIELD_LABELS[f],
    value: describeValue(f, parts[f] as string | number),
  }));
}

/** One line: "feature network: mnist-v1 · sample count: 1,000 · ...". */
export function describeKey(key: string | Partial<ComparabilityKeyParts>): string {
  const fields = keyFields(key);
  return fields.length ? fields.map((f) => `${f.label}: ${f.value}`).join(' · ') : 'no comparability key';
}

/** "differs in sampler, weights" — what separates a key from a reference key. */
export function describeDifference(key: string, from: string): string {
  const diff = keyDifferences(key, from);
  return diff.length ? `differs in ${diff.map((f) => COMPARABILITY_FIELD_LABELS[f]).join(', ')}` : 'same key';
}

/** A feature network id without its content hash ("mnist-classifier-v1-3fa9c2d1" -> "mnist-classifier-v1"): short enough for an axis. */
export function shortNetworkName(id: string): string {
  return id.replace(/-[0-9a-f]{6,}$/i, '');
}

/**
 * The y-axis label of a score chart: the metric with the feature network it was computed with
 * (short form; the caption under the chart gives the full key).
 */
export function metricAxisLabel(metric: string, parts: Partial<ComparabilityKeyParts>): string {
  const name = METRIC_NAMES[metric] ?? metric.toUpperCase();
  return parts.featureNetwork ? `${name} (${shortNetworkName(parts.featureNetwork)})` : name;
}

export const METRIC_NAMES: Record<string, string> = {
  fid: 'FID',
  sfid: 'sFID',
  kid: 'KID',
  precision: 'precision',
  recall: 'recall',
  is: 'Inception Score',
};

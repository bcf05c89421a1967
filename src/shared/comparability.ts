/**
 * Comparability keys. Two scores are the same metric only when everything that changes the number
 * other than the model matches: the feature network (and its version), the number of generated
 * samples, the reference set, the sampler and its settings, the number of sampling steps T' and
 * whether the EMA or the raw weights were sampled (method.md section 5). Every stored score carries
 * its key; charts and tables group by it and refuse to mix keys unless the caller asks.
 *
 * The key is a canonical string ("fn=...;n=...;ref=...;sampler=...;steps=...;w=...") so that SQL can
 * index and compare it, and so that a person can read it.
 */

export interface ComparabilityKeyParts {
  /** Feature network id, including its version (e.g. "mnist-classifier-v1-3fa9c2d1"). */
  featureNetwork: string;
  /** Generated samples scored. */
  sampleCount: number;
  /** Reference set id: dataset, split, count and resolution (e.g. "mnist:train:10000:16x16x1"). */
  reference: string;
  /** Sampler settings other than the number of steps (e.g. "ddpm/fixed-small/clip"). */
  sampler: string;
  /** Respacing spec of the sampling chain ("" = all T, "100", "ddim50"). */
  steps: string;
  weights: 'ema' | 'raw';
}

export type ComparabilityField = keyof ComparabilityKeyParts;

const FIELDS: readonly [ComparabilityField, string][] = [
  ['featureNetwork', 'fn'],
  ['sampleCount', 'n'],
  ['reference', 'ref'],
  ['sampler', 'sampler'],
  ['steps', 'steps'],
  ['weights', 'w'],
];

/** Human names of the fields, for "differ in ..." messages. */
export const COMPARABILITY_FIELD_LABELS: Record<ComparabilityField, string> = {
  featureNetwork: 'feature network',
  sampleCount: 'sample count',
  reference: 'reference set',
  sampler: 'sampler',
  steps: 'sampling steps',
  weights: 'weights',
};

function checkValue(v: string, field: string): string {
  if (/[;=]/.test(v)) throw new Error(`comparability key: ${field} '${v}' may not contain ';' or '='`);
  return v;
}

/** The canonical string; `omit` drops fields (e.g. 'steps' for a chart whose x axis is T'). */
export function comparabilityKey(parts: Partial<ComparabilityKeyParts>, omit: readonly ComparabilityField[] = []): string {
  return FIELDS.filter(([f]) => !omit.includes(f) && parts[f] !== undefined)
    .map(([f, short]) => `${short}=${checkValue(String(parts[f]), f)}`)
    .join(';');
}

export function parseComparabilityKey(key: string): Partial<ComparabilityKeyParts> {
  const out: Partial<Record<ComparabilityField, string | number>> = {};
  if (key === '') return {};
  for (const item of key.split(';')) {
    const eq = item.indexOf('=');
    const field = FIELDS.find(([, short]) => short === item.slice(0, eq));
    if (eq < 0 || !field) throw new Error(`not a comparability key: '${key}' (bad item '${item}')`);
    const value = item.slice(eq + 1);
    out[field[0]] = field[0] === 'sampleCount' ? Number(value) : value;
  }
  return out as Partial<ComparabilityKeyParts>;
}

/** A key with some fields dropped, e.g. the key of a FID-vs-T' series (steps vary along x). */
export function keyWithout(key: string, omit: readonly ComparabilityField[]): string {
  return comparabilityKey(parseComparabilityKey(key), omit);
}

/** The fields in which two keys differ, for a refusal message a person can act on. */
export function keyDifferences(a: string, b: string): ComparabilityField[] {
  const pa = parseComparabilityKey(a);
  const pb = parseComparabilityKey(b);
  return FIELDS.map(([f]) => f).filter((f) => String(pa[f] ?? '') !== String(pb[f] ?? ''));
}

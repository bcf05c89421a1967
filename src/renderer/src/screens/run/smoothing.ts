/** Smoothing of a noisy training curve for display. */

/**
 * TensorBoard's smoothing: an exponential moving average, debiased so the first points are not
 * pulled towards zero. Missing (non-finite) values are skipped, not treated as zero.
 */
export function smoothSeries(values: readonly (number | null)[], weight: number): (number | null)[] {
  const out: (number | null)[] = new Array(values.length).fill(null);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = weight === 0 ? v : last / (1 - Math.pow(weight, n));
  }
  return out;
}

/**
 * How a data-parallel step divides its work: contiguous ranges, one per worker, whose sizes differ
 * by at most one (the first ones take the remainder). Used for the samples of a batch and for the
 * slice of the gradient vector each worker sums.
 */

export interface Range {
  /** First index of the range. */
  start: number;
  /** Number of indices. */
  count: number;
}

export function contiguousRanges(total: number, parts: number): Range[] {
  if (!Number.isInteger(total) || total < 0) throw new Error(`cannot split ${total} items: expected a non-negative integer`);
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`cannot split into ${parts} parts: expected a positive integer`);
  const base = Math.floor(total / parts);
  const extra = total - base * parts;
  const out: Range[] = [];
  let start = 0;
  for (let k = 0; k < parts; k++) {
    const count = base + (k < extra ? 1 : 0);
    out.push({ start, count });
    start += count;
  }
  return out;
}

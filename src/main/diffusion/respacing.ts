/**
 * Respacing ("T' steps"): which original timesteps a shorter sampling chain keeps, and the
 * respaced process beta'_i = 1 - ab_{S_i} / ab_{S_{i-1}} over them.
 *
 * A port of the reference space_timesteps must reproduce two Python details exactly: the stride
 * is accumulated by repeated float addition (cur += stride, not k * stride), and round() is
 * round-half-to-even. "100" of 1000 gives 0, 10, 20, 30, 40, 50, 61, ... 999; "25" of 1000 keeps
 * 166 where Math.round would keep 167; "21" of 1000 keeps 499 where k * stride would give 500.
 */
import { makeProcess, type Process } from './schedule';

/** Python 3's round(x) for a float: nearest integer, ties to even. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f; // exact for |x| < 2^52
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The reference's even stride over one section of `size` steps keeping `count` of them, as offsets
 * from the section start: round(cur) for cur = 0, stride, stride + stride, ... with
 * stride = (size - 1) / (count - 1) (1 when count <= 1).
 */
export function evenStride(size: number, count: number): number[] {
  const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
  const out: number[] = [];
  let cur = 0.0;
  for (let k = 0; k < count; k++) {
    out.push(pyRound(cur));
    cur += fracStride;
  }
  return out;
}

function parseCount(s: string, whole: string): number {
  const trimmed = s.trim();
  if (!/^\d+$/.test(trimmed)) throw new Error(`invalid respacing "${whole}": "${s}" is not a non-negative integer`);
  return Number.parseInt(trimmed, 10);
}

/**
 * The sorted, de-duplicated original timesteps kept by a respacing spec, as the reference
 * space_timesteps: comma-separated section counts ("100", "10,15,20": T split into near-equal
 * sections, the first T % n one step longer, each respaced on its own), or "ddimN" (the smallest
 * integer stride i with len(range(0, T, i)) == N, starting at 0). An empty spec keeps every step.
 */
export function spacedTimesteps(T: number, spec: string): number[] {
  if (!Number.isInteger(T) || T < 1) throw new Error(`number of diffusion steps must be a positive integer, got ${T}`);
  const s = spec.trim();
  if (s === '') return Array.from({ length: T }, (_, i) => i);
  if (s.startsWith('ddim')) {
    const desired = parseCount(s.slice(4), spec);
    for (let i = 1; i < T; i++) {
      if (Math.ceil(T / i) === desired) {
        const out: number[] = [];
        for (let t = 0; t < T; t += i) out.push(t);
        return out;
      }
    }
    throw new Error(`cannot create exactly ${desired} steps from ${T} with an integer stride ("${spec}")`);
  }
  const counts = s.split(',').map((c) => parseCount(c, spec));
  const sizePer = Math.floor(T / counts.length);
  const extra = T % counts.length;
  let start = 0;
  const all = new Set<number>();
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new Error(`cannot divide a section of ${size} steps into ${count} ("${spec}" of ${T})`);
    for (const off of evenStride(size, count)) all.add(start + off);
    start += size;
  });
  const out = [...all].sort((a, b) => a - b);
  if (out.length === 0) throw new Error(`respacing "${spec}" keeps no timesteps`);
  return out;
}

/**
 * The process restricted to the kept steps S (sorted indices into `process`):
 * beta'_i = 1 - ab_{S_i} / ab_{S_{i-1}} with ab before the first kept step = 1. The result's
 * timestepMap sends i to the ORIGINAL timestep of S_i (composing with the input's own map), which
 * is what the network must be called with.
 */
export function respace(process: Process, S: readonly number[]): Process {
  if (S.length < 2) throw new Error(`a respaced chain needs at least 2 steps, got ${S.length}`);
  for (let k = 0; k < S.length; k++) {
    const s = S[k]!;
    if (!Number.isInteger(s) || s < 0 || s >= process.numTimesteps) throw new Error(`respaced step ${s} is outside 0..${process.numTimesteps - 1}`);
    if (k > 0 && s <= S[k - 1]!) throw new Error('respaced steps must be strictly increasing');
  }
  const newBetas = new Float64Array(S.length);
  let last = 1.0;
  S.forEach((s, k) => {
    const a = process.ab[s]!;
    newBetas[k] = 1 - a / last;
    last = a;
  });
  return makeProcess(
    newBetas,
    S.map((s) => process.timestepMap[s]!),
    process.originalNumTimesteps,
  );
}

/** respace(process, spacedTimesteps(process.numTimesteps, spec)). */
export function respaceBySpec(process: Process, spec: string): Process {
  return respace(process, spacedTimesteps(process.numTimesteps, spec));
}

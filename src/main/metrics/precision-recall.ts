/**
 * Improved precision and recall (Kynkaanniemi et al. 2019), as guided-diffusion's evaluator computes
 * them (ManifoldEstimator, nhood_sizes = [3]):
 *  - each set's manifold is the union of balls around its points, the radius of a point being the
 *    distance to its k-th nearest neighbour within its own set (k = 3; the point itself, at distance 0,
 *    is not counted, while exact duplicates are);
 *  - precision = fraction of generated samples inside the reference manifold,
 *    recall = fraction of reference samples inside the generated manifold; "inside" is distance <= radius.
 *
 * Distances come from float64 Gram blocks, ||a||^2 + ||b||^2 - 2 a.b, computed block by block so memory
 * stays bounded (the reference uses float16/float32 on a GPU; here the tie-breaking can only be more
 * exact). Cost: n1^2/2 + n2^2/2 + n1*n2 dot products of length d (4e11 multiply-adds at 10,000 x 2048,
 * ~62 s measured here, see scripts/bench-fid.ts --extras).
 */
import { f64Heap } from './f64-kernels';
import { allocMatrix, gemm } from './blocked-gemm';
import { checkFeatureMatrix, type FeatureMatrix } from './gaussian-stats';

export interface PrecisionRecallOptions {
  /** Neighbourhood size (the reference's nhood_sizes = [3]). */
  k?: number;
  /** Rows per distance block (memory: block^2 doubles). */
  blockSize?: number;
}

export interface PrecisionRecallResult {
  precision: number;
  recall: number;
  k: number;
  /** Squared k-NN radii of the reference and generated points. */
  referenceRadii2: Float64Array;
  generatedRadii2: Float64Array;
}

function squaredNorms(x: FeatureMatrix): Float64Array {
  const d = x.cols;
  const norms = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let s = 0;
    for (let j = i * d; j < i * d + d; j++) s += x.data[j]! * x.data[j]!;
    norms[i] = s;
  }
  return norms;
}

/**
 * Squared distances between rows [i0, i0+bi) of `a` (already copied to the heap at aRows) and rows
 * [j0, j0+bj) of `b`, as a column-major block D(i, j) at `out`. Only one block of each set lives on
 * the heap at a time, so memory stays at two blocks of rows plus one block of distances.
 */
function distanceBlock(
  aRows: number,
  aNorms: Float64Array,
  i0: number,
  bi: number,
  b: FeatureMatrix,
  bRows: number,
  bNorms: Float64Array,
  j0: number,
  bj: number,
  out: { ptr: number; ld: number },
): Float64Array {
  const heap = f64Heap();
  const d = b.cols;
  heap.f64.set(b.data.subarray(j0 * d, (j0 + bj) * d), bRows / 8);
  heap.f64.fill(0, out.ptr / 8, out.ptr / 8 + out.ld * bj);
  gemm(bi, bj, d, { ptr: aRows, rowStride: d, colStride: 1 }, { ptr: bRows, rowStride: 1, colStride: d }, out, { sign: -1 });
  const f = heap.f64;
  const o = out.ptr / 8;
  for (let j = 0; j < bj; j++) {
    const nb = bNorms[j0 + j]!;
    const col = o + j * out.ld;
    for (let i = 0; i < bi; i++) {
      const v = aNorms[i0 + i]! + nb + 2 * f[col + i]!;
      f[col + i] = v > 0 ? v : 0;
    }
  }
  return f;
}

/** Keeps the k+1 smallest values per point, ascending (slot 0 is the point itself). */
function insertSmallest(lists: Float64Array, slots: number, point: number, v: number): void {
  const base = point * slots;
  let s = slots - 1;
  if (!(v < lists[base + s]!)) return;
  while (s > 0 && lists[base + s - 1]! > v) {
    lists[base + s] = lists[base + s - 1]!;
    s--;
  }
  lists[base + s] = v;
}

function manifoldRadii2(x: FeatureMatrix, norms: Float64Array, k: number, block: number): Float64Array {
  const heap = f64Heap();
  const n = x.rows;
  const d = x.cols;
  if (n <= k) throw new Error(`precision/recall: a set of ${n} samples has no ${k}-th nearest neighbour`);
  const slots = k + 1;
  const lists = new Float64Array(n * slots).fill(Infinity);
  const mark = heap.mark();
  try {
    const rowsA = heap.alloc(block * d + 8, false);
    const rowsB = heap.alloc(block * d + 8, false);
    const out = allocMatrix(heap, block, block);
    for (let i0 = 0; i0 < n; i0 += block) {
      const bi = Math.min(block, n - i0);
      heap.f64.set(x.data.subarray(i0 * d, (i0 + bi) * d), rowsA / 8);
      // symmetric: each off-diagonal block serves its rows and its columns
      for (let j0 = 0; j0 <= i0; j0 += block) {
        const bj = Math.min(block, n - j0);
        const f = distanceBlock(rowsA, norms, i0, bi, x, rowsB, norms, j0, bj, out);
        const o = out.ptr / 8;
        for (let j = 0; j < bj; j++) {
          const col = o + j * out.ld;
          for (let i = 0; i < bi; i++) {
            const gi = i0 + i;
            const gj = j0 + j;
            if (gi === gj) {
              insertSmallest(lists, slots, gi, 0);
            } else if (j0 === i0) {
              insertSmallest(lists, slots, gi, f[col + i]!); // the block is square: (gj, gi) comes separately
            } else {
              const v = f[col + i]!;
              insertSmallest(lists, slots, gi, v);
              insertSmallest(lists, slots, gj, v);
            }
          }
        }
      }
    }
  } finally {
    heap.release(mark);
  }
  const radii = new Float64Array(n);
  for (let i = 0; i < n; i++) radii[i] = lists[i * slots + k]!;
  return radii;
}

export function precisionRecall(reference: FeatureMatrix, generated: FeatureMatrix, opts: PrecisionRecallOptions = {}): PrecisionRecallResult {
  checkFeatureMatrix(reference, 'reference features');
  checkFeatureMatrix(generated, 'generated features');
  if (reference.cols !== generated.cols) {
    throw new Error(`precision/recall: feature dimensions differ (${reference.cols} vs ${generated.cols})`);
  }
  const k = opts.k ?? 3;
  const block = opts.blockSize ?? 2048;
  const d = reference.cols;
  const heap = f64Heap();
  const refNorms = squaredNorms(reference);
  const genNorms = squaredNorms(generated);
  const rRef = manifoldRadii2(reference, refNorms, k, block);
  const rGen = manifoldRadii2(generated, genNorms, k, block);
  const refIn = new Uint8Array(reference.rows); // reference point inside the generated manifold
  const genIn = new Uint8Array(generated.rows); // generated point inside the reference manifold
  const mark = heap.mark();
  try {
    const rowsA = heap.alloc(block * d + 8, false);
    const rowsB = heap.alloc(block * d + 8, false);
    const out = allocMatrix(heap, block, block);
    for (let i0 = 0; i0 < reference.rows; i0 += block) {
      const bi = Math.min(block, reference.rows - i0);
      heap.f64.set(reference.data.subarray(i0 * d, (i0 + bi) * d), rowsA / 8);
      for (let j0 = 0; j0 < generated.rows; j0 += block) {
        const bj = Math.min(block, generated.rows - j0);
        const f = distanceBlock(rowsA, refNorms, i0, bi, generated, rowsB, genNorms, j0, bj, out);
        const o = out.ptr / 8;
        for (let j = 0; j < bj; j++) {
          const col = o + j * out.ld;
          const rg = rGen[j0 + j]!;
          let inside = genIn[j0 + j]!;
          for (let i = 0; i < bi; i++) {
            const v = f[col + i]!;
            if (v <= rRef[i0 + i]!) inside = 1;
            if (v <= rg) refIn[i0 + i] = 1;
          }
          genIn[j0 + j] = inside;
        }
      }
    }
    let p = 0;
    for (const v of genIn) p += v;
    let r = 0;
    for (const v of refIn) r += v;
    return { precision: p / generated.rows, recall: r / reference.rows, k, referenceRadii2: rRef, generatedRadii2: rGen };
  } finally {
    heap.release(mark);
  }
}

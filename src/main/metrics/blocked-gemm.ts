/**
 * Cache-blocked float64 matrix products on the f64 heap: C += sign * A * B, built on the 4x4 SIMD
 * kernel in f64-kernels. Layout follows GotoBLAS: a kc-deep slab of B is packed once (it stays in L3),
 * A is packed as 4-row tiles, and each work item runs the kernel on one L2-sized block of A tiles (MC
 * rows) against one 4-column panel of B. Items of a slab write disjoint parts of C, so the helper
 * threads in f64-kernels share them out.
 *
 * Structure flags let callers skip blocks that are known to be zero or not needed, which is where the
 * symmetric and triangular products of the Frechet distance get their 2-6x savings.
 */
import { f64Heap, ITEM, type F64Heap } from './f64-kernels';

/** A matrix operand on the heap: element (i, p) is the double at byte `ptr + 8*(i*rowStride + p*colStride)`. */
export interface Operand {
  ptr: number;
  rowStride: number;
  colStride: number;
}

/** A column-major output on the heap: element (i, j) at byte `ptr + 8*(i + j*ld)`. */
export interface Output {
  ptr: number;
  ld: number;
}

export interface GemmOptions {
  /** -1 computes C -= A*B. */
  sign?: 1 | -1;
  /** Only C(i, j) with i >= j is wanted (symmetric results); 4x4 tiles crossing the diagonal are computed whole. */
  lowerOnly?: boolean;
  /** B(p, j) = 0 for p < j (B lower-trapezoidal, e.g. a Cholesky factor). */
  bLowerTrapezoid?: boolean;
  /** A(i, p) = 0 for p < i (A upper-trapezoidal, e.g. a transposed Cholesky factor). */
  aUpperTrapezoid?: boolean;
}

export const KC = 256;
const MC = 128;

export const roundUp4 = (n: number): number => (n + 3) & ~3;

/**
 * Room a heap matrix of rows x cols (leading dimension `roundUp4(rows)`) needs so that the kernel's
 * whole-tile writes past the last row or column stay inside it. Those writes add exact zeros.
 */
export function matrixCapacity(rows: number, cols: number): number {
  return roundUp4(rows) * (roundUp4(cols) + 1) + 8;
}

export interface HeapMatrix extends Output {
  rows: number;
  cols: number;
}

export function allocMatrix(heap: F64Heap, rows: number, cols: number): HeapMatrix {
  return { ptr: heap.alloc(matrixCapacity(rows, cols)), ld: roundUp4(rows), rows, cols };
}

/** As an Operand (A(i,p) = M(i,p)) or transposed (A(i,p) = M(p,i)). */
export function asOperand(m: Output, transpose = false): Operand {
  return transpose ? { ptr: m.ptr, rowStride: m.ld, colStride: 1 } : { ptr: m.ptr, rowStride: 1, colStride: m.ld };
}

export function offsetOperand(a: Operand, i0: number, p0: number): Operand {
  return { ptr: a.ptr + 8 * (i0 * a.rowStride + p0 * a.colStride), rowStride: a.rowStride, colStride: a.colStride };
}

/**
 * C(m x n) += sign * A(m x k) * B(k x n). C's leading dimension must be at least roundUp4 of the rows
 * written, and the memory past column n (up to the next multiple of 4) must be writable scratch or part
 * of C: whole 4x4 tiles are written, padded with zeros.
 */
export function gemm(m: number, n: number, k: number, A: Operand, B: Operand, C: Output, opts: GemmOptions = {}): void {
  if (m <= 0 || n <= 0 || k <= 0) return;
  const heap = f64Heap();
  const sign = opts.sign ?? 1;
  const mark = heap.mark();
  const tilesAll = (m + 3) >> 2;
  const panelsAll = (n + 3) >> 2;
  const pBuf = heap.alloc(KC * 4 * panelsAll, false);
  const qBuf = heap.alloc(KC * 4 * tilesAll, false);
  const list = heap.alloc(slabListBytes(m, n) / 8, false);
  const f = heap.f64;
  const aPtr = A.ptr / 8, ars = A.rowStride, acs = A.colStride;
  const bPtr = B.ptr / 8, brs = B.rowStride, bcs = B.colStride;
  const p0 = pBuf / 8, q0 = qBuf / 8;
  for (let pc = 0; pc < k; pc += KC) {
    const kc = Math.min(KC, k - pc);
    const jEnd = opts.bLowerTrapezoid ? Math.min(n, pc + kc) : n;
    const iEnd = opts.aUpperTrapezoid ? Math.min(m, pc + kc) : m;
    if (jEnd <= 0 || iEnd <= 0) continue;
    const panels = (jEnd + 3) >> 2;
    const tiles = (iEnd + 3) >> 2;
    // B(pc:pc+kc, 0:jEnd) as 4-column panels, and A(0:iEnd, pc:pc+kc) as 4-row tiles, p-major inside
    for (let jp = 0; jp < panels; jp++) {
      const base = p0 + jp * kc * 4;
      for (let r = 0; r < 4; r++) {
        const j = 4 * jp + r;
        if (j < jEnd) {
          let src = bPtr + pc * brs + j * bcs;
          for (let p = 0; p < kc; p++, src += brs) f[base + 4 * p + r] = sign * f[src]!;
        } else {
          for (let p = 0; p < kc; p++) f[base + 4 * p + r] = 0;
        }
      }
    }
    for (let t = 0; t < tiles; t++) {
      const base = q0 + t * kc * 4;
      for (let c = 0; c < 4; c++) {
        const i = 4 * t + c;
        if (i < iEnd) {
          let src = aPtr + i * ars + pc * acs;
          for (let p = 0; p < kc; p++, src += acs) f[base + 4 * p + c] = f[src]!;
        } else {
          for (let p = 0; p < kc; p++) f[base + 4 * p + c] = 0;
        }
      }
    }
    runSlab(kc, iEnd, panels, pBuf, qBuf, C, !!opts.lowerOnly, list);
  }
  heap.release(mark);
}

/** Bytes of work list runSlab needs for an m x n output. */
export function slabListBytes(m: number, n: number): number {
  return Math.ceil(m / MC) * ((n + 3) >> 2) * ITEM * 4 + 16;
}

/**
 * One kc-deep slab of C += P^T Q from operands already packed in kernel layout: `panels` 4-column
 * panels of B at pBuf (kc*4 doubles each) and 4-row tiles of A at qBuf (kc*4 doubles each, rows
 * 0..iEnd). `list` is scratch of slabListBytes(iEnd, 4*panels) bytes. Runs on all threads.
 */
export function runSlab(kc: number, iEnd: number, panels: number, pBuf: number, qBuf: number, C: Output, lowerOnly: boolean, list: number): void {
  const heap = f64Heap();
  const items = heap.i32;
  // one work item per (row block, column panel): disjoint outputs, so any thread may take any item
  let count = 0;
  let o = list / 4;
  for (let ic = 0; ic < iEnd; ic += MC) {
    const mc = Math.min(MC, iEnd - ic);
    const blockTiles = (mc + 3) >> 2;
    const panelEnd = lowerOnly ? Math.min(panels, ((ic + mc - 1) >> 2) + 1) : panels;
    for (let jp = 0; jp < panelEnd; jp++) {
      const j0 = 4 * jp;
      const t0 = lowerOnly && j0 > ic ? (j0 - ic) >> 2 : 0;
      if (t0 >= blockTiles) continue;
      items[o] = 0;
      items[o + 1] = kc;
      items[o + 2] = pBuf + jp * kc * 32;
      items[o + 3] = qBuf + ((ic >> 2) + t0) * kc * 32;
      items[o + 4] = kc * 32;
      items[o + 5] = blockTiles - t0;
      items[o + 6] = C.ptr + 8 * (ic + 4 * t0 + j0 * C.ld);
      items[o + 7] = C.ld * 8;
      o += ITEM;
      count++;
    }
  }
  heap.runItems(list, count);
}

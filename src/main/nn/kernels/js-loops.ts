/**
 * Data-movement loops run in JS directly on wasm-heap views. The wasm backend's generic Transpose and
 * Slice are slow for these layouts (Slice copies its whole input first), while these loops are simple
 * enough for V8 to compile into tight code.
 */

/** dst[c][r] = src[r][c] for a rows x cols matrix, in cache-sized tiles. */
export function transpose2d(src: Float32Array, dst: Float32Array, rows: number, cols: number, srcOff = 0, dstOff = 0): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let c = c0; c < c1; c++) {
        let d = dstOff + c * rows + r0;
        let s = srcOff + r0 * cols + c;
        for (let r = r0; r < r1; r++) {
          dst[d++] = src[s];
          s += cols;
        }
      }
    }
  }
}

/** First and one-past-last output index o in [0, outLen) with 0 <= o*stride + offset < inLen. */
export function validRange(outLen: number, stride: number, offset: number, inLen: number): [number, number] {
  const lo = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const hi = Math.min(outLen, Math.floor((inLen - 1 - offset) / stride) + 1);
  return [Math.min(lo, outLen), Math.max(hi, Math.min(lo, outLen))];
}

/**
 * Slice and SplitV for the wasm backend. The built-in Slice reads the whole input into a fresh JS array
 * (readSync) before copying out the part it needs, and SplitV is one such Slice per part: the gradient
 * of every skip-connection concat (a split along channels) copied the full tensor once per part plus a
 * subarray per pixel. Here the parts are copied straight between wasm-heap views, in runs as long as
 * the layout allows (copyWithin for long runs, a loop for short ones).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmKernel, type Info } from './ctx';

/** Copies x[begin : begin+size] into a new tensor. */
function sliceInfo(backend: BackendWasm, x: Info, begin: number[], size: number[]): Info {
  const out = backend.makeOutput(size, x.dtype);
  if (tf.util.sizeFromShape(size) === 0) return out;
  const rank = x.shape.length;
  // Innermost axis not taken whole: everything after it is contiguous in both tensors.
  let d = rank - 1;
  while (d > 0 && begin[d] === 0 && size[d] === x.shape[d]) d--;
  const strides = tf.util.computeStrides(x.shape);
  const innerStride = d === rank - 1 ? 1 : strides[d];
  const run = size[d] * innerStride;
  let base = 0;
  for (let i = 0; i < rank; i++) base += begin[i] * (i === rank - 1 ? 1 : strides[i]);
  const blocks = tf.util.sizeFromShape(size.slice(0, d));
  const counters = new Array<number>(d).fill(0);
  // Same heap, two offsets: one view serves as source and destination. Int32 so that the element loop
  // copies bits (a float round trip could rewrite NaN payloads of int32 data).
  const heap = (backend.wasm as unknown as { HEAP32: Int32Array }).HEAP32;
  const src0 = backend.dataIdMap.get(x.dataId)!.memoryOffset / 4;
  let o = backend.dataIdMap.get(out.dataId)!.memoryOffset / 4;
  for (let b = 0; b < blocks; b++) {
    const s = src0 + base;
    if (run >= 64) heap.copyWithin(o, s, s + run);
    else for (let k = 0; k < run; k++) heap[o + k] = heap[s + k];
    o += run;
    for (let a = d - 1; a >= 0; a--) {
      counters[a]++;
      base += strides[a];
      if (counters[a] < size[a]) break;
      counters[a] = 0;
      base -= strides[a] * size[a];
    }
  }
  return out;
}

/** 4-byte numeric tensors only: strings and other widths go to the built-in kernels. */
const fast = (x: Info) => (x.dtype === 'float32' || x.dtype === 'int32') && x.shape.length > 0;

export function sliceKernelConfig(): tf.KernelConfig {
  const fallback = wasmKernel(tf.Slice);
  return {
    kernelName: tf.Slice,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      if (!fast(x)) return fallback(args);
      const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
      const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
      return sliceInfo(args.backend as BackendWasm, x, b, s);
    },
  };
}

export function splitVKernelConfig(): tf.KernelConfig {
  const fallback = wasmKernel(tf.SplitV);
  return {
    kernelName: tf.SplitV,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      if (!fast(x)) return fallback(args);
      const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
      const begin = new Array<number>(x.shape.length).fill(0);
      return sizes.map((n) => {
        const size = [...x.shape];
        size[ax] = n;
        const part = sliceInfo(args.backend as BackendWasm, x, [...begin], size);
        begin[ax] += n;
        return part;
      });
    },
  };
}

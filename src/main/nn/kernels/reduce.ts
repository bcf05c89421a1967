/**
 * Sum and Mean of an NHWC tensor over its spatial axes ([1, 2]) or over batch and spatial axes
 * ([0, 1, 2]) on the wasm backend.
 *
 * These are the reductions training does most: every conv or dense bias gradient, and every gradient of
 * a per-channel or per-(sample, channel) broadcast (norm affine, scale-shift, time embedding). The
 * built-in kernels move the reduced axes last with a full transpose first (2 ms for a 64x16x16x32
 * tensor); XNNPACK's global average pooling reads the tensor once (0.2 ms). The remaining sum over the
 * batch runs on the small [N, C] result in JS. Other axis sets go to the built-in kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmKernel, type Info } from './ctx';

function spatialReduction(x: Info, axes: number[]): 'spatial' | 'batchSpatial' | null {
  if (x.dtype !== 'float32' || x.shape.length !== 4 || tf.util.sizeFromShape(x.shape) === 0) return null;
  const set = new Set(axes);
  if (!set.has(1) || !set.has(2) || set.has(3)) return null;
  return set.has(0) ? 'batchSpatial' : 'spatial';
}

function makeReduce(kernelName: string, mean: boolean): tf.KernelConfig {
  const builtinFunc = wasmKernel(kernelName);
  const avgPoolFunc = wasmKernel(tf.AvgPool);
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const kind = spatialReduction(x, axes);
      if (kind == null) return builtinFunc(args);
      const backend = args.backend as BackendWasm;
      const [n, h, w, c] = x.shape;
      const pooled = avgPoolFunc({
        inputs: { x },
        backend,
        attrs: { filterSize: [h, w], strides: [h, w], pad: 'valid', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap,
      }) as Info;
      const means = backend.typedArrayFromHeap(pooled) as Float32Array;
      const scale = mean ? 1 : h * w;
      let values: Float32Array;
      if (kind === 'spatial') {
        values = new Float32Array(n * c);
        for (let i = 0; i < n * c; i++) values[i] = means[i] * scale;
      } else {
        const acc = new Float64Array(c);
        for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) acc[k] += means[b * c + k];
        values = new Float32Array(c);
        for (let k = 0; k < c; k++) values[k] = (acc[k] * scale) / (mean ? n : 1);
      }
      backend.disposeData(pooled.dataId);
      const outShape = kind === 'spatial' ? (keepDims ? [n, 1, 1, c] : [n, c]) : keepDims ? [1, 1, 1, c] : [c];
      const out = backend.makeOutput(outShape, 'float32');
      (backend.typedArrayFromHeap(out) as Float32Array).set(values);
      return out;
    },
  };
}

/** Built when registered: they wrap built-in kernels, which exist once the wasm backend is imported. */
export function reduceKernelConfigs(): tf.KernelConfig[] {
  return [makeReduce(tf.Sum, false), makeReduce(tf.Mean, true)];
}

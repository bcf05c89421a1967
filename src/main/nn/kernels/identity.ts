/**
 * Identity (tf.clone) and same-dtype Cast for the wasm backend as a shared reference instead of a copy,
 * as the cpu backend does. It matters for training: while recording the tape the engine clones every
 * tensor a gradient will need (saveTensorsForBackwardMode), ~750 activations per U-Net step, and
 * tfjs's Multiply gradient casts its float32 operands to float32 (~230 more copies). Sharing is safe
 * because tfjs never writes into an existing tensor's buffer; the reference count keeps the buffer
 * alive until the last holder is disposed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmKernel, type Info } from './ctx';

function shared(backend: BackendWasm, x: Info): Info {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export function identityKernelConfig(): tf.KernelConfig {
  const fallback = wasmKernel(tf.Identity);
  return {
    kernelName: tf.Identity,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      return x.dtype === 'string' ? fallback(args) : shared(args.backend as BackendWasm, x);
    },
  };
}

export function castKernelConfig(): tf.KernelConfig {
  const fallback = wasmKernel(tf.Cast);
  return {
    kernelName: tf.Cast,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      const { dtype } = args.attrs as unknown as tf.CastAttrs;
      return x.dtype === dtype && dtype !== 'string' ? shared(args.backend as BackendWasm, x) : fallback(args);
    },
  };
}

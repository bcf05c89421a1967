/**
 * Everything the wasm backend needs to train: the convolution gradient kernels it lacks or runs slowly,
 * faster replacements for the built-in kernels that dominated a U-Net training step once convolutions
 * were fast, and gradient definitions (see gradients.ts). Nothing here is used with tfjs-node, which
 * has native kernels and registers its own gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMatMulKernelConfig } from './batch-mat-mul';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input';
import { ensureOfficialGradients, registerGradientOverrides } from './gradients';
import { castKernelConfig, identityKernelConfig } from './identity';
import { reduceKernelConfigs } from './reduce';
import { resizeNearestNeighborGradConfig } from './resize-nearest-neighbor-grad';
import { sliceKernelConfig, splitVKernelConfig } from './slice';
import { transposeKernelConfig } from './transpose';

/**
 * - Conv2DBackpropFilter: wasm has none, so the filter gradient of every conv2d fails.
 * - Conv2DBackpropInput: wasm has a scalar loop (~2 GFLOP/s); ours runs on XNNPACK's Conv2D.
 * - ResizeNearestNeighborGrad: the gradient of tf.image.resizeNearestNeighbor; wasm's takes ~2x longer.
 * - BatchMatMul: wasm's is fast only for one untransposed pair (see batch-mat-mul.ts): attention and
 *   every matMul gradient were ~20x slower than needed.
 * - Transpose: wasm's is ~300x slower above rank 4 (attention's head split).
 * - Slice, SplitV: wasm's copy the whole input once per part (the gradient of every concat is a split).
 * - Identity, Cast to the same dtype: a shared reference instead of a copy (the tape clones every
 *   tensor a gradient keeps; the Multiply gradient casts float32 to float32).
 * - Sum, Mean over [H, W] or [N, H, W] (bias and broadcast gradients): wasm transposes first; 10x.
 * The last eight wrap the built-in kernels, so they are built when registered, after the backend loaded.
 */
function wasmKernels(): tf.KernelConfig[] {
  return [
    conv2dBackpropFilterConfig,
    conv2dBackpropInputConfig,
    resizeNearestNeighborGradConfig,
    batchMatMulKernelConfig(),
    transposeKernelConfig(),
    sliceKernelConfig(),
    splitVKernelConfig(),
    identityKernelConfig(),
    castKernelConfig(),
    ...reduceKernelConfigs(),
  ];
}

let kernelsDone = false;

/** Registers the wasm kernels (idempotent; replaces built-in ones of the same name). */
export function registerWasmKernels(): void {
  if (kernelsDone) return;
  kernelsDone = true;
  for (const k of wasmKernels()) {
    if (tf.getKernel(k.kernelName, k.backendName) != null) tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel(k);
  }
}

/** Kernels and gradients for training on wasm; call once the wasm backend is active. */
export async function prepareWasmTraining(): Promise<void> {
  registerWasmKernels();
  await ensureOfficialGradients();
  registerGradientOverrides();
}

/**
 * Compute backend selection: `tensorflow` (tfjs-node-gpu, else tfjs-node; optional installs),
 * `wasm` (XNNPACK, the default on machines without libtensorflow), `cpu` (pure JS: inference only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type Purpose = 'train' | 'infer';

export interface BackendInfo {
  /** The tfjs backend name actually active ('tensorflow', 'wasm' or 'cpu'). */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** Which package provided it, e.g. '@tensorflow/tfjs-node-gpu'. */
  provider: string;
}

const require = createRequire(import.meta.url);
let active: BackendInfo | null = null;

function tryLoadTensorflow(): string | null {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require(pkg);
      return pkg;
    } catch {
      // not installed, or libtensorflow missing: try the next one
    }
  }
  return null;
}

export async function initBackend(choice: BackendChoice = 'auto', purpose: Purpose = 'train'): Promise<BackendInfo> {
  if (active) {
    if (choice === 'auto' || choice === active.name) return active;
    throw new Error(`backend already initialised as '${active.name}', cannot switch to '${choice}' in the same process`);
  }
  if (choice === 'cpu' && purpose === 'train') {
    throw new Error(
      "the pure-JavaScript 'cpu' backend is far too slow to train a U-Net (minutes per step). " +
        "Use --backend wasm (installed with Exposure Lab), or install @tensorflow/tfjs-node-gpu / @tensorflow/tfjs-node " +
        'and use --backend tensorflow.',
    );
  }
  if (choice === 'tensorflow' || choice === 'auto') {
    const pkg = tryLoadTensorflow();
    if (pkg && (await tf.setBackend('tensorflow'))) {
      active = { name: 'tensorflow', provider: pkg };
      return active;
    }
    if (choice === 'tensorflow') {
      throw new Error(
        "backend 'tensorflow' is not available: neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node could be loaded. " +
          'Install one of them (`npm install @tensorflow/tfjs-node`; its install step downloads libtensorflow) or use --backend wasm.',
      );
    }
  }
  if (choice === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    active = { name: 'cpu', provider: '@tensorflow/tfjs-backend-cpu' };
    return active;
  }
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  await tf.ready();
  // Gradient kernels wasm lacks (or runs slowly) and the gradient definitions tfjs-core leaves out;
  // the tensorflow backend brings both itself, so this happens on wasm only.
  const { prepareWasmTraining } = await import('./kernels/register');
  await prepareWasmTraining();
  active = { name: 'wasm', provider: '@tensorflow/tfjs-backend-wasm' };
  return active;
}

export function activeBackend(): BackendInfo | null {
  return active;
}

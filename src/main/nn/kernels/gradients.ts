/**
 * Gradient definitions for training on wasm.
 *
 * tfjs-core registers no gradients by itself: the union package @tensorflow/tfjs (which tfjs-node pulls
 * in) imports '@tensorflow/tfjs-core/dist/register_all_gradients'. Without it every tf.grad fails with
 * "gradient function not found". That module is ESM with extensionless relative imports (and a
 * `./gradients` that is both a file and a directory), which bundlers and vitest resolve but plain Node
 * (and tsx, which runs `xlab`) does not. So: import it as is, and under plain Node first install a
 * resolve hook that adds the missing '.js' for files inside tfjs-core's dist only.
 *
 * On top of the official set, a few gradients are replaced:
 * - Tile: the official one throws for rank > 4, yet broadcastTo runs Tile, and a nearest-neighbour 2x
 *   upsampling written as reshape [N,H,1,W,1,C] + broadcastTo/tile is rank 6; it also adds one slice per
 *   repetition. Summing a reshaped dy over the repetition axes is exact for any rank in one op.
 */
import * as tf from '@tensorflow/tfjs-core';

const RESOLVE_HOOK = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (parent && parent.includes('/@tensorflow/tfjs-core/dist/') && (specifier.startsWith('./') || specifier.startsWith('../')) && !specifier.endsWith('.js')) {
    const url = new URL(specifier + '.js', parent);
    if (existsSync(fileURLToPath(url))) return { url: url.href, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}`;

let hookInstalled = false;

async function installResolveHook(): Promise<void> {
  if (hookInstalled) return;
  hookInstalled = true;
  const nodeModule = (await import('node:module')) as { register?: (specifier: string, parentURL?: string) => void };
  if (typeof nodeModule.register !== 'function') {
    throw new Error('cannot load the tfjs gradient definitions: this Node.js lacks module.register (needs Node >= 20.6)');
  }
  nodeModule.register('data:text/javascript,' + encodeURIComponent(RESOLVE_HOOK));
}

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

let officialLoaded: Promise<void> | null = null;

/**
 * Registers tfjs's own gradient definitions if nothing registered them yet (tfjs-node and bundled
 * builds do). Resolves once tf.grad can be used.
 */
export function ensureOfficialGradients(): Promise<void> {
  if (tf.getGradient(tf.Conv2D) != null && tf.getGradient(tf.Multiply) != null) return Promise.resolve();
  officialLoaded ??= (async () => {
    // The hook only ever changes resolutions that would otherwise fail, so installing it up front is
    // safe, and avoids a first failed import that Node would cache.
    if (isNode()) await installResolveHook();
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  })();
  return officialLoaded;
}

const tileGrad: tf.GradConfig = {
  kernelName: tf.Tile,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { reps } = attrs as unknown as tf.TileAttrs;
    return {
      x: () => {
        const dyT = dy as tf.Tensor;
        const split: number[] = [];
        const axes: number[] = [];
        for (let i = 0; i < x.rank; i++) {
          if (reps[i] > 1) axes.push(split.length);
          split.push(reps[i], x.shape[i]);
        }
        if (axes.length === 0) return tf.clone(dyT);
        return tf.reshape(tf.sum(tf.reshape(dyT, split), axes), x.shape);
      },
    };
  },
};

/** Gradients this module replaces or adds, whatever was registered before. */
const OVERRIDES: tf.GradConfig[] = [tileGrad];

let overridesDone = false;

export function registerGradientOverrides(): void {
  if (overridesDone) return;
  overridesDone = true;
  for (const g of OVERRIDES) {
    // unregister first: registerGradient warns on overriding, which here is the intent.
    if (tf.getGradient(g.kernelName) != null) tf.unregisterGradient(g.kernelName);
    tf.registerGradient(g);
  }
}

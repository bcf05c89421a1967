/**
 * ResizeNearestNeighborGrad for the wasm backend, replacing the built-in one (about twice as slow), the
 * gradient of nearest-neighbour upsampling. It is the exact adjoint of the forward kernel: every dy pixel
 * is added to the input pixel the forward pass copied it from, with the same source-index rule.
 * (The cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1 in tfjs 4.22; wasm's is right.)
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withCtx, type Info } from './ctx';

/** Source index of output index `o` along one axis, as the forward ResizeNearestNeighbor computes it. */
function sourceIndices(inLen: number, outLen: number, alignCorners: boolean, halfPixelCenters: boolean): Int32Array {
  const effIn = alignCorners && outLen > 1 ? inLen - 1 : inLen;
  const effOut = alignCorners && outLen > 1 ? outLen - 1 : outLen;
  const ratio = effIn / effOut;
  const out = new Int32Array(outLen);
  for (let o = 0; o < outLen; o++) {
    const frac = halfPixelCenters ? ratio * (o + 0.5) : ratio * o;
    let src = Math.min(inLen - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
    if (halfPixelCenters) src = Math.max(0, src);
    out[o] = src;
  }
  return out;
}

export function resizeNearestNeighborGradWasm(
  backend: BackendWasm,
  images: Info,
  dy: Info,
  attrs: { alignCorners: boolean; halfPixelCenters?: boolean },
): Info {
  const [n, h, w, c] = images.shape;
  const [, oh, ow] = dy.shape;
  const rows = sourceIndices(h, oh, attrs.alignCorners, attrs.halfPixelCenters ?? false);
  const cols = sourceIndices(w, ow, attrs.alignCorners, attrs.halfPixelCenters ?? false);
  return withCtx(backend, (ctx) => {
    const dx = ctx.zeros([n, h, w, c]);
    const src = ctx.f32(dy);
    const dst = ctx.f32(dx);
    let s = 0;
    for (let b = 0; b < n; b++) {
      for (let r = 0; r < oh; r++) {
        const rowBase = (b * h + rows[r]) * w;
        for (let q = 0; q < ow; q++) {
          const d = (rowBase + cols[q]) * c;
          for (let k = 0; k < c; k++) dst[d + k] += src[s++];
        }
      }
    }
    return ctx.keep(dx);
  });
}

export const resizeNearestNeighborGradConfig: tf.KernelConfig = {
  kernelName: tf.ResizeNearestNeighborGrad,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { images, dy } = inputs as { images: Info; dy: Info };
    return resizeNearestNeighborGradWasm(
      backend as BackendWasm,
      images,
      dy,
      attrs as unknown as { alignCorners: boolean; halfPixelCenters?: boolean },
    );
  },
};

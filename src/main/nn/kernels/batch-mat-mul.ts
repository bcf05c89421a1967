/**
 * BatchMatMul for the wasm backend. The built-in kernel reaches XNNPACK's GEMM only for a single
 * matrix with neither operand transposed; everything else (attention's batched products, and every
 * matMul gradient, which transposes one operand) runs a scalar blocked loop at ~1-1.5 GFLOP/s.
 * Here each matrix pair is laid out as XNNPACK wants it (a transposing copy in JS when needed: O(n^2)
 * against the product's O(n^3)) and multiplied on the fast path, one batch entry at a time.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmKernel, withCtx, type Info, type WasmCtx } from './ctx';
import { transpose2d } from './js-loops';

/** Copies batch entry `b` of a [batch, r, c] tensor into a fresh [1, rows, cols] tensor, transposing if asked. */
function entry(ctx: WasmCtx, t: Info, b: number, transpose: boolean): Info {
  const [batch, r, c] = t.shape;
  const out = ctx.alloc(transpose ? [1, c, r] : [1, r, c]);
  const src = ctx.f32(t);
  const dst = ctx.f32(out);
  const off = (batch === 1 ? 0 : b) * r * c;
  if (transpose) transpose2d(src, dst, r, c, off, 0);
  else dst.set(src.subarray(off, off + r * c));
  return out;
}

export function batchMatMulKernelConfig(): tf.KernelConfig {
  const builtinFunc = wasmKernel(tf.BatchMatMul);
  return {
    kernelName: tf.BatchMatMul,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const a = args.inputs.a as Info;
      const b = args.inputs.b as Info;
      const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
      const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
      const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
      if (
        a.dtype !== 'float32' ||
        b.dtype !== 'float32' ||
        (batchA === 1 && batchB === 1 && !transposeA && !transposeB) ||
        (batchA !== batchB && batchA !== 1 && batchB !== 1)
      ) {
        return builtinFunc(args);
      }
      const ra = a.shape.length;
      const rb = b.shape.length;
      const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
      const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
      const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
      const outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      const batch = Math.max(batchA, batchB);
      return withCtx(args.backend as BackendWasm, (ctx) => {
        const a3 = ctx.reshape(a, [batchA, a.shape[ra - 2], a.shape[ra - 1]]);
        const b3 = ctx.reshape(b, [batchB, b.shape[rb - 2], b.shape[rb - 1]]);
        const out = ctx.alloc([...outBatchShape, m, n]);
        // A weight operand shared by every batch entry is laid out (and packed by XNNPACK) once.
        const sharedB = batchB === 1 ? (transposeB ? entry(ctx, b3, 0, true) : ctx.reshape(b3, [1, k, n])) : null;
        for (let i = 0; i < batch; i++) {
          const ai = batchA === 1 && !transposeA ? ctx.reshape(a3, [1, m, k]) : entry(ctx, a3, i, transposeA);
          const bi = sharedB ?? (transposeB ? entry(ctx, b3, i, true) : entry(ctx, b3, i, false));
          const prod = builtinFunc({ inputs: { a: ai, b: bi }, backend: args.backend, attrs: { transposeA: false, transposeB: false } }) as Info;
          ctx.f32(out).set(ctx.f32(prod), i * m * n);
          ctx.backend.disposeData(prod.dataId);
          ctx.free(ai);
          if (bi !== sharedB) ctx.free(bi);
        }
        return ctx.keep(out);
      });
    },
  };
}

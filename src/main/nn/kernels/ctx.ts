/**
 * A small toolkit for writing wasm-backend kernels out of the backend's own kernels.
 *
 * Kernels registered for 'wasm' run with the engine's tape paused and must return raw TensorInfos, so
 * they cannot call tf ops; they call other kernels' kernelFuncs directly (as the wasm backend itself
 * does) and have to free every intermediate by hand. `WasmCtx` tracks those intermediates.
 *
 * Heap views: the wasm backend keeps every tensor in its linear memory; `f32()` returns a view on it so
 * that data-movement steps (im2col, interleaving, cropping) can be done in plain JS loops without the
 * whole-tensor copy that `readSync` makes. A view goes stale when the wasm memory grows, which only an
 * allocation can cause: take views after the last allocation of a step, never keep them across one.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Info = tf.TensorInfo;

/**
 * The wasm kernel currently registered under a name. Replacement kernels call this while building
 * their config, before they are registered, to keep the built-in one as their fallback.
 */
export function wasmKernel(kernelName: string): tf.KernelFunc {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (kernel == null) throw new Error(`wasm kernel '${kernelName}' is not registered`);
  return kernel.kernelFunc;
}

export class WasmCtx {
  private readonly temps: Info[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Runs a wasm kernel; the result is freed by dispose() unless passed to keep(). */
  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): Info {
    const out = wasmKernel(kernelName)({ inputs, backend: this.backend, attrs }) as Info | Info[];
    if (Array.isArray(out)) throw new Error(`kernel '${kernelName}' returned several outputs`);
    this.temps.push(out);
    return out;
  }

  /** An uninitialised float32 tensor on the wasm heap. */
  alloc(shape: number[]): Info {
    const out = this.backend.makeOutput(shape, 'float32');
    this.temps.push(out);
    return out;
  }

  /** A float32 tensor of zeros. */
  zeros(shape: number[]): Info {
    const out = this.alloc(shape);
    this.f32(out).fill(0);
    return out;
  }

  /** A view of the tensor's float32 data on the wasm heap (see the note on staleness above). */
  f32(info: Info): Float32Array {
    if (info.dtype !== 'float32') throw new Error(`expected float32, got ${info.dtype}`);
    return this.backend.typedArrayFromHeap(info) as Float32Array;
  }

  /** Same buffer, new shape: no copy, shares the data (with its own reference). */
  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  /** Stops tracking `info` so that it survives dispose(): the kernel's return value. */
  keep(info: Info): Info {
    const i = this.temps.lastIndexOf(info);
    if (i >= 0) this.temps.splice(i, 1);
    return info;
  }

  /** Frees one intermediate early (large buffers), instead of at dispose(). */
  free(info: Info): void {
    const i = this.temps.lastIndexOf(info);
    if (i >= 0) {
      this.temps.splice(i, 1);
      this.backend.disposeData(info.dataId);
    }
  }

  dispose(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** Runs `body` with a fresh context and frees everything it did not keep, even on error. */
export function withCtx<T>(backend: BackendWasm, body: (ctx: WasmCtx) => T): T {
  const ctx = new WasmCtx(backend);
  try {
    return body(ctx);
  } finally {
    ctx.dispose();
  }
}

/** Explicit per-side padding of a 2-D convolution; negative values crop. */
export interface Pads {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * Crops an NHWC tensor to rows [r0, r0 + h) and columns [c0, c0 + w) (a JS copy of whole channel runs:
 * the wasm Slice kernel copies the entire input first, which costs more than the crop itself).
 */
export function cropHW(ctx: WasmCtx, x: Info, r0: number, h: number, c0: number, w: number): Info {
  const [n, hIn, wIn, c] = x.shape;
  if (r0 === 0 && c0 === 0 && h === hIn && w === wIn) return x;
  const out = ctx.alloc([n, h, w, c]);
  const src = ctx.f32(x);
  const dst = ctx.f32(out);
  const run = w * c;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < h; r++) {
      const s = ((b * hIn + r0 + r) * wIn + c0) * c;
      dst.set(src.subarray(s, s + run), o);
      o += run;
    }
  }
  return out;
}

/**
 * Conv2D on the wasm backend (XNNPACK) with explicit per-side padding that may be negative (the input is
 * cropped first: XNNPACK takes only non-negative padding), stride and dilation.
 */
export function convExplicit(
  ctx: WasmCtx,
  x: Info,
  filter: Info,
  pads: Pads,
  strides: [number, number] = [1, 1],
  dilations: [number, number] = [1, 1],
): Info {
  let { top, bottom, left, right } = pads;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w] = x.shape;
    const r0 = Math.max(0, -top);
    const c0 = Math.max(0, -left);
    const r1 = h - Math.max(0, -bottom);
    const c1 = w - Math.max(0, -right);
    if (r1 <= r0 || c1 <= c0) {
      // Nothing but padding is left under the window: the result is zeros (XNNPACK rejects empty inputs).
      const [fh, fw, , cout] = filter.shape;
      const outH = h + top + bottom - (fh - 1) * dilations[0];
      const outW = w + left + right - (fw - 1) * dilations[1];
      return ctx.zeros([n, Math.floor((outH - 1) / strides[0]) + 1, Math.floor((outW - 1) / strides[1]) + 1, cout]);
    }
    x = cropHW(ctx, x, r0, r1 - r0, c0, c1 - c0);
    top = Math.max(0, top);
    bottom = Math.max(0, bottom);
    left = Math.max(0, left);
    right = Math.max(0, right);
  }
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  return ctx.run(
    'Conv2D',
    { x, filter },
    { strides, pad, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined } as unknown as tf.NamedAttrMap,
  );
}

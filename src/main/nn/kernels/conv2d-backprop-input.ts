/**
 * Conv2DBackpropInput for the wasm backend, replacing its built-in kernel (a scalar loop, ~2 GFLOP/s).
 *
 * dx[n,i,j,ci] = sum over (oh,ow,kh,kw,co) with oh*sh+kh-pt = i, ow*sw+kw-pl = j of dy[n,oh,ow,co] * W[kh,kw,ci,co]
 *
 * Routes:
 * - 'subpixel': split dx by the residue of (i, j) modulo the stride. Each residue class is a stride-1
 *   correlation of dy with a flipped sub-kernel (taps kh = kh0, kh0+sh, ...), run on XNNPACK's Conv2D; the
 *   classes are then interleaved into dx in JS. With stride 1 this is the usual "convolve with the flipped,
 *   in/out-swapped kernel" and needs no interleaving. No multiply by an inserted zero is ever done.
 * - 'col2im': dcols = dy x W^T as one GEMM ([N*OH*OW, Cout] x [Cout, KH*KW*Cin]), then scatter-add
 *   the KH*KW taps into dx in JS. Fewer, larger GEMMs; the scatter costs a pass over dcols.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, type ConvGeometry } from './conv-geometry';
import { convExplicit, withCtx, type Info, type WasmCtx } from './ctx';
import { validRange } from './js-loops';

export type InputGradRoute = 'auto' | 'subpixel' | 'col2im';

let route: InputGradRoute = 'auto';

/** Forces one route (benchmarks and tests); 'auto' picks per shape. */
export function setInputGradRoute(r: InputGradRoute): void {
  route = r;
}

/** Sub-pixel wins everywhere measured (2-4x) except with very few input channels, where XNNPACK's
 * convolution producing 1-3 channels is inefficient and one GEMM plus the scatter is not. */
function pickRoute(g: ConvGeometry): Exclude<InputGradRoute, 'auto'> {
  if (route !== 'auto') return route;
  return g.cin < 4 ? 'col2im' : 'subpixel';
}

interface AxisClass {
  /** First input index of the class and the number of indices in it. */
  r: number;
  count: number;
  /** Kernel taps k0, k0+s, ..., k0+s*(taps-1). */
  k0: number;
  taps: number;
  /** Padding before the first dy row in the class's stride-1 correlation. */
  padBefore: number;
}

/** Per-axis residue classes: input index r + s*m receives dy[m + c - j] * W[k0 + s*j]. */
function axisClasses(inLen: number, k: number, s: number, padBefore: number): AxisClass[] {
  const out: AxisClass[] = [];
  for (let r = 0; r < Math.min(s, inLen); r++) {
    const count = Math.ceil((inLen - r) / s);
    const k0 = (r + padBefore) % s;
    const taps = k0 < k ? Math.ceil((k - k0) / s) : 0;
    const c = (r + padBefore - k0) / s;
    out.push({ r, count, k0, taps, padBefore: taps - 1 - c });
  }
  return out;
}

/** Sub-kernel [th, tw, Cout, Cin] with sub[a,b,co,ci] = W[kh0 + sh*(th-1-a), kw0 + sw*(tw-1-b), ci, co]. */
function subKernel(ctx: WasmCtx, filter: Info, g: ConvGeometry, ch: AxisClass, cw: AxisClass): Info {
  const { kw, cin, cout, sh, sw } = g;
  const out = ctx.alloc([ch.taps, cw.taps, cout, cin]);
  const src = ctx.f32(filter);
  const dst = ctx.f32(out);
  let d = 0;
  for (let a = 0; a < ch.taps; a++) {
    const khi = ch.k0 + sh * (ch.taps - 1 - a);
    for (let b = 0; b < cw.taps; b++) {
      const kwi = cw.k0 + sw * (cw.taps - 1 - b);
      const base = (khi * kw + kwi) * cin * cout;
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < cin; ci++) dst[d++] = src[base + ci * cout + co];
      }
    }
  }
  return out;
}

function inputGradSubpixel(ctx: WasmCtx, dy: Info, filter: Info, g: ConvGeometry): Info {
  const { n, h, w, cin, oh, ow, kh, kw, sh, sw, pt, pl } = g;
  const rowsCls = axisClasses(h, kh, sh, pt);
  const colsCls = axisClasses(w, kw, sw, pl);
  const parts: { ch: AxisClass; cw: AxisClass; out: Info | null }[] = [];
  for (const ch of rowsCls) {
    for (const cw of colsCls) {
      if (ch.taps === 0 || cw.taps === 0) {
        parts.push({ ch, cw, out: null });
        continue;
      }
      const sub = subKernel(ctx, filter, g, ch, cw);
      const out = convExplicit(ctx, dy, sub, {
        top: ch.padBefore,
        bottom: ch.count - oh - ch.padBefore + ch.taps - 1,
        left: cw.padBefore,
        right: cw.count - ow - cw.padBefore + cw.taps - 1,
      });
      ctx.free(sub);
      parts.push({ ch, cw, out });
    }
  }
  if (parts.length === 1 && parts[0].out != null) return parts[0].out;
  const dx = ctx.alloc([n, h, w, cin]);
  const dst = ctx.f32(dx);
  for (const { ch, cw, out } of parts) {
    if (out == null) {
      for (let b = 0; b < n; b++)
        for (let m = 0; m < ch.count; m++)
          for (let q = 0; q < cw.count; q++) {
            const o = ((b * h + ch.r + sh * m) * w + cw.r + sw * q) * cin;
            dst.fill(0, o, o + cin);
          }
      continue;
    }
    const src = ctx.f32(out);
    let s = 0;
    for (let b = 0; b < n; b++) {
      for (let m = 0; m < ch.count; m++) {
        let o = ((b * h + ch.r + sh * m) * w + cw.r) * cin;
        const step = sw * cin;
        for (let q = 0; q < cw.count; q++) {
          for (let ci = 0; ci < cin; ci++) dst[o + ci] = src[s + ci];
          s += cin;
          o += step;
        }
      }
    }
  }
  return dx;
}

function inputGradCol2im(ctx: WasmCtx, dy: Info, filter: Info, g: ConvGeometry): Info {
  const { n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, pt, pl } = g;
  const kk = kh * kw * cin;
  // W^T: [Cout, KH*KW*Cin], small, built in JS.
  const wT = ctx.alloc([1, cout, kk]);
  {
    const src = ctx.f32(filter);
    const dst = ctx.f32(wT);
    for (let r = 0; r < kk; r++) for (let co = 0; co < cout; co++) dst[co * kk + r] = src[r * cout + co];
  }
  const a3 = ctx.reshape(dy, [1, n * oh * ow, cout]);
  const dcols = ctx.run('BatchMatMul', { a: a3, b: wT }, { transposeA: false, transposeB: false });
  const dx = ctx.zeros([n, h, w, cin]);
  const src = ctx.f32(dcols);
  const dst = ctx.f32(dx);
  for (let a = 0; a < kh; a++) {
    const [ohLo, ohHi] = validRange(oh, sh, a - pt, h);
    for (let b = 0; b < kw; b++) {
      const [owLo, owHi] = validRange(ow, sw, b - pl, w);
      const tap = (a * kw + b) * cin;
      for (let nb = 0; nb < n; nb++) {
        for (let o = ohLo; o < ohHi; o++) {
          const dRow = (nb * h + o * sh + a - pt) * w;
          let sIdx = ((nb * oh + o) * ow + owLo) * kk + tap;
          for (let q = owLo; q < owHi; q++) {
            const dIdx = (dRow + q * sw + b - pl) * cin;
            for (let ci = 0; ci < cin; ci++) dst[dIdx + ci] += src[sIdx + ci];
            sIdx += kk;
          }
        }
      }
    }
  }
  return dx;
}

/** Computes dx on the wasm backend; exported for tests and benchmarks. */
export function conv2dBackpropInputWasm(
  backend: BackendWasm,
  dy: Info,
  filter: Info,
  attrs: tf.Conv2DBackpropInputAttrs,
  forceRoute?: Exclude<InputGradRoute, 'auto'>,
): Info {
  const g = convGeometry(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.pad,
    attrs.dimRoundingMode,
    attrs.dataFormat,
  );
  if (dy.shape[1] !== g.oh || dy.shape[2] !== g.ow || dy.shape[3] !== g.cout) {
    throw new Error(`Conv2DBackpropInput: dy shape ${dy.shape} does not match the forward output ${[g.n, g.oh, g.ow, g.cout]}`);
  }
  return withCtx(backend, (ctx) => {
    const r = forceRoute ?? pickRoute(g);
    const out = r === 'col2im' ? inputGradCol2im(ctx, dy, filter, g) : inputGradSubpixel(ctx, dy, filter, g);
    return ctx.keep(out);
  });
}

export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as tf.Conv2DBackpropInputInputs;
    return conv2dBackpropInputWasm(
      backend as BackendWasm,
      dy as Info,
      filter as Info,
      attrs as unknown as tf.Conv2DBackpropInputAttrs,
    );
  },
};

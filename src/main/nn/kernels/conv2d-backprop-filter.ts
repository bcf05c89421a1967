/**
 * Conv2DBackpropFilter for the wasm backend, which has no such kernel.
 *
 * dW[kh,kw,ci,co] = sum over (n,oh,ow) of x[n, oh*sh+kh-pt, ow*sw+kw-pl, ci] * dy[n,oh,ow,co]
 *
 * Two routes, both ending in an XNNPACK kernel:
 * - 'im2col': build colsT = [KH*KW*Cin, N*OH*OW] in JS and run one GEMM colsT x dy on XNNPACK's
 *   fully-connected path (the only fast matmul the backend has: no transposes, batch 1). Its result is
 *   already in filter layout. XNNPACK repacks the right-hand operand (dy) on every call, ~8 ns/float.
 * - 'conv': treat input channels as the batch and the batch as channels, i.e. a forward Conv2D of
 *   x^T [Cin,H,W,N] with dy^T [OH,OW,N,Cout] as the filter, dilated by the stride. Same packing cost
 *   (the filter is as big as dy) plus transposes, but no im2col copy: XNNPACK's indirection does the
 *   shifting. Which one wins depends on the shape (pickRoute).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, type ConvGeometry } from './conv-geometry';
import { convExplicit, withCtx, type Info, type WasmCtx } from './ctx';
import { transpose2d, validRange } from './js-loops';

export type FilterGradRoute = 'auto' | 'im2col' | 'conv';

let route: FilterGradRoute = 'auto';

/** Forces one route (benchmarks and tests); 'auto' picks per shape. */
export function setFilterGradRoute(r: FilterGradRoute): void {
  route = r;
}

/**
 * From interleaved A/B runs at batch 64 (GFLOP/s im2col vs conv): 3x3 16x16 32->32 10.3/12.1,
 * 8x8 64->64 13.7/14.4, 96->32 10.4/13.6, stride 2 8.2/8.7, but 32->64 14.0/11.8, 64->64 at 16x16
 * 14.2/12.8; 1x1 64->32 7.9/3.9; 1 input channel 8.0/1.5; 1 output channel 0.5/1.3. The conv route's
 * indirect GEMM has M = Cin*KH*KW rows and N = Cout columns, so it wants Cin large against Cout.
 */
function pickRoute(g: ConvGeometry): Exclude<FilterGradRoute, 'auto'> {
  if (route !== 'auto') return route;
  if (g.cout < 4) return 'conv';
  if (g.kh * g.kw === 1 || g.cin < 8) return 'im2col';
  return g.cin >= g.cout || g.sh > 1 ? 'conv' : 'im2col';
}

/** x^T as [Cin, N*H*W], written by a tiled JS transpose. */
function channelsFirst(ctx: WasmCtx, x: Info): Info {
  const [n, h, w, c] = x.shape;
  const out = ctx.alloc([c, n * h * w]);
  transpose2d(ctx.f32(x), ctx.f32(out), n * h * w, c);
  return out;
}

function filterGradIm2col(ctx: WasmCtx, x: Info, dy: Info, g: ConvGeometry): Info {
  const { n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, pt, pl } = g;
  const cols = n * oh * ow;
  const rows = kh * kw * cin;
  const xT = channelsFirst(ctx, x);
  let colsT: Info;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && pt === 0 && pl === 0 && oh === h && ow === w) {
    colsT = xT;
  } else {
    colsT = ctx.alloc([rows, cols]);
    const src = ctx.f32(xT);
    const dst = ctx.f32(colsT);
    const hw = h * w;
    for (let a = 0; a < kh; a++) {
      const [ohLo, ohHi] = validRange(oh, sh, a - pt, h);
      for (let b = 0; b < kw; b++) {
        const [owLo, owHi] = validRange(ow, sw, b - pl, w);
        for (let ci = 0; ci < cin; ci++) {
          let d = ((a * kw + b) * cin + ci) * cols;
          for (let nb = 0; nb < n; nb++) {
            const plane = (ci * n + nb) * hw;
            for (let o = 0; o < oh; o++) {
              if (o < ohLo || o >= ohHi) {
                dst.fill(0, d, d + ow);
                d += ow;
                continue;
              }
              const rowBase = plane + (o * sh + a - pt) * w + b - pl;
              for (let q = 0; q < owLo; q++) dst[d++] = 0;
              // Plain loops: runs are short (OW floats) and subarray()+set() costs more per call than it saves.
              for (let q = owLo; q < owHi; q++) dst[d++] = src[rowBase + q * sw];
              for (let q = owHi; q < ow; q++) dst[d++] = 0;
            }
          }
        }
      }
    }
    ctx.free(xT);
  }
  const a3 = ctx.reshape(colsT, [1, rows, cols]);
  const b3 = ctx.reshape(dy, [1, cols, cout]);
  const prod = ctx.run('BatchMatMul', { a: a3, b: b3 }, { transposeA: false, transposeB: false });
  return ctx.reshape(prod, [kh, kw, cin, cout]);
}

function filterGradConv(ctx: WasmCtx, x: Info, dy: Info, g: ConvGeometry): Info {
  const { h, w, oh, ow, kh, kw, sh, sw, pt, pl } = g;
  const xT = ctx.transpose(x, [3, 1, 2, 0]);
  const dyT = ctx.transpose(dy, [1, 2, 0, 3]);
  const out = convExplicit(
    ctx,
    xT,
    dyT,
    { top: pt, bottom: kh - h - pt + (oh - 1) * sh, left: pl, right: kw - w - pl + (ow - 1) * sw },
    [1, 1],
    [sh, sw],
  );
  return ctx.transpose(out, [1, 2, 0, 3]);
}

/** Computes dW on the wasm backend; exported for tests and benchmarks. */
export function conv2dBackpropFilterWasm(
  backend: BackendWasm,
  x: Info,
  dy: Info,
  attrs: tf.Conv2DBackpropFilterAttrs,
  forceRoute?: Exclude<FilterGradRoute, 'auto'>,
): Info {
  const g = convGeometry(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.pad,
    attrs.dimRoundingMode,
    attrs.dataFormat,
  );
  if (dy.shape[1] !== g.oh || dy.shape[2] !== g.ow || dy.shape[3] !== g.cout) {
    throw new Error(`Conv2DBackpropFilter: dy shape ${dy.shape} does not match the forward output ${[g.n, g.oh, g.ow, g.cout]}`);
  }
  return withCtx(backend, (ctx) => {
    const r = forceRoute ?? pickRoute(g);
    const out = r === 'conv' ? filterGradConv(ctx, x, dy, g) : filterGradIm2col(ctx, x, dy, g);
    return ctx.keep(out);
  });
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as tf.Conv2DBackpropFilterInputs;
    return conv2dBackpropFilterWasm(
      backend as BackendWasm,
      x as Info,
      dy as Info,
      attrs as unknown as tf.Conv2DBackpropFilterAttrs,
    );
  },
};

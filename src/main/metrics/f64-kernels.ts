/**
 * Float64 SIMD kernels for the FID linear algebra, as a tiny WebAssembly module assembled here.
 *
 * Why: plain JavaScript multiplies float64 at ~1.2 GFMA/s on the 2-core target machine, which makes
 * 2048-d covariances and the Frechet square root take tens of seconds (architecture.md, "Library facts");
 * TF.js only multiplies float32, and the matrix square root needs float64 (its small eigenvalues are
 * swamped by float32 round-off). WebAssembly's f64x2 SIMD (in Node since v16, no flags) gets several
 * times the scalar rate. The module is emitted byte by byte rather than shipped as a .wasm file so the
 * CLI bundle, the Electron main process and vitest all load it the same way, with no asset path.
 *
 * All pointers are byte offsets into the module's own memory (`heap`). Matrices inside are column-major
 * (column j of an n-row matrix with leading dimension ld starts at byte `base + 8*j*ld`).
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

// ---- minimal WebAssembly binary encoder (only what the kernels below use) ----

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function str(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

/** Instruction emitters; local indices are plain numbers. */
const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  f64zero: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  i32add: [0x6a],
  i32sub: [0x6b],
  i32mul: [0x6c],
  i32shl: [0x74],
  i32and: [0x71],
  i32eqz: [0x45],
  i32gtS: [0x4a],
  i32ltS: [0x48],
  f64add: [0xa0],
  f64mul: [0xa2],
  f64load: (offset = 0) => [0x2b, 3, ...uleb(offset)],
  f64store: (offset = 0) => [0x39, 3, ...uleb(offset)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d: number) => [0x0c, ...uleb(d)],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  v128load: (offset = 0) => [0xfd, ...uleb(0x00), 3, ...uleb(offset)],
  v128store: (offset = 0) => [0xfd, ...uleb(0x0b), 3, ...uleb(offset)],
  loadSplat: (offset = 0) => [0xfd, ...uleb(0x0a), 3, ...uleb(offset)],
  v128zero: [0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0)],
  f64x2splat: [0xfd, ...uleb(0x14)],
  f64x2lane: (l: number) => [0xfd, ...uleb(0x21), l],
  f64x2add: [0xfd, ...uleb(0xf0)],
  f64x2mul: [0xfd, ...uleb(0xf2)],
};

interface FuncDef {
  name: string;
  params: number[];
  results: number[];
  locals: number[];
  body: number[][];
}

function assemble(funcs: FuncDef[], memoryPages: number, maxPages: number): Uint8Array<ArrayBuffer> {
  const types: number[] = [...uleb(funcs.length)];
  for (const f of funcs) types.push(0x60, ...uleb(f.params.length), ...f.params, ...uleb(f.results.length), ...f.results);
  // shared memory (limits flag 3) so helper threads can run kernels on the same matrices
  const imports = [...uleb(1), ...str('env'), ...str('memory'), 0x02, 0x03, ...uleb(memoryPages), ...uleb(maxPages)];
  const fsec = [...uleb(funcs.length), ...funcs.flatMap((_, i) => uleb(i))];
  const exports = [...uleb(funcs.length), ...funcs.flatMap((f, i) => [...str(f.name), 0x00, ...uleb(i)])];
  const code: number[] = [...uleb(funcs.length)];
  for (const f of funcs) {
    const groups: number[] = [];
    let count = 0;
    for (let i = 0; i < f.locals.length; i++) {
      const t = f.locals[i]!;
      let run = 1;
      while (f.locals[i + run] === t) run++;
      groups.push(...uleb(run), t);
      count++;
      i += run - 1;
    }
    const body = [...uleb(count), ...groups, ...f.body.flat(), 0x0b];
    code.push(...uleb(body.length), ...body);
  }
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, fsec),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

// ---- kernels ----

/**
 * gemm4(kc, p, q, qStride, nt, c, ldc): for r in 0..3 and tiles t < nt, c in 0..3
 *   C[r][4t+c] += sum_{k<kc} P[k][r] * Q_t[k][c]
 * P is a packed panel (kc groups of 4 doubles), Q_t the t-th packed panel at q + t*qStride,
 * row r of C starts at byte c + r*ldc and is contiguous. A 4x4 register tile (8 f64x2 accumulators)
 * keeps the loop at 16 multiply-adds per 6 loads.
 */
function gemm4Def(): FuncDef {
  const [kc, p, q, qs, nt, c, ldc] = [0, 1, 2, 3, 4, 5, 6];
  const [pp, qq, k, cc] = [7, 8, 9, 10];
  const b0 = 11, b1 = 12, a = 13, acc = 14; // acc..acc+7
  const body: number[][] = [];
  body.push(op.block, op.loop); // tiles
  for (let i = 0; i < 8; i++) body.push(op.v128zero, op.set(acc + i));
  body.push(op.get(p), op.set(pp), op.get(q), op.set(qq), op.get(kc), op.set(k));
  body.push(op.loop);
  body.push(op.get(qq), op.v128load(0), op.set(b0), op.get(qq), op.v128load(16), op.set(b1));
  for (let r = 0; r < 4; r++) {
    body.push(op.get(pp), op.loadSplat(8 * r), op.set(a));
    body.push(op.get(acc + 2 * r), op.get(a), op.get(b0), op.f64x2mul, op.f64x2add, op.set(acc + 2 * r));
    body.push(op.get(acc + 2 * r + 1), op.get(a), op.get(b1), op.f64x2mul, op.f64x2add, op.set(acc + 2 * r + 1));
  }
  body.push(op.get(pp), op.i32(32), op.i32add, op.set(pp));
  body.push(op.get(qq), op.i32(32), op.i32add, op.set(qq));
  body.push(op.get(k), op.i32(1), op.i32sub, op.tee(k), op.i32(0), op.i32gtS, op.brIf(0), op.end);
  body.push(op.get(c), op.set(cc));
  for (let r = 0; r < 4; r++) {
    if (r > 0) body.push(op.get(cc), op.get(ldc), op.i32add, op.set(cc));
    for (let h = 0; h < 2; h++) {
      body.push(op.get(cc), op.get(cc), op.v128load(16 * h), op.get(acc + 2 * r + h), op.f64x2add, op.v128store(16 * h));
    }
  }
  body.push(op.get(q), op.get(qs), op.i32add, op.set(q));
  body.push(op.get(c), op.i32(32), op.i32add, op.set(c));
  body.push(op.get(nt), op.i32(1), op.i32sub, op.tee(nt), op.i32(0), op.i32gtS, op.brIf(0), op.end, op.end);
  return {
    name: 'gemm4',
    params: [I32, I32, I32, I32, I32, I32, I32],
    results: [],
    locals: [I32, I32, I32, I32, V128, V128, V128, ...new Array<number>(8).fill(V128)],
    body,
  };
}

/** dotAxpy(n, a, x, y, alpha) -> sum a[i]*x[i], and y[i] += alpha*a[i]: one pass over a (the symv column step). */
function dotAxpyDef(): FuncDef {
  const [n, a, x, y, alpha] = [0, 1, 2, 3, 4];
  const [s, al, va, end2, i, tail] = [5, 6, 7, 8, 9, 10];
  const body: number[][] = [];
  body.push(op.v128zero, op.set(s), op.get(alpha), op.f64x2splat, op.set(al));
  // end2 = a + 8*(n & ~1)
  body.push(op.get(n), op.i32(-2), op.i32and, op.i32(3), op.i32shl, op.set(end2));
  body.push(op.i32(0), op.set(i));
  body.push(op.block, op.get(end2), op.i32eqz, op.brIf(0), op.loop);
  body.push(op.get(a), op.get(i), op.i32add, op.v128load(0), op.set(va));
  body.push(op.get(s), op.get(va), op.get(x), op.get(i), op.i32add, op.v128load(0), op.f64x2mul, op.f64x2add, op.set(s));
  body.push(op.get(y), op.get(i), op.i32add, op.get(y), op.get(i), op.i32add, op.v128load(0), op.get(va), op.get(al), op.f64x2mul, op.f64x2add, op.v128store(0));
  body.push(op.get(i), op.i32(16), op.i32add, op.tee(i), op.get(end2), op.i32ltS, op.brIf(0), op.end, op.end);
  // scalar tail (n odd)
  body.push(op.get(s), op.f64x2lane(0), op.get(s), op.f64x2lane(1), op.f64add, op.set(tail));
  body.push(op.block, op.get(n), op.i32(1), op.i32and, op.i32eqz, op.brIf(0));
  body.push(op.get(tail), op.get(a), op.get(end2), op.i32add, op.f64load(), op.get(x), op.get(end2), op.i32add, op.f64load(), op.f64mul, op.f64add, op.set(tail));
  body.push(op.get(y), op.get(end2), op.i32add, op.get(y), op.get(end2), op.i32add, op.f64load(), op.get(alpha), op.get(a), op.get(end2), op.i32add, op.f64load(), op.f64mul, op.f64add, op.f64store());
  body.push(op.end, op.get(tail));
  return {
    name: 'dotAxpy',
    params: [I32, I32, I32, I32, F64],
    results: [F64],
    locals: [V128, V128, V128, I32, I32, F64],
    body,
  };
}

/** axpy(n, alpha, x, y): y[i] += alpha*x[i]. */
function axpyDef(): FuncDef {
  const [n, alpha, x, y] = [0, 1, 2, 3];
  const [al, end2, i] = [4, 5, 6];
  const body: number[][] = [];
  body.push(op.get(alpha), op.f64x2splat, op.set(al));
  body.push(op.get(n), op.i32(-2), op.i32and, op.i32(3), op.i32shl, op.set(end2));
  body.push(op.i32(0), op.set(i));
  body.push(op.block, op.get(end2), op.i32eqz, op.brIf(0), op.loop);
  body.push(op.get(y), op.get(i), op.i32add, op.get(y), op.get(i), op.i32add, op.v128load(0), op.get(x), op.get(i), op.i32add, op.v128load(0), op.get(al), op.f64x2mul, op.f64x2add, op.v128store(0));
  body.push(op.get(i), op.i32(16), op.i32add, op.tee(i), op.get(end2), op.i32ltS, op.brIf(0), op.end, op.end);
  body.push(op.block, op.get(n), op.i32(1), op.i32and, op.i32eqz, op.brIf(0));
  body.push(op.get(y), op.get(end2), op.i32add, op.get(y), op.get(end2), op.i32add, op.f64load(), op.get(alpha), op.get(x), op.get(end2), op.i32add, op.f64load(), op.f64mul, op.f64add, op.f64store());
  body.push(op.end);
  return { name: 'axpy', params: [I32, F64, I32, I32], results: [], locals: [V128, I32, I32], body };
}

/** dot(n, x, y) -> sum x[i]*y[i]. */
function dotDef(): FuncDef {
  const [n, x, y] = [0, 1, 2];
  const [s, end2, i, tail] = [3, 4, 5, 6];
  const body: number[][] = [];
  body.push(op.v128zero, op.set(s));
  body.push(op.get(n), op.i32(-2), op.i32and, op.i32(3), op.i32shl, op.set(end2));
  body.push(op.i32(0), op.set(i));
  body.push(op.block, op.get(end2), op.i32eqz, op.brIf(0), op.loop);
  body.push(op.get(s), op.get(x), op.get(i), op.i32add, op.v128load(0), op.get(y), op.get(i), op.i32add, op.v128load(0), op.f64x2mul, op.f64x2add, op.set(s));
  body.push(op.get(i), op.i32(16), op.i32add, op.tee(i), op.get(end2), op.i32ltS, op.brIf(0), op.end, op.end);
  body.push(op.get(s), op.f64x2lane(0), op.get(s), op.f64x2lane(1), op.f64add, op.set(tail));
  body.push(op.block, op.get(n), op.i32(1), op.i32and, op.i32eqz, op.brIf(0));
  body.push(op.get(tail), op.get(x), op.get(end2), op.i32add, op.f64load(), op.get(y), op.get(end2), op.i32add, op.f64load(), op.f64mul, op.f64add, op.set(tail));
  body.push(op.end, op.get(tail));
  return { name: 'dot', params: [I32, I32, I32], results: [F64], locals: [V128, I32, I32, F64], body };
}

/**
 * symv(m, a, lda8, x, y, c0, c1): y += A(:, c0:c1) x(c0:c1) + A(c0:c1, :)^T-part, i.e. the share of
 * y = A x contributed by columns c0..c1-1 of the m x m symmetric matrix whose lower triangle is stored
 * column-major at a (lda8 = bytes between columns). c0 must be even, and c1 even unless it is m.
 * Two columns per pass share the loads of x and y, and four independent accumulators keep the dot
 * products from waiting on add latency; this is the memory-bound half of tridiagonalisation.
 */
function symvDef(): FuncDef {
  const [m, a, lda8, x, y, c0, c1] = [0, 1, 2, 3, 4, 5, 6];
  let next = 7;
  const L = () => next++;
  const c = L(), col0 = L(), col1 = L(), o = L(), end4 = L(), endAll = L(), b0 = L(), b1 = L(), xb = L(), yb = L();
  const x0 = L(), x1 = L(), s0 = L(), s1 = L(), av0 = L(), av1 = L(), xr = L();
  const sx0 = L(), sx1 = L(), t0a = L(), t0b = L(), t1a = L(), t1b = L(), va0 = L(), va1 = L(), vx = L();
  const locals = [...new Array<number>(10).fill(I32), ...new Array<number>(7).fill(F64), ...new Array<number>(9).fill(V128)];
  const body: number[][] = [];
  const addr = (p: number, off: number) => [op.get(p), op.get(o), op.i32add, ...(off ? [op.i32(off), op.i32add] : [])].flat();
  body.push(op.get(c0), op.set(c));
  // while (c + 1 < c1)
  body.push(op.block, op.loop);
  body.push(op.get(c), op.i32(1), op.i32add, op.get(c1), op.i32ltS, op.i32eqz, op.brIf(1));
  // col0 = a + c*lda8 + 8c ; col1 = col0 + lda8 + 8
  body.push(op.get(a), op.get(c), op.get(lda8), op.i32mul, op.i32add, op.get(c), op.i32(3), op.i32shl, op.i32add, op.set(col0));
  body.push(op.get(col0), op.get(lda8), op.i32add, op.i32(8), op.i32add, op.set(col1));
  body.push(op.get(x), op.get(c), op.i32(3), op.i32shl, op.i32add, op.tee(xb), op.f64load(0), op.set(x0));
  body.push(op.get(xb), op.f64load(8), op.set(x1));
  body.push(op.get(x0), op.f64x2splat, op.set(sx0), op.get(x1), op.f64x2splat, op.set(sx1));
  body.push(op.get(xb), op.i32(16), op.i32add, op.set(xb));
  body.push(op.get(y), op.get(c), op.i32(3), op.i32shl, op.i32add, op.i32(16), op.i32add, op.set(yb));
  body.push(op.get(col0), op.i32(16), op.i32add, op.set(b0), op.get(col1), op.i32(8), op.i32add, op.set(b1));
  // rows below the 2x2 diagonal block: len = m - c - 2
  body.push(op.get(m), op.get(c), op.i32sub, op.i32(2), op.i32sub, op.i32(3), op.i32shl, op.tee(endAll));
  body.push(op.i32(-32), op.i32and, op.set(end4));
  for (const v of [t0a, t0b, t1a, t1b]) body.push(op.v128zero, op.set(v));
  body.push(op.f64zero, op.set(s0), op.f64zero, op.set(s1));
  body.push(op.i32(0), op.set(o));
  body.push(op.block, op.get(end4), op.i32eqz, op.brIf(0), op.loop);
  for (const [half, ta, tb] of [[0, t0a, t1a], [16, t0b, t1b]] as const) {
    body.push(addr(xb, half), op.v128load(0), op.set(vx));
    body.push(addr(b0, half), op.v128load(0), op.set(va0));
    body.push(addr(b1, half), op.v128load(0), op.set(va1));
    body.push(op.get(ta), op.get(va0), op.get(vx), op.f64x2mul, op.f64x2add, op.set(ta));
    body.push(op.get(tb), op.get(va1), op.get(vx), op.f64x2mul, op.f64x2add, op.set(tb));
    body.push(addr(yb, half), addr(yb, half), op.v128load(0));
    body.push(op.get(va0), op.get(sx0), op.f64x2mul, op.f64x2add, op.get(va1), op.get(sx1), op.f64x2mul, op.f64x2add, op.v128store(0));
  }
  body.push(op.get(o), op.i32(32), op.i32add, op.tee(o), op.get(end4), op.i32ltS, op.brIf(0), op.end, op.end);
  // scalar remainder rows
  body.push(op.block, op.loop, op.get(o), op.get(endAll), op.i32ltS, op.i32eqz, op.brIf(1));
  body.push(addr(xb, 0), op.f64load(0), op.set(xr));
  body.push(addr(b0, 0), op.f64load(0), op.set(av0), addr(b1, 0), op.f64load(0), op.set(av1));
  body.push(op.get(s0), op.get(av0), op.get(xr), op.f64mul, op.f64add, op.set(s0));
  body.push(op.get(s1), op.get(av1), op.get(xr), op.f64mul, op.f64add, op.set(s1));
  body.push(addr(yb, 0), addr(yb, 0), op.f64load(0), op.get(av0), op.get(x0), op.f64mul, op.f64add, op.get(av1), op.get(x1), op.f64mul, op.f64add, op.f64store(0));
  body.push(op.get(o), op.i32(8), op.i32add, op.set(o), op.br(0), op.end, op.end);
  // y[c] += A(c,c) x0 + A(c+1,c) x1 + dot0 ; y[c+1] += A(c+1,c) x0 + A(c+1,c+1) x1 + dot1
  body.push(op.get(yb), op.i32(16), op.i32sub, op.set(yb));
  body.push(op.get(t0a), op.get(t0b), op.f64x2add, op.set(t0a), op.get(t1a), op.get(t1b), op.f64x2add, op.set(t1a));
  body.push(op.get(yb), op.get(yb), op.f64load(0));
  body.push(op.get(col0), op.f64load(0), op.get(x0), op.f64mul, op.f64add);
  body.push(op.get(col0), op.f64load(8), op.get(x1), op.f64mul, op.f64add);
  body.push(op.get(t0a), op.f64x2lane(0), op.f64add, op.get(t0a), op.f64x2lane(1), op.f64add, op.get(s0), op.f64add, op.f64store(0));
  body.push(op.get(yb), op.get(yb), op.f64load(8));
  body.push(op.get(col0), op.f64load(8), op.get(x0), op.f64mul, op.f64add);
  body.push(op.get(col1), op.f64load(0), op.get(x1), op.f64mul, op.f64add);
  body.push(op.get(t1a), op.f64x2lane(0), op.f64add, op.get(t1a), op.f64x2lane(1), op.f64add, op.get(s1), op.f64add, op.f64store(8));
  body.push(op.get(c), op.i32(2), op.i32add, op.set(c), op.br(0), op.end, op.end);
  // odd m: the last diagonal entry (only reached with c1 = m)
  body.push(op.block, op.get(c), op.get(c1), op.i32ltS, op.i32eqz, op.brIf(0));
  body.push(op.get(y), op.get(c), op.i32(3), op.i32shl, op.i32add, op.tee(yb));
  body.push(op.get(yb), op.f64load(0));
  body.push(op.get(a), op.get(c), op.get(lda8), op.i32mul, op.i32add, op.get(c), op.i32(3), op.i32shl, op.i32add, op.f64load(0));
  body.push(op.get(x), op.get(c), op.i32(3), op.i32shl, op.i32add, op.f64load(0), op.f64mul, op.f64add, op.f64store(0));
  body.push(op.end);
  return { name: 'symv', params: [I32, I32, I32, I32, I32, I32, I32], results: [], locals, body };
}

interface KernelExports {
  symv(m: number, a: number, lda8: number, x: number, y: number, c0: number, c1: number): void;
  gemm4(kc: number, p: number, q: number, qStride: number, nt: number, c: number, ldc: number): void;
  dotAxpy(n: number, a: number, x: number, y: number, alpha: number): number;
  axpy(n: number, alpha: number, x: number, y: number): void;
  dot(n: number, x: number, y: number): number;
}

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/**
 * A work item is ITEM int32s: a kind, then up to 7 arguments.
 *   kind 0: gemm4(kc, p, q, qStride, nt, c, ldc)
 *   kind 1: symv(m, a, lda8, x, y, c0, c1)
 * Which thread runs an item varies from run to run, so items must produce the same bits wherever they
 * run: each writes its own outputs, and partial results are combined by the caller in a fixed order.
 */
export const ITEM = 8;

/**
 * Helper threads share the kernel memory and take work items from a list, one at a time, through an
 * atomic counter (dynamic load balancing; the calling thread works too, so a helper that starts late
 * or never only costs speed). `job` holds [list pointer, count, next item, error flag]; each helper has
 * its own state word: 0 idle, 1 job posted, 2 running, 3 done, 4 shut down. The caller blocks in
 * Atomics.wait, so every product stays an ordinary synchronous call.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, job: jobBuffer, state: stateBuffer } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const job = new Int32Array(jobBuffer);
const state = new Int32Array(stateBuffer);
for (;;) {
  const s = Atomics.load(state, 0);
  if (s === 4) break;
  if (s !== 1) { Atomics.wait(state, 0, s); continue; }
  if (Atomics.compareExchange(state, 0, 1, 2) !== 1) continue;
  try {
    const it = new Int32Array(memory.buffer);
    const ptr = Atomics.load(job, 0) >>> 2, count = Atomics.load(job, 1);
    for (let i = Atomics.add(job, 2, 1); i < count; i = Atomics.add(job, 2, 1)) {
      const o = ptr + ${ITEM} * i;
      if (it[o] === 0) k.gemm4(it[o + 1], it[o + 2], it[o + 3], it[o + 4], it[o + 5], it[o + 6], it[o + 7]);
      else k.symv(it[o + 1], it[o + 2], it[o + 3], it[o + 4], it[o + 5], it[o + 6], it[o + 7]);
    }
  } catch {
    Atomics.store(job, 3, 1);
  }
  Atomics.store(state, 0, 3);
  Atomics.notify(state, 0);
}
`;

/** Threads products may use (caller included); by default the machine's cores, at most 4. */
let threadSetting: number | null = null;

export function setMetricThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`metric threads must be a positive integer, got ${n}`);
  threadSetting = n;
  heap?.resizeHelpers(n - 1);
}

function defaultThreads(): number {
  const env = Number(process.env.XLAB_METRIC_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return Math.max(1, Math.min(4, availableParallelism()));
}

interface Helper {
  worker: Worker;
  state: Int32Array;
}

/** Blocks until state[0] !== value; spins where the thread may not block (a browser main thread). */
function waitWhile(state: Int32Array, value: number): void {
  while (Atomics.load(state, 0) === value) {
    try {
      Atomics.wait(state, 0, value, 1000);
    } catch {
      // Atomics.wait is not allowed here: poll
    }
  }
}

/**
 * The kernels plus a bump allocator over their memory. Callers take a `mark()`, allocate, and
 * `release(mark)` when done; views (`f64`) must be re-read after any allocation because growing the
 * memory replaces its buffer.
 */
class F64Heap {
  readonly memory: WebAssembly.Memory;
  readonly k: KernelExports;
  private readonly module: WebAssembly.Module;
  private top = 64; // keep 0 free so a zero pointer is never a live array
  private readonly job = new Int32Array(new SharedArrayBuffer(4 * 4));
  private helpers: Helper[] = [];

  constructor(helperCount: number) {
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const bytes = assemble([gemm4Def(), dotAxpyDef(), axpyDef(), dotDef(), symvDef()], 16, MAX_PAGES);
    this.module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.k = instance.exports as unknown as KernelExports;
    this.resizeHelpers(helperCount);
  }

  resizeHelpers(count: number): void {
    count = Math.max(0, Math.min(count, 15));
    while (this.helpers.length > count) {
      const h = this.helpers.pop()!;
      Atomics.store(h.state, 0, 4);
      Atomics.notify(h.state, 0);
    }
    while (this.helpers.length < count) {
      const state = new Int32Array(new SharedArrayBuffer(4));
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: { module: this.module, memory: this.memory, job: this.job.buffer, state: state.buffer },
        });
      } catch {
        return; // no threads here: the caller does all the work
      }
      worker.unref();
      worker.on('error', () => Atomics.store(state, 0, 4));
      this.helpers.push({ worker, state });
    }
  }

  /** Threads that run items, the caller included. */
  get threads(): number {
    return 1 + this.helpers.length;
  }

  /**
   * Runs the work items listed at byte `ptr` (count x ITEM int32) on all threads and returns when all
   * are done. Items must not write what other items read or write.
   */
  runItems(ptr: number, count: number): void {
    const job = this.job;
    const helpers = count > 1 ? this.helpers : [];
    Atomics.store(job, 0, ptr);
    Atomics.store(job, 1, count);
    Atomics.store(job, 2, 0);
    for (const h of helpers) {
      if (Atomics.compareExchange(h.state, 0, 0, 1) === 0) Atomics.notify(h.state, 0);
    }
    const it = new Int32Array(this.memory.buffer);
    const base = ptr / 4;
    const { gemm4, symv } = this.k;
    for (let i = Atomics.add(job, 2, 1); i < count; i = Atomics.add(job, 2, 1)) {
      const o = base + ITEM * i;
      if (it[o] === 0) gemm4(it[o + 1]!, it[o + 2]!, it[o + 3]!, it[o + 4]!, it[o + 5]!, it[o + 6]!, it[o + 7]!);
      else symv(it[o + 1]!, it[o + 2]!, it[o + 3]!, it[o + 4]!, it[o + 5]!, it[o + 6]!, it[o + 7]!);
    }
    for (const h of helpers) {
      // withdraw a job the helper never picked up; otherwise wait until it has finished its last item
      if (Atomics.compareExchange(h.state, 0, 1, 0) === 1) continue;
      waitWhile(h.state, 2);
      Atomics.compareExchange(h.state, 0, 3, 0);
    }
    if (Atomics.exchange(job, 3, 0) !== 0) throw new Error('a float64 kernel failed in a helper thread');
  }

  /** Byte offset of a fresh, 64-byte aligned block of `count` doubles (zero-filled unless `zero` is false). */
  alloc(count: number, zero = true): number {
    const ptr = Math.ceil(this.top / 64) * 64; // no bitwise ops: offsets pass 2^31
    const end = ptr + 8 * count;
    if (end > MAX_PAGES * PAGE - PAGE) throw new Error(`f64 workspace exhausted: ${(end / 2 ** 30).toFixed(2)} GiB requested`);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    if (zero) new Float64Array(this.memory.buffer, ptr, count).fill(0);
    return ptr;
  }

  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }

  /** A view over the whole memory; index = byteOffset / 8. */
  get f64(): Float64Array {
    return new Float64Array(this.memory.buffer);
  }

  get i32(): Int32Array {
    return new Int32Array(this.memory.buffer);
  }
}

let heap: F64Heap | null = null;

/** The process-wide kernel instance (compiled on first use; a few KB, a few ms). */
export function f64Heap(): F64Heap {
  heap ??= new F64Heap((threadSetting ?? defaultThreads()) - 1);
  return heap;
}

export type { F64Heap };

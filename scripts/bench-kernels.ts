/**
 * Micro-benchmark of the wasm training kernels: GFLOP/s of the forward convolution, the filter and
 * input gradients (each route, and wasm's built-in input gradient as the "before"), a stack of convs
 * trained end to end, and a full bench-s-mnist16 training step when the U-Net is present.
 *
 *   npx tsx scripts/bench-kernels.ts [--quick] [--profile] [--batch 64] [--no-unet] [--no-convs] [--wall]
 *                                    [--dw-route auto|im2col|conv] [--only-conv-grads] [--builtin-dx]
 *
 * Times are the best of several runs, in CPU time of this process (see best()).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { initBackend } from '../src/main/nn/backend';
import { conv2dBackpropFilterWasm, setFilterGradRoute, type FilterGradRoute } from '../src/main/nn/kernels/conv2d-backprop-filter';
import { conv2dBackpropInputWasm, type InputGradRoute } from '../src/main/nn/kernels/conv2d-backprop-input';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = flag('--quick');
const batch = option('--batch', 64);
const reps = quick ? 3 : 8;

/**
 * Best time (ms) of `n` calls after one warm-up call. CPU time of this process, not wall time: the
 * backend is single-threaded, so on an idle machine the two agree, and on a shared one CPU time is not
 * inflated by other processes taking the core (`--wall` to use wall time).
 */
const wall = flag('--wall');
function now(): number {
  if (wall) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
function best(f: () => void, n = reps): number {
  f();
  let ms = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = now();
    f();
    ms = Math.min(ms, now() - t0);
  }
  return ms;
}

const gflops = (flops: number, ms: number) => flops / ms / 1e6;
const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(1).padStart(6) : '     -');

// The built-in wasm kernels, captured before initBackend replaces them: the "before" figures.
await tf.setBackend('wasm');
await tf.ready();
const builtins = new Map(tf.getKernelsForBackend('wasm').map((k) => [k.kernelName, k]));
const builtinInputGrad = builtins.get('Conv2DBackpropInput')!.kernelFunc;
await initBackend('wasm', 'train');
const backend = tf.backend() as BackendWasm;
// --only-conv-grads: keep just the two convolution gradient kernels (and wasm's own everything else),
// to see what the other replacements are worth in the training step; --builtin-dx: wasm's input gradient.
if (flag('--only-conv-grads') || flag('--builtin-dx')) {
  const keep = new Set(flag('--builtin-dx') ? ['Conv2DBackpropFilter'] : ['Conv2DBackpropFilter', 'Conv2DBackpropInput']);
  if (flag('--builtin-dx') && !flag('--only-conv-grads')) for (const k of tf.getKernelsForBackend('wasm')) if (k.kernelName !== 'Conv2DBackpropInput') keep.add(k.kernelName);
  for (const k of tf.getKernelsForBackend('wasm')) {
    const original = builtins.get(k.kernelName);
    if (keep.has(k.kernelName) || original == null || original === k) continue;
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(original);
  }
}
const routeArg = args.indexOf('--dw-route');
if (routeArg >= 0) setFilterGradRoute(args[routeArg + 1] as FilterGradRoute);

interface ConvShape {
  h: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
}

const shapes: ConvShape[] = [
  { h: 16, cin: 32, cout: 32, k: 3, stride: 1 },
  { h: 8, cin: 64, cout: 64, k: 3, stride: 1 },
  { h: 16, cin: 1, cout: 32, k: 3, stride: 1 },
  { h: 16, cin: 32, cout: 32, k: 3, stride: 2 },
  { h: 16, cin: 96, cout: 32, k: 3, stride: 1 },
  { h: 8, cin: 128, cout: 64, k: 3, stride: 1 },
  { h: 16, cin: 32, cout: 1, k: 3, stride: 1 },
  { h: 16, cin: 64, cout: 32, k: 1, stride: 1 },
  { h: 8, cin: 96, cout: 64, k: 1, stride: 1 },
];

/** The U-Net's padding: (k-1)/2 on every side, explicit for stride 2 (as PyTorch). */
function padOf(s: ConvShape): 'same' | 'valid' | tf.backend_util.ExplicitPadding {
  if (s.k === 1) return 'valid';
  if (s.stride === 1) return 'same';
  const p = (s.k - 1) / 2;
  return [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
}

console.log(`wasm kernels, batch ${batch}, GFLOP/s (best of ${reps}); one core, machine shared`);
if (!flag('--no-convs')) {
console.log(
  'shape                     fwd | dW auto im2col   conv | dX auto subpix col2im builtin',
);
for (const s of shapes) {
  const pad = padOf(s);
  const x = tf.randomNormal([batch, s.h, s.h, s.cin], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([s.k, s.k, s.cin, s.cout], 0, 1, 'float32', 2) as tf.Tensor4D;
  const y = tf.conv2d(x, w, s.stride, pad);
  const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
  const flops = 2 * batch * y.shape[1] * y.shape[2] * s.cout * s.k * s.k * s.cin;
  y.dispose();
  // Fresh weights on every call, as in training (XNNPACK repacks a new filter).
  const fwd = best(() => {
    const w2 = tf.add(w, 0) as tf.Tensor4D;
    tf.conv2d(x, w2, s.stride, pad).dispose();
    w2.dispose();
  });
  const fAttrs = { strides: s.stride, pad, dataFormat: 'NHWC' as const, filterShape: [s.k, s.k, s.cin, s.cout] as [number, number, number, number] };
  const dW = (r?: Exclude<FilterGradRoute, 'auto'>) =>
    best(() => backend.disposeData(conv2dBackpropFilterWasm(backend, x, dy, fAttrs, r).dataId));
  const iAttrs = { strides: s.stride, pad, dataFormat: 'NHWC' as const, inputShape: [batch, s.h, s.h, s.cin] as [number, number, number, number] };
  const dX = (r?: Exclude<InputGradRoute, 'auto'>) =>
    best(() => backend.disposeData(conv2dBackpropInputWasm(backend, dy, w, iAttrs, r).dataId));
  const builtin = quick
    ? NaN
    : best(() => {
        const out = builtinInputGrad({ inputs: { dy, filter: w }, backend, attrs: iAttrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
        backend.disposeData(out.dataId);
      }, 2);
  const label = `${batch}x${s.h}x${s.h}x${s.cin}->${s.cout} k${s.k} s${s.stride}`.padEnd(24);
  console.log(
    `${label}${fmt(gflops(flops, fwd))} |${fmt(gflops(flops, dW()))} ${fmt(gflops(flops, dW('im2col')))} ${fmt(gflops(flops, dW('conv')))} |` +
      `${fmt(gflops(flops, dX()))} ${fmt(gflops(flops, dX('subpixel')))} ${fmt(gflops(flops, dX('col2im')))} ${fmt(gflops(flops, builtin))}`,
  );
  tf.dispose([x, w, dy]);
}

// A stack of the shapes above trained end to end: forward, then both gradients of every conv.
{
  const specs: ConvShape[] = [
    { h: 16, cin: 1, cout: 32, k: 3, stride: 1 },
    { h: 16, cin: 32, cout: 32, k: 3, stride: 1 },
    { h: 16, cin: 32, cout: 32, k: 3, stride: 2 },
    { h: 8, cin: 32, cout: 64, k: 3, stride: 1 },
    { h: 8, cin: 64, cout: 64, k: 3, stride: 1 },
    { h: 8, cin: 64, cout: 64, k: 1, stride: 1 },
  ];
  const ws = specs.map((s, i) => tf.variable(tf.randomNormal([s.k, s.k, s.cin, s.cout], 0, Math.sqrt(1 / (s.k * s.k * s.cin)), 'float32', 10 + i)));
  const x = tf.randomNormal([batch, 16, 16, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
  const flops = specs.reduce((f, s) => f + 2 * batch * (s.h / s.stride) ** 2 * s.cout * s.k * s.k * s.cin, 0);
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        let h: tf.Tensor4D = x;
        specs.forEach((s, i) => (h = tf.conv2d(h, ws[i] as unknown as tf.Tensor4D, s.stride, padOf(s))));
        return tf.mean(tf.square(h)) as tf.Scalar;
      });
      value.dataSync();
      tf.dispose(grads);
    });
  const ms = best(step);
  console.log(`conv stack (${specs.length} convs) forward+backward: ${(ms).toFixed(0)} ms, ${fmt(gflops(3 * flops, ms))} GFLOP/s`);
  tf.dispose([x, ...ws]);
}

}

// The full training step of bench-s-mnist16, when the U-Net exists (written in parallel).
const unetPath = new URL('../src/main/nn/unet.ts', import.meta.url);
if (!flag('--no-unet') && existsSync(unetPath)) {
  const unet = await import('../src/main/nn/unet');
  const { presetByName } = await import('../src/main/nn/presets');
  const cfg = presetByName('bench-s-mnist16');
  const params = unet.initParams(cfg, 0);
  const fwdFlops = unet.forwardFlops(cfg);
  const x = tf.randomNormal([batch, cfg.imageSize, cfg.imageSize, cfg.inChannels], 0, 1, 'float32', 21) as tf.Tensor4D;
  const eps = tf.randomNormal(x.shape, 0, 1, 'float32', 22);
  const t = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 37) % 1000), 'float32');
  const vars = [...params.values()];
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.square(tf.sub(unet.forward(params, cfg, x, t, { training: true, dropoutSeed: 1 }), eps))) as tf.Scalar,
        vars,
      );
      value.dataSync();
      tf.dispose(grads);
    });
  const fwd = () => tf.tidy(() => void unet.forward(params, cfg, x, t, { training: false }).dataSync());
  const stepMs = best(step, quick ? 2 : 5);
  const fwdMs = best(fwd, quick ? 2 : 5);
  const imgPerS = batch / (stepMs / 1000);
  console.log(
    `bench-s-mnist16 (${(fwdFlops / 1e9).toFixed(4)} GFLOP/img) train step ${stepMs.toFixed(0)} ms = ${imgPerS.toFixed(1)} img/s = ` +
      `${((3 * fwdFlops * imgPerS) / 1e9).toFixed(2)} train GFLOP/s; forward ${fwdMs.toFixed(0)} ms = ${((fwdFlops * batch) / fwdMs / 1e6).toFixed(2)} GFLOP/s`,
  );
  if (flag('--profile')) {
    // Kernel time per kernel name (and the heaviest name+shape pairs) over one training step.
    const prof = await tf.profile(() => step());
    const byName = new Map<string, { ms: number; n: number }>();
    const byShape = new Map<string, { ms: number; n: number }>();
    let total = 0;
    for (const k of prof.kernels) {
      const ms = Number(k.kernelTimeMs);
      total += ms;
      for (const [map, key] of [
        [byName, k.name],
        [byShape, `${k.name} ${JSON.stringify(k.inputShapes)}`],
      ] as const) {
        const e = map.get(key) ?? { ms: 0, n: 0 };
        e.ms += ms;
        e.n++;
        map.set(key, e);
      }
    }
    console.log(`profile: ${prof.kernels.length} kernels, ${total.toFixed(0)} ms of kernel time`);
    const top = (m: Map<string, { ms: number; n: number }>, k: number) =>
      [...m.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, k)
        .forEach(([key, v]) => console.log(`  ${v.ms.toFixed(1).padStart(8)} ms ${String(v.n).padStart(5)}x  ${key}`));
    top(byName, 25);
    console.log('heaviest kernel + input shapes:');
    top(byShape, 25);
  }
  tf.dispose([x, eps, t]);
  unet.disposeParams(params);
} else if (!flag('--no-unet')) {
  console.log('src/main/nn/unet.ts not found: full training step skipped');
}

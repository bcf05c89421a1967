import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/main/nn/backend';
import { dropout, groupNorm, silu, softmax, timestepEmbedding, upsample2x, conv2d } from '../../src/main/nn/layers';
import { PRESETS, presetByName } from '../../src/main/nn/presets';
import {
  countParams,
  disposeParams,
  forward,
  forwardFlops,
  initParams,
  outChannels,
  paramShapes,
  type Params,
  type UNetConfig,
} from '../../src/main/nn/unet';
import { Stream } from '../../src/main/rng';

beforeAll(async () => {
  // Registers the gradient definitions (and the wasm gradient kernels) as the app does.
  await initBackend('wasm');
});

afterEach(async () => {
  if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
});

/** Runs `body` on the pure-JS cpu backend (exact reference kernels), then returns to wasm. */
async function onCpu<T>(body: () => T | Promise<T>): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return await body();
  } finally {
    await tf.setBackend('wasm');
  }
}

/**
 * Replaces every parameter by random values, including the zero-initialised ones: at the
 * reference initialisation most gradients are exactly zero (the output conv is zero).
 */
function randomize(params: Params, seed: number): void {
  for (const [name, v] of params) {
    const s = new Stream(seed, 'test-randomize', name);
    const data = new Float32Array(v.size);
    const fanIn = v.rank >= 2 ? v.size / v.shape[v.rank - 1]! : 16;
    const scale = name.endsWith('.g') ? 0.2 : name.endsWith('.b') ? 0.1 : 1 / Math.sqrt(fanIn);
    for (let i = 0; i < data.length; i++) data[i] = (name.endsWith('.g') ? 1 : 0) + scale * (2 * s.uniform() - 1);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
}

function batchInputs(cfg: UNetConfig, n: number, seed: number): { x: tf.Tensor4D; t: tf.Tensor1D } {
  const s = new Stream(seed, 'test-x');
  const data = new Float32Array(n * cfg.imageSize * cfg.imageSize * cfg.inChannels);
  s.fillNormal(data);
  const x = tf.tensor4d(data, [n, cfg.imageSize, cfg.imageSize, cfg.inChannels]);
  const t = tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 397 + 11) % 1000), 'int32');
  return { x, t };
}

describe('U-Net size (bench-models.md)', () => {
  it('counts parameters exactly', () => {
    expect(countParams(PRESETS['bench-s-mnist16'])).toBe(704_705);
    expect(countParams(PRESETS['bench-m-32'])).toBe(6_949_187);
    expect(countParams(PRESETS['adm-cifar10'])).toBe(52_546_438);
  });

  it('allocates exactly the counted parameters', () => {
    for (const name of ['bench-s-mnist16', 'bench-m-32'] as const) {
      const before = tf.memory().numTensors;
      const params = initParams(PRESETS[name], 0);
      let total = 0;
      for (const v of params.values()) total += v.size;
      expect(total).toBe(countParams(PRESETS[name]));
      expect([...params.keys()]).toEqual(paramShapes(PRESETS[name]).map((p) => p.name));
      disposeParams(params);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('counts forward FLOPs as the reference table prints them', () => {
    expect((forwardFlops(PRESETS['bench-s-mnist16']) / 1e9).toFixed(4)).toBe('0.1228');
    expect((forwardFlops(PRESETS['bench-m-32']) / 1e9).toFixed(3)).toBe('3.176');
    expect((forwardFlops(PRESETS['adm-cifar10']) / 1e9).toFixed(2)).toBe('16.77');
  });

  it('names presets and rejects unknown ones', () => {
    expect(presetByName('adm-cifar10')).toEqual(PRESETS['adm-cifar10']);
    expect(() => presetByName('adm-imagenet')).toThrow(/bench-s-mnist16, bench-m-32, adm-cifar10/);
    expect(outChannels(PRESETS['adm-cifar10'])).toBe(6);
    expect(outChannels(PRESETS['bench-m-32'])).toBe(3);
  });
});

describe('initParams', () => {
  it('is deterministic for a seed and zero-initialises the residual branches and output', () => {
    const cfg = PRESETS['tiny-test'];
    const a = initParams(cfg, 5);
    const b = initParams(cfg, 5);
    const c = initParams(cfg, 6);
    let differs = false;
    for (const [name, va] of a) {
      const da = va.dataSync();
      expect(b.get(name)!.dataSync()).toEqual(da);
      if (name.endsWith('.w') && !isZeroInit(name)) {
        if (!c.get(name)!.dataSync().every((x, i) => x === da[i])) differs = true;
        const bound = 1 / Math.sqrt(va.size / va.shape[va.rank - 1]!);
        expect(Math.max(...Array.from(da, Math.abs))).toBeLessThanOrEqual(bound);
      }
      if (isZeroInit(name)) expect(da.every((x) => x === 0)).toBe(true);
    }
    expect(differs).toBe(true);
    expect(a.get('mid.res1.in_norm.g')!.dataSync().every((x) => x === 1)).toBe(true);
    for (const p of [a, b, c]) disposeParams(p);
  });
});

function isZeroInit(name: string): boolean {
  return /\.out_conv\.|\.proj\.|^out\.conv\./.test(name);
}

describe('forward', () => {
  it('maps [N,S,S,C] to [N,S,S,outChannels] without leaking tensors', () => {
    const cfg = PRESETS['bench-s-mnist16'];
    const params = initParams(cfg, 1);
    const { x, t } = batchInputs(cfg, 2, 1);
    const before = tf.memory().numTensors;
    const y = forward(params, cfg, x, t, { training: false });
    expect(y.shape).toEqual([2, 16, 16, 1]);
    // Zero-initialised output conv: the untrained net predicts exactly 0.
    expect(y.dataSync().every((z) => z === 0)).toBe(true);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposeParams(params);
    tf.dispose([x, t]);
  });

  it('outputs eps then v when sigma is learned', () => {
    const cfg: UNetConfig = { ...PRESETS['tiny-test'], inChannels: 3, learnSigma: true };
    const params = initParams(cfg, 1);
    randomize(params, 1);
    const { x, t } = batchInputs(cfg, 2, 2);
    const y = forward(params, cfg, x, t, { training: false });
    expect(outChannels(cfg)).toBe(6);
    expect(y.shape).toEqual([2, 16, 16, 6]);
    // Dropping the v half of the output conv must leave eps unchanged.
    const w = params.get('out.conv.w')!;
    const bias = params.get('out.conv.b')!;
    const eps = tf.tidy(() => tf.slice(y, [0, 0, 0, 0], [2, 16, 16, 3]));
    const cfg3 = { ...cfg, learnSigma: false };
    const p3: Params = new Map(params);
    const w3 = tf.variable(tf.slice(w, [0, 0, 0, 0], [3, 3, w.shape[2]!, 3]));
    const b3 = tf.variable(tf.slice(bias, [0], [3]));
    p3.set('out.conv.w', w3);
    p3.set('out.conv.b', b3);
    const y3 = forward(p3, cfg3, x, t, { training: false });
    expect(maxAbsDiff(y3, eps)).toBeLessThan(1e-5);
    tf.dispose([y, eps, y3, w3, b3, x, t]);
    disposeParams(params);
  });

  it('agrees between the wasm and the reference cpu backend', async () => {
    const cfg = PRESETS['tiny-test'];
    const params = initParams(cfg, 3);
    randomize(params, 3);
    const { x, t } = batchInputs(cfg, 3, 3);
    const yWasm = forward(params, cfg, x, t, { training: false });
    const ref = await onCpu(() => forward(params, cfg, x, t, { training: false }).dataSync());
    const got = yWasm.dataSync();
    let maxErr = 0;
    let maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(got[i]! - ref[i]!));
      maxRef = Math.max(maxRef, Math.abs(ref[i]!));
    }
    expect(maxRef).toBeGreaterThan(0.1);
    expect(maxErr / maxRef).toBeLessThan(1e-4);
    tf.dispose([yWasm, x, t]);
    disposeParams(params);
  });

  it('applies dropout deterministically for a seed, and only when training', () => {
    const cfg: UNetConfig = { ...PRESETS['tiny-test'], dropout: 0.3 };
    const params = initParams(cfg, 2);
    randomize(params, 2);
    const { x, t } = batchInputs(cfg, 2, 4);
    const run = (opts: { training: boolean; dropoutSeed?: number }) => forward(params, cfg, x, t, opts);
    const a = run({ training: true, dropoutSeed: 1 });
    const b = run({ training: true, dropoutSeed: 1 });
    const c = run({ training: true, dropoutSeed: 2 });
    const evalA = run({ training: false, dropoutSeed: 1 });
    const evalB = run({ training: false });
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(evalA, evalB)).toBe(0);
    expect(maxAbsDiff(a, evalA)).toBeGreaterThan(1e-3);
    expect(() => run({ training: true })).toThrow(/dropoutSeed/);
    tf.dispose([a, b, c, evalA, evalB, x, t]);
    disposeParams(params);
  });

  it('has finite, non-zero gradients w.r.t. all parameters on wasm', () => {
    const cfg = PRESETS['tiny-test'];
    const params = initParams(cfg, 4);
    randomize(params, 4);
    const { x, t } = batchInputs(cfg, 2, 5);
    const target = tf.randomNormal(x.shape, 0, 1, 'float32', 7);
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.square(tf.sub(forward(params, cfg, x, t, { training: false }), target))),
      [...params.values()],
    );
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    const live = tf.memory().numTensors;
    const byId = new Map([...params].map(([name, v]) => [v.name, name]));
    const zero: string[] = [];
    for (const [vName, g] of Object.entries(grads)) {
      const d = g.dataSync();
      expect(d.every(Number.isFinite)).toBe(true);
      if (!d.some((z) => z !== 0)) zero.push(byId.get(vName)!);
    }
    // All parameters take part. (Two get mathematically zero gradients: the in_conv bias ahead of
    // a GroupNorm and the k part of the qkv bias; in float32 they come out tiny, not exactly 0.)
    expect(Object.keys(grads).length).toBe(params.size);
    expect(zero).toEqual([]);
    const norm = (name: string) => Math.sqrt(tf.tidy(() => tf.sum(tf.square(grads[params.get(name)!.name]!)).dataSync()[0]!));
    for (const name of ['input.conv.w', 'down.1.res.in_conv.w', 'mid.attn.qkv.w', 'up.0.res.skip.w', 'out.conv.w', 'time_embed.0.w']) {
      expect(norm(name)).toBeGreaterThan(1e-4);
    }
    const nGrads = Object.keys(grads).length;
    tf.dispose([value, ...Object.values(grads)]);
    // Nothing but the value and the gradients outlives variableGrads (saved tensors are freed).
    expect(tf.memory().numTensors).toBe(live - 1 - nGrads);
    tf.dispose([x, t, target]);
    disposeParams(params);
  });
});

describe('layers', () => {
  it('GroupNorm matches a hand computation (8 and 32 groups, with scale-shift)', () => {
    for (const c of [16, 64]) {
      const groups = c % 32 === 0 ? 32 : 8;
      const n = 2;
      const hw = 3;
      const s = new Stream(9, 'gn', c);
      const xs = new Float32Array(n * hw * hw * c).map(() => 3 + 2 * s.normal());
      const gamma = new Float32Array(c).map(() => 1 + 0.5 * s.normal());
      const beta = new Float32Array(c).map(() => s.normal());
      const scale = new Float32Array(n * c).map(() => 0.3 * s.normal());
      const shift = new Float32Array(n * c).map(() => 0.3 * s.normal());
      const expected = new Float64Array(xs.length);
      const cg = c / groups;
      for (let b = 0; b < n; b++) {
        for (let g = 0; g < groups; g++) {
          let sum = 0;
          let count = 0;
          for (let p = 0; p < hw * hw; p++) for (let k = 0; k < cg; k++) (sum += xs[(b * hw * hw + p) * c + g * cg + k]!), count++;
          const mean = sum / count;
          let v = 0;
          for (let p = 0; p < hw * hw; p++) for (let k = 0; k < cg; k++) v += (xs[(b * hw * hw + p) * c + g * cg + k]! - mean) ** 2;
          const rstd = 1 / Math.sqrt(v / count + 1e-5);
          for (let p = 0; p < hw * hw; p++) {
            for (let k = 0; k < cg; k++) {
              const ch = g * cg + k;
              const i = (b * hw * hw + p) * c + ch;
              const norm = (xs[i]! - mean) * rstd * gamma[ch]! + beta[ch]!;
              expected[i] = norm * (1 + scale[b * c + ch]!) + shift[b * c + ch]!;
            }
          }
        }
      }
      const got = tf.tidy(() =>
        groupNorm(tf.tensor4d(xs, [n, hw, hw, c]), tf.tensor1d(gamma), tf.tensor1d(beta), {
          scale: tf.tensor2d(scale, [n, c]),
          shift: tf.tensor2d(shift, [n, c]),
        }).dataSync(),
      );
      for (let i = 0; i < got.length; i++) expect(got[i]!).toBeCloseTo(expected[i]!, 4);
      const plain = tf.tidy(() => groupNorm(tf.tensor4d(xs, [n, hw, hw, c]), tf.ones([c]), tf.zeros([c])).dataSync());
      // Unit gamma, zero beta: every group of every sample has mean 0 and variance ~1.
      for (let b = 0; b < n; b++) {
        let m = 0;
        let sq = 0;
        for (let p = 0; p < hw * hw; p++) for (let k = 0; k < cg; k++) {
          const z = plain[(b * hw * hw + p) * c + k]!;
          m += z;
          sq += z * z;
        }
        expect(m / (hw * hw * cg)).toBeCloseTo(0, 4);
        expect(sq / (hw * hw * cg)).toBeCloseTo(1, 3);
      }
    }
  });

  it('timestep embedding: [cos(t f), sin(t f)] with f_i = 10000^(-i/half) on the original t', () => {
    const e = tf.tidy(() => timestepEmbedding(tf.tensor1d([0, 999], 'int32'), 8).arraySync());
    const f = [0, 1, 2, 3].map((i) => Math.exp((-Math.log(10000) * i) / 4));
    for (const [row, t] of [
      [0, 0],
      [1, 999],
    ] as const) {
      for (let i = 0; i < 4; i++) {
        expect(e[row]![i]!).toBeCloseTo(Math.cos(t * f[i]!), 3);
        expect(e[row]![i + 4]!).toBeCloseTo(Math.sin(t * f[i]!), 3);
      }
    }
  });

  it('dropout: inverted, and seeded per (seed, layer)', () => {
    const x = tf.ones([4, 50, 50]);
    const a = dropout(x, 0.25, 3, 'layer');
    const b = dropout(x, 0.25, 3, 'layer');
    const c = dropout(x, 0.25, 3, 'other');
    const da = a.dataSync();
    expect(b.dataSync()).toEqual(da);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(0);
    const kept = da.filter((z) => z !== 0);
    expect(kept.every((z) => Math.abs(z - 1 / 0.75) < 1e-6)).toBe(true);
    expect(Math.abs(kept.length / da.length - 0.75)).toBeLessThan(0.02);
    expect(dropout(x, 0, 3, 'layer')).toBe(x);
    tf.dispose([x, a, b, c]);
  });

  it('stride-2 downsampling pads like PyTorch (1 on every side)', () => {
    // A 4x4 ramp and a kernel that picks the top-left tap: output (i, j) = x(2i-1, 2j-1), 0 outside.
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
    const w = tf.tensor4d([1, 0, 0, 0, 0, 0, 0, 0, 0], [3, 3, 1, 1]);
    const y = conv2d(x, w, null, 2);
    expect(Array.from(y.dataSync())).toEqual([0, 0, 0, 6]);
    tf.dispose([x, w, y]);
  });

  it('nearest upsampling copies each pixel to a 2x2 block; its gradient sums the block', () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i), [2, 3, 2, 2]);
    const y = upsample2x(x);
    const ref = tf.image.resizeNearestNeighbor(x, [6, 4]);
    expect(maxAbsDiff(y, ref)).toBe(0);
    const dy = tf.tensor4d(Array.from({ length: 2 * 6 * 4 * 2 }, (_, i) => (i * 7) % 5), [2, 6, 4, 2]);
    const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(upsample2x(z as tf.Tensor4D), dy)))(x);
    const dyv = dy.arraySync() as number[][][][];
    const gv = g.arraySync() as number[][][][];
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 2; j++)
          for (let c = 0; c < 2; c++) {
            const s = dyv[b]![2 * i]![2 * j]![c]! + dyv[b]![2 * i + 1]![2 * j]![c]! + dyv[b]![2 * i]![2 * j + 1]![c]! + dyv[b]![2 * i + 1]![2 * j + 1]![c]!;
            expect(gv[b]![i]![j]![c]!).toBeCloseTo(s, 5);
          }
    tf.dispose([x, y, ref, dy, g]);
  });

  it('silu and softmax have correct second derivatives', () => {
    // d/dx of <dy, f'(x) v> against central differences of f'(x) in float64 terms.
    const xs = [-3, -0.7, 0, 0.4, 2.5];
    const x = tf.tensor1d(xs);
    const second = tf.grad((z: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(silu(u)))(z)))(x).dataSync();
    for (let i = 0; i < xs.length; i++) {
      const s = 1 / (1 + Math.exp(-xs[i]!));
      const exact = s * (1 - s) * (2 + xs[i]! * (1 - 2 * s));
      expect(second[i]!).toBeCloseTo(exact, 5);
    }
    const logits = tf.tensor2d([0.3, -1.2, 2.0, 0.5, 0.1, -0.4], [2, 3]);
    const w = tf.tensor2d([1.0, -2.0, 0.5, 0.7, 0.2, -1.1], [2, 3]);
    const r = tf.tensor2d([0.4, 0.9, -0.6, -0.3, 1.5, 0.8], [2, 3]);
    // h(x) = <r, d<w, softmax(x)>/dx>; compare dh/dx with central differences of h.
    const h = (z: tf.Tensor) => tf.sum(tf.mul(r, tf.grad((u: tf.Tensor) => tf.sum(tf.mul(w, softmax(u))))(z)));
    const analytic = tf.grad(h)(logits).dataSync();
    const base = logits.dataSync();
    const eps = 1e-2;
    for (let i = 0; i < base.length; i++) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[i]! += eps;
      minus[i]! -= eps;
      const fd = (h(tf.tensor2d(plus, [2, 3])).dataSync()[0]! - h(tf.tensor2d(minus, [2, 3])).dataSync()[0]!) / (2 * eps);
      expect(Math.abs(analytic[i]! - fd)).toBeLessThan(2e-3);
    }
  });
});

describe('double backprop (gradient penalty)', () => {
  // On wasm, the backend training runs on (the cpu backend takes ~10x longer for the same check).
  it('d/dtheta ||d(v . eps_theta(x, t))/dx||^2 matches central finite differences', () => {
    // tiny-test has SiLU everywhere, GroupNorm, attention in the down/up path and the middle,
    // two heads, up- and downsampling: every op the gradient penalty differentiates twice.
    const cfg: UNetConfig = { ...PRESETS['tiny-test'], imageSize: 8, attentionResolutions: [4] };
    const params = initParams(cfg, 11);
    randomize(params, 11);
    const { x, t } = batchInputs(cfg, 2, 12);
    const v = tf.randomNormal(x.shape, 0, 1, 'float32', 13);
    const penalty = () =>
      tf.tidy(() => {
        const gx = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(v, forward(params, cfg, z as tf.Tensor4D, t, { training: false }))))(x);
        return tf.sum(tf.square(gx)) as tf.Scalar;
      });
    const { grads } = tf.variableGrads(penalty, [...params.values()]);
    // Per tensor, the entry with the largest gradient: float32 finite differences of a sum of
    // squares need a step of ~1e-2 and a derivative well above their rounding noise.
    const probes = [
      'down.1.res.in_conv.w',
      'down.1.res.emb.w',
      'down.3.attn.qkv.w',
      'mid.attn.proj.w',
      'mid.res1.out_norm.g',
      'up.1.upsample.conv.w',
      'out.conv.w',
    ];
    for (const name of probes) {
      const variable = params.get(name);
      expect(variable, name).toBeDefined();
      const g = grads[variable!.name]!.dataSync();
      let idx = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
      const analytic = g[idx]!;
      const orig = variable!.dataSync().slice();
      const h = 2e-2;
      const at = (delta: number) => {
        const d = orig.slice();
        d[idx]! += delta;
        tf.tidy(() => variable!.assign(tf.tensor(d, variable!.shape)));
        const p = penalty();
        const val = p.dataSync()[0]!;
        p.dispose();
        return val;
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      tf.tidy(() => variable!.assign(tf.tensor(orig, variable!.shape)));
      expect(Math.abs(analytic)).toBeGreaterThan(1e-2);
      expect(Math.abs(analytic - fd) / Math.abs(analytic), `${name}[${idx}]: analytic ${analytic}, fd ${fd}`).toBeLessThan(0.02);
    }
    tf.dispose([...Object.values(grads), x, t, v]);
    disposeParams(params);
  });
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/**
 * The ADM U-Net (Dhariwal & Nichol 2021, as used by Ning et al. 2023), functional style: a
 * config, a Map of named variables and a pure forward function. The exact definition, and the
 * parameter counts and FLOPs it reproduces, are those of the project spec (bench-models.md).
 *
 * One "plan" derived from the config drives everything (parameter shapes, initialisation,
 * parameter and FLOP counts, forward), so they cannot drift apart.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Stream } from '../rng';
import { attention, conv2d, dense, dropout, groupCount, groupNorm, silu, timestepEmbedding, upsample2x } from './layers';

export interface UNetConfig {
  imageSize: number;
  inChannels: number;
  /** ADM's model_channels. */
  baseChannels: number;
  channelMult: number[];
  numResBlocks: number;
  /** Resolutions (e.g. 16, 8) whose blocks get self-attention; the middle block always has it. */
  attentionResolutions: number[];
  /** Channels per attention head (ADM's num_head_channels; 32 in the reference). */
  headChannels: number;
  dropout: number;
  /** Also predict the variance interpolation v (ADM's learn_sigma): out = [eps, v]. */
  learnSigma: boolean;
}

/** Insertion-ordered (the plan's order), names like 'input.conv.w', 'down.1.res.in_conv.w'. */
export type Params = Map<string, tf.Variable>;

export interface ForwardOptions {
  training: boolean;
  /** Required when training with dropout > 0: the masks come from Stream(seed, 'dropout', layer). */
  dropoutSeed?: number;
  /**
   * Index of x's first sample in the training step's whole batch, when x is one shard of it (data
   * parallel training): dropout masks are then drawn as for the whole batch. Default 0.
   */
  dropoutSampleOffset?: number;
}

type Init = { kind: 'uniform'; fanIn: number } | { kind: 'zeros' } | { kind: 'ones' };
interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

interface ResLayer {
  kind: 'res';
  name: string;
  cin: number;
  cout: number;
  res: number;
}
interface AttnLayer {
  kind: 'attn';
  name: string;
  ch: number;
  res: number;
}
/** Stride-2 3x3 conv; res is the input resolution. */
interface DownLayer {
  kind: 'down';
  name: string;
  ch: number;
  res: number;
}
/** Nearest 2x upsample then 3x3 conv; res is the input resolution. */
interface UpLayer {
  kind: 'up';
  name: string;
  ch: number;
  res: number;
}
type Layer = ResLayer | AttnLayer | DownLayer | UpLayer;

interface Plan {
  ch: number;
  embDim: number;
  /** Each unit's output is pushed on the skip stack. */
  down: Layer[][];
  mid: Layer[];
  /** Each unit first concatenates the popped skip tensor. */
  up: Layer[][];
  finalCh: number;
  outCh: number;
}

export function outChannels(cfg: UNetConfig): number {
  return cfg.inChannels * (cfg.learnSigma ? 2 : 1);
}

function validate(cfg: UNetConfig): void {
  const ints: [string, number][] = [
    ['imageSize', cfg.imageSize],
    ['inChannels', cfg.inChannels],
    ['baseChannels', cfg.baseChannels],
    ['numResBlocks', cfg.numResBlocks],
    ['headChannels', cfg.headChannels],
  ];
  for (const [k, v] of ints) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`UNetConfig.${k} must be a positive integer, got ${v}`);
  }
  if (cfg.channelMult.length === 0 || cfg.channelMult.some((m) => !Number.isInteger(m) || m < 1)) {
    throw new Error(`UNetConfig.channelMult must be positive integers, got [${cfg.channelMult}]`);
  }
  const levels = cfg.channelMult.length;
  if (cfg.imageSize % 2 ** (levels - 1) !== 0) {
    throw new Error(`imageSize ${cfg.imageSize} is not divisible by 2^${levels - 1} (${levels} levels)`);
  }
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new Error(`UNetConfig.dropout must be in [0, 1), got ${cfg.dropout}`);
}

function buildPlan(cfg: UNetConfig): Plan {
  validate(cfg);
  const ch = cfg.baseChannels;
  const attnAt = new Set(cfg.attentionResolutions);
  const levels = cfg.channelMult.length;
  const skips: number[] = [ch];
  const down: Layer[][] = [];
  let c = ch;
  let res = cfg.imageSize;
  let idx = 1;
  for (let level = 0; level < levels; level++) {
    const cout = ch * cfg.channelMult[level]!;
    for (let r = 0; r < cfg.numResBlocks; r++) {
      const name = `down.${idx++}`;
      const unit: Layer[] = [{ kind: 'res', name: `${name}.res`, cin: c, cout, res }];
      c = cout;
      if (attnAt.has(res)) unit.push({ kind: 'attn', name: `${name}.attn`, ch: c, res });
      down.push(unit);
      skips.push(c);
    }
    if (level !== levels - 1) {
      down.push([{ kind: 'down', name: `down.${idx++}.op`, ch: c, res }]);
      skips.push(c);
      res /= 2;
    }
  }
  const mid: Layer[] = [
    { kind: 'res', name: 'mid.res1', cin: c, cout: c, res },
    { kind: 'attn', name: 'mid.attn', ch: c, res },
    { kind: 'res', name: 'mid.res2', cin: c, cout: c, res },
  ];
  const up: Layer[][] = [];
  idx = 0;
  for (let level = levels - 1; level >= 0; level--) {
    const cout = ch * cfg.channelMult[level]!;
    for (let r = 0; r <= cfg.numResBlocks; r++) {
      const name = `up.${idx++}`;
      const skip = skips.pop()!;
      const unit: Layer[] = [{ kind: 'res', name: `${name}.res`, cin: c + skip, cout, res }];
      c = cout;
      if (attnAt.has(res)) unit.push({ kind: 'attn', name: `${name}.attn`, ch: c, res });
      if (level > 0 && r === cfg.numResBlocks) {
        unit.push({ kind: 'up', name: `${name}.upsample`, ch: c, res });
        res *= 2;
      }
      up.push(unit);
    }
  }
  const plan: Plan = { ch, embDim: 4 * ch, down, mid, up, finalCh: c, outCh: outChannels(cfg) };
  for (const layer of allLayers(plan)) checkLayer(layer, cfg);
  return plan;
}

function checkLayer(layer: Layer, cfg: UNetConfig): void {
  if (layer.kind === 'res') {
    groupCount(layer.cin);
    groupCount(layer.cout);
  } else if (layer.kind === 'attn') {
    groupCount(layer.ch);
    if (layer.ch % cfg.headChannels !== 0) {
      throw new Error(`attention at ${layer.name}: ${layer.ch} channels are not a multiple of headChannels ${cfg.headChannels}`);
    }
  }
}

function* allLayers(plan: Plan): Generator<Layer> {
  for (const unit of plan.down) yield* unit;
  yield* plan.mid;
  for (const unit of plan.up) yield* unit;
}

const uniform = (fanIn: number): Init => ({ kind: 'uniform', fanIn });
const ZEROS: Init = { kind: 'zeros' };
const ONES: Init = { kind: 'ones' };

function convSpecs(name: string, k: number, cin: number, cout: number, zero = false): ParamSpec[] {
  const init = zero ? ZEROS : uniform(k * k * cin);
  return [
    { name: `${name}.w`, shape: [k, k, cin, cout], init },
    { name: `${name}.b`, shape: [cout], init },
  ];
}

function denseSpecs(name: string, cin: number, cout: number): ParamSpec[] {
  return [
    { name: `${name}.w`, shape: [cin, cout], init: uniform(cin) },
    { name: `${name}.b`, shape: [cout], init: uniform(cin) },
  ];
}

function normSpecs(name: string, c: number): ParamSpec[] {
  return [
    { name: `${name}.g`, shape: [c], init: ONES },
    { name: `${name}.b`, shape: [c], init: ZEROS },
  ];
}

/**
 * Every parameter in forward order. Zero-initialised as in the reference (guided-diffusion's
 * zero_module): the last conv of each ResBlock, the attention output projection and the output
 * conv, so every residual branch starts as the identity. Others: PyTorch's default
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
 */
function paramSpecs(cfg: UNetConfig, plan = buildPlan(cfg)): ParamSpec[] {
  const { ch, embDim } = plan;
  const specs: ParamSpec[] = [
    ...denseSpecs('time_embed.0', ch, embDim),
    ...denseSpecs('time_embed.2', embDim, embDim),
    ...convSpecs('input.conv', 3, cfg.inChannels, ch),
  ];
  for (const layer of allLayers(plan)) {
    const p = layer.name;
    switch (layer.kind) {
      case 'res':
        specs.push(
          ...normSpecs(`${p}.in_norm`, layer.cin),
          ...convSpecs(`${p}.in_conv`, 3, layer.cin, layer.cout),
          ...denseSpecs(`${p}.emb`, embDim, 2 * layer.cout),
          ...normSpecs(`${p}.out_norm`, layer.cout),
          ...convSpecs(`${p}.out_conv`, 3, layer.cout, layer.cout, true),
        );
        if (layer.cin !== layer.cout) specs.push(...convSpecs(`${p}.skip`, 1, layer.cin, layer.cout));
        break;
      case 'attn':
        specs.push(
          ...normSpecs(`${p}.norm`, layer.ch),
          ...convSpecs(`${p}.qkv`, 1, layer.ch, 3 * layer.ch),
          ...convSpecs(`${p}.proj`, 1, layer.ch, layer.ch, true),
        );
        break;
      case 'down':
        specs.push(...convSpecs(p, 3, layer.ch, layer.ch));
        break;
      case 'up':
        specs.push(...convSpecs(`${p}.conv`, 3, layer.ch, layer.ch));
        break;
    }
  }
  specs.push(...normSpecs('out.norm', plan.finalCh), ...convSpecs('out.conv', 3, plan.finalCh, plan.outCh, true));
  return specs;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Number of trainable scalars, computed from the definition (no tensors are allocated). */
export function countParams(cfg: UNetConfig): number {
  return paramSpecs(cfg).reduce((s, p) => s + sizeOf(p.shape), 0);
}

/** Parameter names and shapes in forward order (for checkpoints and optimiser state). */
export function paramShapes(cfg: UNetConfig): { name: string; shape: number[] }[] {
  return paramSpecs(cfg).map(({ name, shape }) => ({ name, shape }));
}

/**
 * Forward FLOPs per image, counting 2 per multiply-add of convolutions, linear layers and the
 * two attention matrix products (q^T k and attention-weighted v), nothing else (bench-models.md).
 */
export function forwardFlops(cfg: UNetConfig): number {
  const plan = buildPlan(cfg);
  const { ch, embDim } = plan;
  const s2 = cfg.imageSize ** 2;
  const conv = (pixels: number, k: number, cin: number, cout: number) => 2 * pixels * k * k * cin * cout;
  let f = 2 * (ch * embDim + embDim * embDim) + conv(s2, 3, cfg.inChannels, ch);
  for (const layer of allLayers(plan)) {
    const px = layer.res ** 2;
    switch (layer.kind) {
      case 'res':
        f += conv(px, 3, layer.cin, layer.cout) + 2 * embDim * 2 * layer.cout + conv(px, 3, layer.cout, layer.cout);
        if (layer.cin !== layer.cout) f += conv(px, 1, layer.cin, layer.cout);
        break;
      case 'attn':
        f += conv(px, 1, layer.ch, 3 * layer.ch) + 2 * 2 * px * px * layer.ch + conv(px, 1, layer.ch, layer.ch);
        break;
      case 'down':
        f += conv(px / 4, 3, layer.ch, layer.ch);
        break;
      case 'up':
        f += conv(px * 4, 3, layer.ch, layer.ch);
        break;
    }
  }
  return f + conv(s2, 3, plan.finalCh, plan.outCh);
}

/** Deterministic initialisation: parameter `name` is drawn from Stream(seed, 'init', name). */
export function initParams(cfg: UNetConfig, seed: number): Params {
  const params: Params = new Map();
  for (const spec of paramSpecs(cfg)) {
    const data = new Float32Array(sizeOf(spec.shape));
    if (spec.init.kind === 'ones') data.fill(1);
    else if (spec.init.kind === 'uniform') {
      const bound = 1 / Math.sqrt(spec.init.fanIn);
      const stream = new Stream(seed, 'init', spec.name);
      for (let i = 0; i < data.length; i++) data[i] = (2 * stream.uniform() - 1) * bound;
    }
    const value = tf.tensor(data, spec.shape, 'float32');
    // Unnamed: tfjs variable names are process-global, and several models (EMA, tests) coexist.
    params.set(spec.name, tf.variable(value, true));
    value.dispose();
  }
  return params;
}

/** Disposes every variable of a parameter set. */
export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}

/**
 * eps_theta(x_t, t) (and v when learnSigma): x NHWC [N, S, S, inChannels], t the original
 * timesteps [N]. Returns [N, S, S, outChannels(cfg)], eps channels first.
 */
export function forward(
  params: Params,
  cfg: UNetConfig,
  x: tf.Tensor4D,
  t: tf.Tensor1D,
  opts: ForwardOptions,
): tf.Tensor4D {
  const plan = buildPlan(cfg);
  const [n, hgt, wid, cIn] = x.shape;
  if (hgt !== cfg.imageSize || wid !== cfg.imageSize || cIn !== cfg.inChannels) {
    throw new Error(`forward: expected x of shape [N, ${cfg.imageSize}, ${cfg.imageSize}, ${cfg.inChannels}], got [${x.shape}]`);
  }
  if (t.shape[0] !== n) throw new Error(`forward: t has ${t.shape[0]} timesteps for a batch of ${n}`);
  const useDropout = opts.training && cfg.dropout > 0;
  if (useDropout && opts.dropoutSeed === undefined) {
    throw new Error('forward: training with dropout needs opts.dropoutSeed (runs must be reproducible)');
  }
  const p = (name: string): tf.Variable => {
    const v = params.get(name);
    if (!v) throw new Error(`forward: missing parameter '${name}' (params do not match the config)`);
    return v;
  };
  const w4 = (name: string) => p(name) as tf.Tensor as tf.Tensor4D;
  const w2 = (name: string) => p(name) as tf.Tensor as tf.Tensor2D;
  const w1 = (name: string) => p(name) as tf.Tensor as tf.Tensor1D;

  return tf.tidy(() => {
    let emb = dense(timestepEmbedding(t, plan.ch), w2('time_embed.0.w'), w1('time_embed.0.b'));
    emb = dense(silu(emb), w2('time_embed.2.w'), w1('time_embed.2.b'));
    // Every ResBlock applies SiLU to the same embedding first: do it once.
    const embAct = silu(emb);

    const resBlock = (l: ResLayer, h: tf.Tensor4D): tf.Tensor4D => {
      const q = l.name;
      const inner = conv2d(silu(groupNorm(h, w1(`${q}.in_norm.g`), w1(`${q}.in_norm.b`))), w4(`${q}.in_conv.w`), w1(`${q}.in_conv.b`));
      const e = dense(embAct, w2(`${q}.emb.w`), w1(`${q}.emb.b`));
      const [scale, shift] = tf.split(e, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
      let out = silu(groupNorm(inner, w1(`${q}.out_norm.g`), w1(`${q}.out_norm.b`), { scale, shift }));
      if (useDropout) out = dropout(out, cfg.dropout, opts.dropoutSeed!, q, (opts.dropoutSampleOffset ?? 0) * (out.size / n));
      out = conv2d(out, w4(`${q}.out_conv.w`), w1(`${q}.out_conv.b`));
      const skip = l.cin === l.cout ? h : conv2d(h, w4(`${q}.skip.w`), w1(`${q}.skip.b`));
      return tf.add(skip, out);
    };

    const attnBlock = (l: AttnLayer, h: tf.Tensor4D): tf.Tensor4D => {
      const q = l.name;
      const [bn, hh, ww, c] = h.shape;
      const heads = c / cfg.headChannels;
      // 1/sqrt(d) on the q columns of the qkv projection: identical function, and it scales a
      // C x 3C weight instead of an N x L x L score tensor.
      const colScale = new Float32Array(3 * c).fill(1).fill(1 / Math.sqrt(cfg.headChannels), 0, c);
      const cs = tf.tensor1d(colScale);
      const qkv = conv2d(
        groupNorm(h, w1(`${q}.norm.g`), w1(`${q}.norm.b`)),
        tf.mul<tf.Tensor4D>(w4(`${q}.qkv.w`), cs),
        tf.mul<tf.Tensor1D>(w1(`${q}.qkv.b`), cs),
      );
      const o = attention(tf.reshape(qkv, [bn, hh * ww, 3 * c]), heads);
      return tf.add(h, conv2d(tf.reshape(o, [bn, hh, ww, c]), w4(`${q}.proj.w`), w1(`${q}.proj.b`)));
    };

    const apply = (l: Layer, h: tf.Tensor4D): tf.Tensor4D => {
      switch (l.kind) {
        case 'res':
          return resBlock(l, h);
        case 'attn':
          return attnBlock(l, h);
        case 'down':
          return conv2d(h, w4(`${l.name}.w`), w1(`${l.name}.b`), 2);
        case 'up':
          return conv2d(upsample2x(h), w4(`${l.name}.conv.w`), w1(`${l.name}.conv.b`));
      }
    };

    let h = conv2d(x, w4('input.conv.w'), w1('input.conv.b'));
    const hs: tf.Tensor4D[] = [h];
    for (const unit of plan.down) {
      for (const l of unit) h = apply(l, h);
      hs.push(h);
    }
    for (const l of plan.mid) h = apply(l, h);
    for (const unit of plan.up) {
      h = tf.concat([h, hs.pop()!], 3);
      for (const l of unit) h = apply(l, h);
    }
    h = silu(groupNorm(h, w1('out.norm.g'), w1('out.norm.b')));
    return conv2d(h, w4('out.conv.w'), w1('out.conv.b'));
  });
}

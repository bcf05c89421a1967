/**
 * The ADM U-Net of nn/unet.ts as an ONNX graph, for ONNX Runtime's CPU kernels (several times the
 * speed of tfjs-wasm at inference). Same function, same parameter names; inputs x [N,H,W,C] (NHWC,
 * as the rest of Exposure Lab) and t [N] (original timesteps, float), output eps [N,H,W,Cout].
 * The graph transposes to NCHW once at the start and back once at the end, so every convolution in
 * between runs in ORT's native NCHW layout.
 *
 * The layer structure is read from paramShapes(cfg) (its names are the plan: 'down.3.op.w',
 * 'up.2.upsample.conv.w', ...), so the graph and the tfjs forward are driven by the same
 * definition; test/onnx/unet-onnx.test.ts holds them equal on every preset.
 *
 * Ops (opset 17, nothing newer): Conv, Gemm, MatMul, Softmax, Sigmoid, Mul, Add, Cos, Sin,
 * Concat, Split, Reshape, Transpose, Unsqueeze, Resize, InstanceNormalization. GroupNorm is
 * InstanceNormalization over a [N, groups, C/groups * H * W] view (GroupNormalization itself is
 * opset 18+, and its opset-18 form takes per-group rather than per-channel affine parameters),
 * followed by ADM's per-(sample, channel) affine map.
 */
import { groupCount } from '../nn/layers';
import { paramShapes, type Params, type UNetConfig } from '../nn/unet';
import { float, GraphBuilder } from './graph';

/** GroupNorm's epsilon, as nn/layers.ts. */
const GN_EPS = 1e-5;

/**
 * Where the weights come from: the values of parameter `name` in the tfjs layout
 * (conv [kh, kw, cin, cout], dense [in, out]) and with the given shape.
 */
export type WeightSource = (name: string, shape: readonly number[]) => Float32Array;

/** Weights of a live parameter set (read back from the tfjs backend). */
export function paramsWeights(params: Params): WeightSource {
  return (name, shape) => {
    const v = params.get(name);
    if (!v) throw new Error(`ONNX export: missing parameter '${name}' (params do not match the config)`);
    if (v.shape.join('x') !== shape.join('x')) throw new Error(`ONNX export: ${name} has shape ${v.shape.join('x')}, the config needs ${shape.join('x')}`);
    return v.dataSync() as Float32Array;
  };
}

interface ResLayer {
  kind: 'res';
  name: string;
  cin: number;
  cout: number;
}
interface AttnLayer {
  kind: 'attn';
  name: string;
  ch: number;
}
interface DownLayer {
  kind: 'down';
  name: string;
}
interface UpLayer {
  kind: 'up';
  name: string;
}
type Layer = ResLayer | AttnLayer | DownLayer | UpLayer;

interface Structure {
  ch: number;
  embDim: number;
  /** Each unit's output is pushed on the skip stack. */
  down: Layer[][];
  mid: Layer[];
  /** Each unit first concatenates the popped skip tensor. */
  up: Layer[][];
  outCh: number;
}

const UNIT_RE = /^(down|up)\.(\d+)\.(res|attn|op|upsample)\./;
const MID_RE = /^mid\.(res1|attn|res2)\./;

/** The forward's layer structure, recovered from the parameter names and shapes of the plan. */
function structureOf(cfg: UNetConfig): Structure {
  const shapes = new Map(paramShapes(cfg).map((p) => [p.name, p.shape]));
  const shape = (name: string): number[] => {
    const s = shapes.get(name);
    if (!s) throw new Error(`ONNX export: the U-Net plan has no parameter '${name}'; unet-graph.ts does not know this layout`);
    return s;
  };
  const layerOf = (kind: string, prefix: string): Layer => {
    switch (kind) {
      case 'res1':
      case 'res2':
      case 'res':
        return { kind: 'res', name: prefix, cin: shape(`${prefix}.in_norm.g`)[0]!, cout: shape(`${prefix}.in_conv.w`)[3]! };
      case 'attn':
        return { kind: 'attn', name: prefix, ch: shape(`${prefix}.norm.g`)[0]! };
      case 'op':
        return { kind: 'down', name: prefix };
      case 'upsample':
        return { kind: 'up', name: prefix };
      default:
        throw new Error(`ONNX export: unknown layer kind '${kind}' in ${prefix}`);
    }
  };
  const down = new Map<string, Layer[]>();
  const up = new Map<string, Layer[]>();
  const mid: Layer[] = [];
  const seen = new Set<string>();
  for (const name of shapes.keys()) {
    if (/^(time_embed|input|out)\./.test(name)) continue;
    const u = UNIT_RE.exec(name);
    const m = MID_RE.exec(name);
    if (!u && !m) throw new Error(`ONNX export: unrecognised parameter '${name}'; unet-graph.ts does not know this layout`);
    const prefix = u ? `${u[1]}.${u[2]}.${u[3]}` : `mid.${m![1]}`;
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    const layer = layerOf(u ? u[3]! : m![1]!, prefix);
    if (!u) mid.push(layer);
    else {
      const units = u[1] === 'down' ? down : up;
      const key = `${u[1]}.${u[2]}`;
      if (!units.has(key)) units.set(key, []);
      units.get(key)!.push(layer);
    }
  }
  const ch = shape('input.conv.w')[3]!;
  const s: Structure = { ch, embDim: shape('time_embed.0.w')[1]!, down: [...down.values()], mid, up: [...up.values()], outCh: shape('out.conv.w')[3]! };
  if (s.up.length !== s.down.length + 1) throw new Error(`ONNX export: ${s.down.length + 1} skip tensors for ${s.up.length} up units`);
  return s;
}

/** Conv kernel [kh, kw, cin, cout] (tfjs) -> [cout, cin, kh, kw] (ONNX). */
function toOIHW(w: Float32Array, [kh, kw, cin, cout]: readonly number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh!; y++) {
    for (let x = 0; x < kw!; x++) {
      for (let i = 0; i < cin!; i++) {
        const src = ((y * kw! + x) * cin! + i) * cout!;
        for (let o = 0; o < cout!; o++) out[((o * cin! + i) * kh! + y) * kw! + x] = w[src + o]!;
      }
    }
  }
  return out;
}

/**
 * How the network reads its weights: as initializers (an export: constants ORT can fold and
 * pre-pack) or as graph inputs in the tfjs layout (training: new values every step, and gradients
 * with respect to them). Each method returns the value to use in the ONNX layout.
 */
export interface UNetWeights {
  /** Conv kernel [cout, cin, k, k]. */
  convKernel(name: string, shape: readonly number[]): string;
  /** A [C] vector as it is (biases). */
  vector(name: string, size: number): string;
  /** A [C] vector as [C, 1, 1], to broadcast over NCHW. */
  perChannel(name: string, size: number): string;
  /** Dense weight [in, out]. */
  matrix(name: string, shape: readonly number[]): string;
  /** The qkv projection with 1/sqrt(d) on its q rows (nn/unet.ts does the same in float32): kernel [3c, c, 1, 1] and bias [3c]. */
  qkv(name: string, shape: readonly number[], c: number, scale: number): { w: string; b: string };
}

/** Constants: the weights of a WeightSource, laid out for ONNX once at export. */
function initializerWeights(g: GraphBuilder, cfg: UNetConfig, weights: WeightSource): UNetWeights {
  const shapes = new Map(paramShapes(cfg).map((p) => [p.name, p.shape]));
  const value = (name: string): Float32Array => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`ONNX export: the U-Net plan has no parameter '${name}'`);
    const v = weights(name, shape);
    const size = shape.reduce((a, b) => a * b, 1);
    if (v.length !== size) throw new Error(`ONNX export: ${name} has ${v.length} values, shape ${shape.join('x')} needs ${size}`);
    return v;
  };
  return {
    convKernel: (name, shape) => g.weight(name, toOIHW(value(name), shape), [shape[3]!, shape[2]!, shape[0]!, shape[1]!]),
    vector: (name, size) => g.weight(name, value(name), [size]),
    perChannel: (name, size) => g.weight(name, value(name), [size, 1, 1]),
    matrix: (name, shape) => g.weight(name, value(name), [...shape]),
    qkv: (name, shape, c, scale) => {
      const w = Float32Array.from(value(`${name}.w`));
      const b = Float32Array.from(value(`${name}.b`));
      for (let i = 0; i < c; i++) {
        for (let o = 0; o < c; o++) w[i * 3 * c + o] = Math.fround(w[i * 3 * c + o]! * scale);
        b[i] = Math.fround(b[i]! * scale);
      }
      return { w: g.weight(`${name}.w`, toOIHW(w, shape), [3 * c, c, 1, 1]), b: g.weight(`${name}.b`, b, [3 * c]) };
    },
  };
}

/**
 * Graph inputs named as the parameters, in the tfjs layout (conv [kh, kw, cin, cout], dense
 * [in, out]), turned into the ONNX layout inside the graph, so a training step feeds the tfjs
 * tensors as they are and gets gradients back in the same layout.
 */
export function inputWeights(g: GraphBuilder, cfg: UNetConfig): UNetWeights {
  const shapes = new Map(paramShapes(cfg).map((p) => [p.name, p.shape]));
  const param = (name: string): string => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`U-Net graph: the plan has no parameter '${name}'`);
    return g.shapes.has(name) ? name : g.input(name, [...shape]);
  };
  const oihw = (v: string) => g.op('Transpose', [v], { perm: [3, 2, 0, 1] });
  return {
    convKernel: (name) => oihw(param(name)),
    vector: (name) => param(name),
    perChannel: (name, size) => g.op('Reshape', [param(name), g.ints(`${name}.as_c11`, [size, 1, 1])]),
    matrix: (name) => param(name),
    qkv: (name, _shape, c, scale) => {
      const cols = g.floats(`${name}.scale`, Array.from({ length: 3 * c }, (_, i) => (i < c ? Math.fround(scale) : 1)));
      const w = g.op('Mul', [param(`${name}.w`), cols]);
      return { w: oihw(w), b: g.op('Mul', [param(`${name}.b`), cols]) };
    },
  };
}

export interface UNetGraphOptions {
  /** Batch size as a fixed number (training graphs: every shape static) instead of the symbolic 'N'. */
  batch?: number;
  /**
   * Inverted-dropout masks (scale 1/(1-p) or 0) as inputs named `dropout.<block>`, [N, H, W, C]
   * NHWC as nn/layers.ts draws them, applied where the tfjs forward applies dropout.
   */
  dropoutMasks?: boolean;
}

/** The U-Net forward as an ONNX graph with the weights as initializers. */
export function buildUNetGraph(cfg: UNetConfig, weights: WeightSource): GraphBuilder {
  const g = new GraphBuilder();
  const eps = describeUNet(g, cfg, initializerWeights(g, cfg, weights));
  g.output(eps, 'eps', ['N', cfg.imageSize, cfg.imageSize, outChannelsOf(cfg)]);
  return g;
}

function outChannelsOf(cfg: UNetConfig): number {
  return structureOf(cfg).outCh;
}

/**
 * Writes the U-Net into g: inputs x [N, H, W, C] and t [N] (original timesteps, float), and returns
 * the value of eps [N, H, W, Cout].
 */
export function describeUNet(g: GraphBuilder, cfg: UNetConfig, w: UNetWeights, opts: UNetGraphOptions = {}): string {
  const st = structureOf(cfg);
  const shapes = new Map(paramShapes(cfg).map((p) => [p.name, p.shape]));
  const N: number | string = opts.batch ?? 'N';

  // Shared constants.
  const one = g.floats('one', [1], []);
  const flatGroups = new Map<number, string>();
  const groupView = (groups: number) => {
    if (!flatGroups.has(groups)) flatGroups.set(groups, g.ints(`shape.groups${groups}`, [0, groups, -1]));
    return flatGroups.get(groups)!;
  };
  const groupAffine = new Map<number, { scale: string; bias: string }>();
  const unitAffine = (groups: number) => {
    if (!groupAffine.has(groups)) {
      groupAffine.set(groups, { scale: g.floats(`gn.ones${groups}`, new Array(groups).fill(1)), bias: g.floats(`gn.zeros${groups}`, new Array(groups).fill(0)) });
    }
    return groupAffine.get(groups)!;
  };
  const nchwShapes = new Map<string, string>();
  const nchw = (c: number, res: number) => {
    const key = `${c}x${res}`;
    if (!nchwShapes.has(key)) nchwShapes.set(key, g.ints(`shape.c${c}r${res}`, [0, c, res, res]));
    return nchwShapes.get(key)!;
  };

  const silu = (x: string) => g.op('Mul', [x, g.op('Sigmoid', [x])], {}, 'silu');
  const conv = (x: string, name: string, stride = 1): string => {
    const shape = shapes.get(`${name}.w`)!;
    const k = shape[0]!;
    const p = (k - 1) / 2;
    const kernel = w.convKernel(`${name}.w`, shape);
    const b = w.vector(`${name}.b`, shape[3]!);
    return g.op('Conv', [x, kernel, b], { kernel_shape: [k, k], strides: [stride, stride], pads: [p, p, p, p] }, name);
  };
  const dense = (x: string, name: string): string => {
    const shape = shapes.get(`${name}.w`)!;
    return g.op('Gemm', [x, w.matrix(`${name}.w`, shape), w.vector(`${name}.b`, shape[1]!)], {}, name);
  };

  /**
   * GroupNorm (affine) over x [N, C, res, res]; with `mod` ([N, 2C] of ADM's scale and shift) also
   * h * (1 + scale) + shift, folded into one per-(sample, channel) affine map on [N, C, 1, 1].
   */
  const groupNorm = (x: string, name: string, c: number, res: number, mod?: string): string => {
    const groups = groupCount(c);
    const { scale, bias } = unitAffine(groups);
    const flat = g.op('Reshape', [x, groupView(groups)]);
    const normed = g.op('InstanceNormalization', [flat, scale, bias], { epsilon: float(GN_EPS) });
    const h = g.op('Reshape', [normed, nchw(c, res)]);
    const gamma = w.perChannel(`${name}.g`, c);
    const beta = w.perChannel(`${name}.b`, c);
    if (!mod) return g.op('Add', [g.op('Mul', [h, gamma]), beta], {}, `${name}.out`);
    const [s, shift] = g.opN('Split', [g.op('Reshape', [mod, g.ints(`${name}.modshape`, [0, 2 * c, 1, 1])])], 2, { axis: 1 });
    const s1 = g.op('Add', [s!, one]);
    const a = g.op('Mul', [gamma, s1]);
    const b = g.op('Add', [g.op('Mul', [beta, s1]), shift!]);
    return g.op('Add', [g.op('Mul', [h, a]), b], {}, `${name}.out`);
  };

  // Timestep embedding: [cos(t f_i), sin(t f_i)], f_i = exp(-ln(10000) i / half), as nn/layers.ts.
  const xIn = g.input('x', [N, cfg.imageSize, cfg.imageSize, cfg.inChannels]);
  const tIn = g.input('t', [N]);
  const half = st.ch / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / half);
  const args = g.op('Mul', [g.op('Unsqueeze', [tIn, g.ints('axes1', [1])]), g.weight('time_embed.freqs', freqs, [1, half])]);
  let emb = dense(g.op('Concat', [g.op('Cos', [args]), g.op('Sin', [args])], { axis: 1 }), 'time_embed.0');
  emb = dense(silu(emb), 'time_embed.2');
  const embAct = silu(emb);

  const resBlock = (l: ResLayer, h: string, res: number): string => {
    const q = l.name;
    const inner = conv(silu(groupNorm(h, `${q}.in_norm`, l.cin, res)), `${q}.in_conv`);
    const mod = dense(embAct, `${q}.emb`);
    let act = silu(groupNorm(inner, `${q}.out_norm`, l.cout, res, mod));
    if (opts.dropoutMasks && cfg.dropout > 0) {
      const mask = g.input(`dropout.${q}`, [N, res, res, l.cout]);
      act = g.op('Mul', [act, g.op('Transpose', [mask], { perm: [0, 3, 1, 2] })], {}, `${q}.dropout`);
    }
    const out = conv(act, `${q}.out_conv`);
    const skip = l.cin === l.cout ? h : conv(h, `${q}.skip`);
    return g.op('Add', [skip, out], {}, `${q}.out`);
  };

  const attnBlock = (l: AttnLayer, h: string, res: number): string => {
    const q = l.name;
    const c = l.ch;
    const heads = c / cfg.headChannels;
    const d = cfg.headChannels;
    const qkvW = w.qkv(`${q}.qkv`, shapes.get(`${q}.qkv.w`)!, c, Math.fround(1 / Math.sqrt(d)));
    const qkv = g.op('Conv', [groupNorm(h, `${q}.norm`, c, res), qkvW.w, qkvW.b], { kernel_shape: [1, 1] }, `${q}.qkv`);
    // Channels are ordered (q|k|v, head, d): a free reshape to [N, 3 heads, d, L].
    const [qh, kh, vh] = g.opN('Split', [g.op('Reshape', [qkv, g.ints(`${q}.heads`, [0, 3 * heads, d, res * res])])], 3, { axis: 1 });
    const scores = g.op('MatMul', [g.op('Transpose', [qh!], { perm: [0, 1, 3, 2] }), kh!]); // [N, heads, Lq, Lk]
    const attn = g.op('Softmax', [scores], { axis: -1 });
    const o = g.op('MatMul', [vh!, g.op('Transpose', [attn], { perm: [0, 1, 3, 2] })]); // [N, heads, d, Lq]
    const proj = conv(g.op('Reshape', [o, nchw(c, res)]), `${q}.proj`);
    return g.op('Add', [h, proj], {}, `${q}.out`);
  };

  const scales2x = g.floats('scales2x', [1, 1, 2, 2]);
  const upsample = (h: string): string =>
    g.op('Resize', [h, '', scales2x], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });

  let res = cfg.imageSize;
  const apply = (l: Layer, h: string): string => {
    switch (l.kind) {
      case 'res':
        return resBlock(l, h, res);
      case 'attn':
        return attnBlock(l, h, res);
      case 'down':
        res /= 2;
        return conv(h, l.name, 2);
      case 'up':
        res *= 2;
        return conv(upsample(h), `${l.name}.conv`);
    }
  };

  let h = conv(g.op('Transpose', [xIn], { perm: [0, 3, 1, 2] }, 'x_nchw'), 'input.conv');
  const hs: string[] = [h];
  for (const unit of st.down) {
    for (const l of unit) h = apply(l, h);
    hs.push(h);
  }
  for (const l of st.mid) h = apply(l, h);
  for (const unit of st.up) {
    h = g.op('Concat', [h, hs.pop()!], { axis: 1 });
    for (const l of unit) h = apply(l, h);
  }
  const finalCh = shapes.get('out.norm.g')![0]!;
  h = conv(silu(groupNorm(h, 'out.norm', finalCh, res)), 'out.conv');
  if (res !== cfg.imageSize) throw new Error(`ONNX export: the up path ends at resolution ${res}, not ${cfg.imageSize}`);
  return g.op('Transpose', [h], { perm: [0, 2, 3, 1] }, 'eps');
}

/** Identifies the exporter's graph layout; bump it whenever the graph changes, so cached exports are rebuilt. */
export const UNET_GRAPH_VERSION = 1;

/** The serialised ONNX model of the U-Net. */
export function unetOnnxModel(cfg: UNetConfig, weights: WeightSource, docString = ''): Uint8Array {
  return buildUNetGraph(cfg, weights).encode({
    producer: 'exposure-lab',
    producerVersion: `unet-graph ${UNET_GRAPH_VERSION}`,
    docString,
    graphName: 'adm_unet',
  });
}

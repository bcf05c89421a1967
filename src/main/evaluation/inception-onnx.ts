/**
 * The standard FID Inception (or any network with the same interface) from a user-supplied ONNX
 * file, run by ONNX Runtime on the CPU. The weights cannot be shipped or downloaded here; see
 * docs/inception.md for where a file comes from and how to check one.
 *
 * Interface expected (that of the TF FID graph, pt_inception-2015-12-05, exported with tf2onnx):
 *  - one image input, NHWC with 3 channels, uint8 (or float32 holding 0..255 values); any H x W
 *    when its spatial dims are symbolic (the graph resizes to 299 itself), else images are resized
 *    to the fixed size it declares (resizeNHWC: bilinear up, area averaging down);
 *  - a pooled output, N x 2048 (pool_3; N x 1 x 1 x 2048 is flattened): FID, KID, precision/recall;
 *  - optionally a spatial output, N x 17 x 17 x 768 NHWC (mixed_6/conv): sFID uses its first 7
 *    channels, 17 * 17 * 7 = 2023 dims, as guided-diffusion's evaluator does;
 *  - optionally class scores: logits (N x 1008), or softmax probabilities (whose log is used).
 * Outputs are found by name (pool_3 / mixed_6 / logits / softmax patterns), then by shape, unless
 * named explicitly. Grey images are replicated to RGB.
 *
 * The id is "inception-onnx-<first 8 hex of the file's SHA-256>": scores name the exact file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { convertChannels } from '../data/channels';
import { resizeNHWC } from '../data/resize';
import { loadOnnxRuntime, onnxRuntimeLoadError, onnxThreads } from '../onnx/session';
import { checkImageBatch } from './classifier/classifier-input';
import type { FeatureNetwork, FeatureSet, ImageBatchU8 } from './feature-network';
import type { FeatureMatrix } from '../metrics/gaussian-stats';

/** Explicit names of the model's input and outputs (each optional: the rest is detected). */
export interface InceptionOutputNames {
  input?: string;
  pool?: string;
  spatial?: string;
  logits?: string;
}

export interface InceptionOnnxOptions {
  outputs?: InceptionOutputNames;
  /** ONNX Runtime intra-op threads; default its own choice (all cores). */
  threads?: number;
}

/** Channels of the spatial map kept for sFID (guided-diffusion: mixed_6/conv[..., :7]). */
export const SFID_CHANNELS = 7;

type Dims = readonly (number | string)[];

export interface TensorInfo {
  name: string;
  type: string | null;
  /** [] when the model does not declare a shape. */
  dims: Dims;
}

interface Interface {
  input: TensorInfo;
  pool: TensorInfo;
  spatial: TensorInfo | null;
  logits: TensorInfo | null;
  /** Log of the output before use: it holds probabilities (softmax), not logits. */
  logitsAreProbabilities: boolean;
  /** Fixed input size, or null when the model takes any size. */
  size: [h: number, w: number] | null;
  /** Fixed batch size, or null. */
  batch: number | null;
}

function describeDims(d: Dims): string {
  return d.length ? `[${d.map((x) => (typeof x === 'number' && x >= 0 ? x : '?')).join(' x ')}]` : '[shape not declared]';
}

const fixed = (d: number | string | undefined): number | null => (typeof d === 'number' && d > 0 ? d : null);

function metadataOf(session: Ort.InferenceSession, which: 'input' | 'output'): TensorInfo[] {
  const names = which === 'input' ? session.inputNames : session.outputNames;
  const meta = (which === 'input' ? session.inputMetadata : session.outputMetadata) ?? [];
  return names.map((name) => {
    const m = meta.find((x) => x.name === name);
    return m && m.isTensor ? { name, type: m.type, dims: m.shape } : { name, type: null, dims: [] };
  });
}

function perSample(d: Dims): number | null {
  let p = 1;
  for (const x of d.slice(1)) {
    const f = fixed(x);
    if (f === null) return null;
    p *= f;
  }
  return p;
}

/** Picks the input and outputs by explicit name, name pattern, then shape. Exported for tests. */
export function detectInterface(file: string, inputs: TensorInfo[], outputs: TensorInfo[], names: InceptionOutputNames = {}): Interface {
  const listing =
    `inputs: ${inputs.map((t) => `${t.name} ${t.type ?? '?'} ${describeDims(t.dims)}`).join(', ')}; ` +
    `outputs: ${outputs.map((t) => `${t.name} ${t.type ?? '?'} ${describeDims(t.dims)}`).join(', ')}`;
  const fail = (what: string): never => {
    throw new Error(
      `${file}: ${what}. This is not an FID Inception with the expected interface (uint8 NHWC image input; pool_3 N x 2048; ` +
      `optional mixed_6/conv N x 17 x 17 x 768 and logits). The model has ${listing}. ` +
      'Name the tensors explicitly (--onnx-input / --onnx-pool / --onnx-spatial / --onnx-logits) or see docs/inception.md.',
    );
  };
  const byName = (list: TensorInfo[], name: string | undefined, what: string): TensorInfo | null => {
    if (name === undefined) return null;
    return list.find((t) => t.name === name) ?? fail(`it has no ${what} named '${name}'`);
  };

  let input = byName(inputs, names.input, 'input');
  if (!input) {
    if (inputs.length !== 1) fail(`it has ${inputs.length} inputs; expected exactly one image input (or name it)`);
    input = inputs[0]!;
  }
  if (input.type !== null && input.type !== 'uint8' && input.type !== 'float32') {
    fail(`its input '${input.name}' is ${input.type}; expected uint8 (or float32 holding 0..255 values)`);
  }
  if (input.dims.length !== 0 && (input.dims.length !== 4 || (fixed(input.dims[3]) !== null && fixed(input.dims[3]) !== 3))) {
    fail(`its input '${input.name}' is ${describeDims(input.dims)}; expected NHWC images with 3 channels [N x H x W x 3]`);
  }
  const h = fixed(input.dims[1]);
  const w = fixed(input.dims[2]);

  const used = new Set<string>();
  const pick = (explicit: string | undefined, what: string, pattern: RegExp, shapeOk: (d: Dims) => boolean): TensorInfo | null => {
    const named = byName(outputs, explicit, what);
    if (named) return named;
    const free = outputs.filter((t) => !used.has(t.name));
    return free.find((t) => pattern.test(t.name)) ?? free.find((t) => t.dims.length > 0 && shapeOk(t.dims)) ?? null;
  };
  const pool =
    pick(names.pool, 'pooled output', /pool_?3|pool3|pool|avgpool/i, (d) => perSample(d) === 2048 && (d.length === 2 || (d.length === 4 && d[1] === 1 && d[2] === 1))) ??
    fail('no pooled (pool_3, N x 2048) output was found');
  used.add(pool.name);
  const spatial = pick(names.spatial, 'spatial output', /mixed_?6|mixed6|spatial/i, (d) => d.length === 4 && fixed(d[3]) === 768);
  if (spatial) {
    used.add(spatial.name);
    if (spatial.dims.length !== 0 && spatial.dims.length !== 4) fail(`its spatial output '${spatial.name}' is ${describeDims(spatial.dims)}; expected N x H x W x C (NHWC)`);
  }
  const logits = pick(names.logits, 'logits output', /logit|softmax|prob/i, (d) => d.length === 2 && (fixed(d[1]) === 1008 || fixed(d[1]) === 1000));
  return {
    input,
    pool,
    spatial,
    logits,
    logitsAreProbabilities: logits !== null && /softmax|prob/i.test(logits.name) && !/logit/i.test(logits.name),
    size: h !== null && w !== null ? [h, w] : null,
    batch: fixed(input.dims[0]),
  };
}

export async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('end', resolve)
      .on('error', (e) => reject(new Error(`${file}: cannot read the feature network file (${e.message})`, { cause: e })));
  });
  return h.digest('hex');
}

export class InceptionOnnxNetwork implements FeatureNetwork {
  readonly id: string;
  readonly description: string;
  private session: Ort.InferenceSession | null;

  constructor(
    private readonly ort: typeof Ort,
    session: Ort.InferenceSession,
    readonly file: string,
    readonly sha256: string,
    readonly io: Interface,
  ) {
    this.session = session;
    this.id = `inception-onnx-${sha256.slice(0, 8)}`;
    this.description =
      `Inception (ONNX file ${basename(file)}, sha256 ${sha256.slice(0, 16)}...): pooled '${io.pool.name}'` +
      (io.spatial ? `, spatial '${io.spatial.name}' (first ${SFID_CHANNELS} channels)` : ', no spatial output (no sFID)') +
      (io.logits ? `, ${io.logitsAreProbabilities ? 'probabilities' : 'logits'} '${io.logits.name}'` : ', no logits (no IS)') +
      (io.size ? `; input resized to ${io.size[0]}x${io.size[1]}` : '; any input size');
  }

  /** NHWC RGB bytes of images start..start+count-1, at the model's size. */
  private batchPixels(images: ImageBatchU8, start: number, count: number): { data: Uint8Array; h: number; w: number } {
    const [, h, w, c] = images.shape;
    const per = h * w * c;
    let px = images.data.subarray(start * per, (start + count) * per);
    if (c === 1) px = convertChannels(px, count * h * w, 1, 3);
    if (this.io.size && (this.io.size[0] !== h || this.io.size[1] !== w)) {
      return { data: resizeNHWC(px, count, h, w, 3, this.io.size[0], this.io.size[1]), h: this.io.size[0], w: this.io.size[1] };
    }
    return { data: px, h, w };
  }

  async extract(images: ImageBatchU8, opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<FeatureSet> {
    const session = this.session;
    if (!session) throw new Error(`feature network ${this.id} was disposed`);
    checkImageBatch(images);
    const io = this.io;
    const n = images.shape[0];
    const batch = io.batch ?? opts.batchSize ?? 50;
    const fetches = [io.pool.name, ...(io.spatial ? [io.spatial.name] : []), ...(io.logits ? [io.logits.name] : [])];
    let pooled: Float32Array | null = null;
    let spatial: Float32Array | null = null;
    let logits: Float32Array | null = null;
    let dims = { pool: 0, spatial: 0, logits: 0 };
    for (let s = 0; s < n; s += batch) {
      const m = Math.min(batch, n - s);
      const { data, h, w } = this.batchPixels(images, s, m);
      // A model with a fixed batch size gets a zero-padded last batch; the padding rows are dropped.
      const rows = io.batch ?? m;
      let feed: Uint8Array = data;
      if (rows !== m) {
        feed = new Uint8Array(rows * h * w * 3);
        feed.set(data);
      }
      const tensor =
        io.input.type === 'float32'
          ? new this.ort.Tensor('float32', Float32Array.from(feed), [rows, h, w, 3])
          : new this.ort.Tensor('uint8', feed, [rows, h, w, 3]);
      let result: Ort.InferenceSession.ReturnType;
      try {
        result = await session.run({ [io.input.name]: tensor }, fetches);
      } catch (e) {
        throw new Error(`${this.file}: ONNX Runtime failed on a batch of ${rows} ${h}x${w} images: ${(e as Error).message}`, { cause: e });
      }
      const take = (name: string, what: string): { data: Float32Array; per: number; dims: readonly number[] } => {
        const t = result[name]!;
        if (t.type !== 'float32') throw new Error(`${this.file}: output '${name}' (${what}) is ${t.type}, expected float32`);
        if (t.dims[0] !== rows) throw new Error(`${this.file}: output '${name}' (${what}) has ${t.dims[0]} rows for a batch of ${rows}`);
        return { data: t.data as Float32Array, per: (t.data as Float32Array).length / rows, dims: t.dims };
      };
      const p = take(io.pool.name, 'pooled features');
      if (!pooled) {
        dims.pool = p.per;
        pooled = new Float32Array(n * p.per);
      }
      pooled.set(p.data.subarray(0, m * p.per), s * dims.pool);
      if (io.spatial) {
        const sp = take(io.spatial.name, 'spatial features');
        if (sp.dims.length !== 4) throw new Error(`${this.file}: spatial output '${io.spatial.name}' is [${sp.dims.join(' x ')}], expected N x H x W x C`);
        const [, sh, sw, sc] = sp.dims as [number, number, number, number];
        const k = Math.min(SFID_CHANNELS, sc);
        if (!spatial) {
          dims.spatial = sh * sw * k;
          spatial = new Float32Array(n * dims.spatial);
        }
        for (let i = 0; i < m; i++) {
          for (let q = 0; q < sh * sw; q++) {
            const src = (i * sh * sw + q) * sc;
            const dst = (s + i) * dims.spatial + q * k;
            for (let ch = 0; ch < k; ch++) spatial[dst + ch] = sp.data[src + ch]!;
          }
        }
      }
      if (io.logits) {
        const l = take(io.logits.name, 'class scores');
        if (!logits) {
          dims.logits = l.per;
          logits = new Float32Array(n * l.per);
        }
        const o = s * dims.logits;
        for (let i = 0; i < m * l.per; i++) logits[o + i] = io.logitsAreProbabilities ? Math.log(l.data[i]!) : l.data[i]!;
      }
      opts.onProgress?.(s + m, n);
    }
    if (n === 0) dims = { pool: 2048, spatial: 0, logits: 0 };
    const matrix = (data: Float32Array | null, cols: number): FeatureMatrix | null => (data ? { data, rows: n, cols } : null);
    return {
      pooled: matrix(pooled, dims.pool) ?? { data: new Float32Array(0), rows: 0, cols: dims.pool },
      spatial: matrix(spatial, dims.spatial),
      logits: matrix(logits, dims.logits),
    };
  }

  dispose(): void {
    const s = this.session;
    this.session = null;
    if (s) void s.release().catch(() => undefined);
  }
}

/** Opens an ONNX file as a feature network: hashes it, loads it on the CPU and checks its interface. */
export async function loadInceptionOnnx(file: string, opts: InceptionOnnxOptions = {}): Promise<InceptionOnnxNetwork> {
  const ort = await loadOnnxRuntime();
  if (!ort) throw new Error(`the Inception feature network needs onnxruntime-node, which could not be loaded: ${onnxRuntimeLoadError() ?? 'unknown error'}`);
  const sha256 = await fileSha256(file);
  const options: Ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  options.intraOpNumThreads = opts.threads ?? onnxThreads();
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, options);
  } catch (e) {
    throw new Error(`${file}: ONNX Runtime cannot load this file (${(e as Error).message}); is it an ONNX model? See docs/inception.md`, { cause: e });
  }
  try {
    const io = detectInterface(file, metadataOf(session, 'input'), metadataOf(session, 'output'), opts.outputs);
    return new InceptionOnnxNetwork(ort, session, file, sha256, io);
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
}

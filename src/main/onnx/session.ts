/**
 * ONNX Runtime (CPU execution provider) sessions of the exported U-Net, and the adapter that lets
 * the sampler call one like the tfjs network.
 *
 * onnxruntime-node is loaded lazily: it is a native addon, and a machine where it cannot load (no
 * prebuilt binary for the platform) must still sample with tfjs, not fail to start.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-node';
import type { SamplingModel } from '../diffusion/samplers';

let ortModule: Promise<typeof Ort | null> | null = null;
let loadError: string | null = null;

/** onnxruntime-node, or null (with onnxRuntimeLoadError() saying why) when it cannot load here. */
export function loadOnnxRuntime(): Promise<typeof Ort | null> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: typeof Ort }).default ?? m) as typeof Ort,
    (e: unknown) => {
      loadError = (e as Error).message;
      return null;
    },
  );
  return ortModule;
}

export function onnxRuntimeLoadError(): string | null {
  return loadError;
}

async function requireOnnxRuntime(): Promise<typeof Ort> {
  const ort = await loadOnnxRuntime();
  if (!ort) {
    throw new Error(
      `onnxruntime-node could not be loaded (${loadError ?? 'unknown error'}); reinstall it with ` +
        'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node, or sample with --engine tfjs',
    );
  }
  return ort;
}

let processThreads: number | null = null;

/**
 * The cores this process may use for ONNX Runtime: all of them unless a share was set (a job
 * process gets its share from the supervisor, so concurrent jobs do not oversubscribe the cores).
 */
export function onnxThreads(): number {
  return processThreads ?? os.availableParallelism();
}

export function setOnnxThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`ONNX Runtime threads must be a positive integer, got ${threads}`);
  processThreads = threads;
}

export interface OnnxSessionOptions {
  /** Threads for the operators' internal parallelism; default onnxThreads(). */
  threads?: number;
  /**
   * Let idle worker threads spin between operators (ORT's default). Default: off. Spinning saves
   * microseconds per operator on an idle machine but burns the cores that a training job or another
   * sampler needs on a shared one: measured on a loaded 2-core machine (scripts/bench-onnx.ts), a
   * forward pass took 1.4-2.9x as long with it.
   */
  spinWait?: boolean;
}

export interface UNetSession {
  session: Ort.InferenceSession;
  threads: number;
  /** onnxruntime-node's version, for the records. */
  version: string;
  release(): Promise<void>;
}

/** A CPU session of an ONNX model (a file path or the serialised bytes), all graph optimisations on. */
export async function createUNetSession(model: string | Uint8Array, opts: OnnxSessionOptions = {}): Promise<UNetSession> {
  const ort = await requireOnnxRuntime();
  const threads = opts.threads ?? onnxThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`ONNX Runtime threads must be a positive integer, got ${threads}`);
  const options: Ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    // One graph, run op after op: a second pool for parallel branches only competes for the cores.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Warnings only (ORT's default also prints per-session info lines on stderr).
    logSeverityLevel: 2,
    extra: { session: { intra_op: { allow_spinning: opts.spinWait ? '1' : '0' } } },
  };
  const session =
    typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  for (const name of ['x', 't']) {
    if (!session.inputNames.includes(name)) throw new Error(`ONNX model has no input '${name}' (inputs: ${session.inputNames.join(', ')}): not an Exposure Lab U-Net export`);
  }
  if (!session.outputNames.includes('eps')) throw new Error(`ONNX model has no output 'eps' (outputs: ${session.outputNames.join(', ')}): not an Exposure Lab U-Net export`);
  return { session, threads, version: ort.env.versions.common, release: () => session.release() };
}

/**
 * The network as the sampler's model: x NHWC and t [N] in, eps (and v) NHWC out, through ORT.
 * Each call reads x and t off the tfjs backend (tfjs-wasm and ORT have separate heaps, so that is
 * one unavoidable copy; the cpu backend hands over its own array), gives those arrays to ORT as
 * they are, and turns ORT's output array into the result tensor: no staging buffers, nothing copied
 * twice. Calls may overlap (ORT queues them), as nothing is shared between them. It creates no
 * tensor before its await, so calling it inside tf.tidy is safe.
 */
export async function onnxModel(unet: UNetSession, outChannels: number): Promise<SamplingModel> {
  const ort = await requireOnnxRuntime();
  return async (x: tf.Tensor4D, t: tf.Tensor1D): Promise<tf.Tensor4D> => {
    const [n, h, w, c] = x.shape;
    if (t.shape[0] !== n) throw new Error(`onnx model: t has ${t.shape[0]} timesteps for a batch of ${n}`);
    const xData = x.dataSync();
    if (!(xData instanceof Float32Array)) throw new Error(`onnx model: x must be float32, got ${x.dtype}`);
    const tRaw = t.dataSync();
    // Timesteps are integers; the graph takes them as float32 (the embedding multiplies them).
    const tData = tRaw instanceof Float32Array ? tRaw : Float32Array.from(tRaw as Int32Array);
    const result = await unet.session.run({ x: new ort.Tensor('float32', xData, [n, h, w, c]), t: new ort.Tensor('float32', tData, [n]) });
    const eps = result['eps']!;
    const dims = eps.dims;
    if (dims.length !== 4 || dims[0] !== n || dims[1] !== h || dims[2] !== w || dims[3] !== outChannels) {
      throw new Error(`onnx model: output eps has shape [${dims.join(', ')}], expected [${n}, ${h}, ${w}, ${outChannels}]`);
    }
    return tf.tensor4d(eps.data as Float32Array, [n, h, w, outChannels]);
  };
}

/**
 * Sample sets: images drawn from a checkpoint with a given sampler, written as the two artifacts a
 * researcher expects — a PNG grid to look at and an .npz of uint8 samples (arr_0, NHWC) that the
 * reference evaluator reads — plus a JSON record of exactly how they were drawn.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sample, type SamplerOptions, type SamplingModel } from '../diffusion/samplers';
import { createProcess } from '../diffusion/schedule';
import { gridPng, toUint8 } from '../formats/image-grid';
import { writeNpz } from '../formats/npz';
import { writeFileAtomic } from '../formats/atomic-file';
import { listCheckpoints } from '../training/checkpoint';
import { loadModelForInference } from '../training/model-state';
import { activeBackend } from '../nn/backend';
import { loadOnnxForInference } from '../onnx/checkpoint-onnx';
import { loadOnnxRuntime, onnxRuntimeLoadError } from '../onnx/session';
import { runPaths } from '../training/trainer';
import type { UNetConfig } from '../nn/unet';
import type { TrainConfig } from '../../shared/config';

export type SamplerChoice = Omit<SamplerOptions, 'learnSigma'>;

/**
 * What runs the network: ONNX Runtime on an export of the checkpoint (several times faster on CPU)
 * or the tfjs backend. The sampler's own arithmetic runs on tfjs either way.
 */
export type InferenceEngine = 'onnx' | 'tfjs';

/** The engine a request gets: the one it names, else ONNX when onnxruntime-node loads. */
export async function resolveEngine(requested?: InferenceEngine): Promise<{ engine: InferenceEngine; note: string | null }> {
  const engine = requested ?? null;
  if (engine === 'tfjs') return { engine, note: null };
  if (engine === 'onnx') {
    if (!(await loadOnnxRuntime())) throw new Error(`the onnx engine needs onnxruntime-node, which could not be loaded: ${onnxRuntimeLoadError()}. Use --engine tfjs`);
    return { engine, note: null };
  }
  if (engine !== null) throw new Error(`unknown inference engine '${String(engine)}'; use 'onnx' or 'tfjs'`);
  if (await loadOnnxRuntime()) return { engine: 'onnx', note: null };
  return { engine: 'tfjs', note: `onnxruntime-node could not be loaded (${onnxRuntimeLoadError()}); sampled with tfjs` };
}

export interface SampleSetRequest {
  /** A checkpoint file, or a run folder (its latest checkpoint is used). */
  checkpoint: string;
  weights: 'ema' | 'raw';
  sampler: SamplerChoice;
  n: number;
  seed: number;
  batchSize: number;
  /** Folder for the artifacts; default: the run's samples/ folder. */
  outDir?: string;
  onStep?: (done: number, total: number) => void;
  /** Default: 'onnx' when onnxruntime-node loads, else 'tfjs'. */
  engine?: InferenceEngine;
}

export interface SampleSet {
  images: Float32Array;
  uint8: Uint8Array;
  shape: [number, number, number, number];
  gridPath: string;
  npzPath: string;
  metaPath: string;
  checkpointFile: string;
  checkpointStep: number;
  objective: string;
  engine: InferenceEngine;
}

/** A checkpoint loaded on either engine: what sampling needs of it. */
interface InferenceModel {
  config: TrainConfig;
  unet: UNetConfig;
  step: number;
  model: SamplingModel;
  dispose(): void | Promise<void>;
}

/** Resolves a run folder or checkpoint path to a checkpoint file. */
export function resolveCheckpoint(p: string): string {
  if (!fs.existsSync(p)) throw new Error(`no such checkpoint or run folder: ${p}`);
  if (fs.statSync(p).isFile()) return p;
  const candidates = [runPaths(p).checkpoints, p];
  for (const dir of candidates) {
    const latest = listCheckpoints(dir).at(-1);
    if (latest) return latest.file;
  }
  throw new Error(`${p} holds no checkpoints (ckpt-*.xlab); train it first or pass a checkpoint file`);
}

export function sampleSetName(r: Pick<SampleSetRequest, 'sampler' | 'seed' | 'n' | 'weights'>, step: number): string {
  const s = r.sampler;
  const parts = [`step${step}`, s.kind, `T${s.steps || 'all'}`.replace(/,/g, '-')];
  if (s.kind === 'ddim' && s.eta) parts.push(`eta${s.eta}`);
  if (s.epsScale) parts.push(s.epsScale.kind === 'constant' ? `es${s.epsScale.lambda}` : `es${s.epsScale.start}-${s.epsScale.end}`);
  if (s.timeShift) parts.push(`ts${s.timeShift.cutoff}w${s.timeShift.window}`);
  if (s.variance) parts.push(s.variance);
  if (s.clipX0 === false) parts.push('noclip');
  parts.push(r.weights, `seed${r.seed}`, `n${r.n}`);
  return parts.join('_');
}

export async function generateSampleSet(req: SampleSetRequest): Promise<SampleSet> {
  const checkpointFile = resolveCheckpoint(req.checkpoint);
  const { engine, note } = await resolveEngine(req.engine);
  let loaded: InferenceModel;
  let engineRecord: Record<string, unknown>;
  if (engine === 'onnx') {
    const onnx = await loadOnnxForInference(checkpointFile, req.weights);
    loaded = onnx;
    engineRecord = { ...onnx.info };
  } else {
    loaded = loadModelForInference(checkpointFile, req.weights);
    engineRecord = { backend: activeBackend()?.name ?? null };
  }
  if (note) engineRecord['note'] = note;
  try {
    const { config, unet } = loaded;
    const process = createProcess(config.schedule, config.T);
    const options: SamplerOptions = { ...req.sampler, learnSigma: config.learnSigma };
    const shape: [number, number, number] = [unet.imageSize, unet.imageSize, unet.inChannels];
    const indices = Array.from({ length: req.n }, (_, i) => i);
    const images = await sample({
      model: loaded.model,
      process,
      options,
      shape,
      seed: req.seed,
      indices,
      batchSize: req.batchSize,
      onStep: req.onStep,
    });
    const uint8 = toUint8(images);
    const runDir = path.dirname(path.dirname(checkpointFile));
    const outDir = req.outDir ?? runPaths(runDir).samples;
    fs.mkdirSync(outDir, { recursive: true });
    const base = path.join(outDir, sampleSetName(req, loaded.step));
    const [h, w, c] = shape;
    await writeFileAtomic(base + '.png', await gridPng(uint8, req.n, h, w, c));
    await writeNpz(base + '.npz', { arr_0: { dtype: 'uint8', shape: [req.n, h, w, c], data: uint8 } });
    const meta = {
      checkpoint: path.resolve(checkpointFile),
      checkpointStep: loaded.step,
      objective: config.objective,
      gamma: config.gamma,
      weights: req.weights,
      sampler: options,
      seed: req.seed,
      n: req.n,
      engine,
      inference: engineRecord,
      noise: 'paired: sample i starts from Stream(seed, "xT", i) and gets Stream(seed, "z", k, i) at respaced step k, whatever the model',
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomic(base + '.json', JSON.stringify(meta, null, 2));
    return {
      images,
      uint8,
      shape: [req.n, h, w, c],
      gridPath: base + '.png',
      npzPath: base + '.npz',
      metaPath: base + '.json',
      checkpointFile,
      checkpointStep: loaded.step,
      objective: config.objective,
      engine,
    };
  } finally {
    await loaded.dispose();
  }
}

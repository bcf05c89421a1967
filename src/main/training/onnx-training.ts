/**
 * The ONNX Runtime training engine: each step's forward and backward pass run as one ONNX graph
 * (onnx/training-graph.ts) on ORT's CPU kernels, several times faster than tfjs-wasm here, while
 * everything that makes a run a run stays where the tfjs engine has it: the batch, timesteps and
 * noise from the same keyed streams, the objective's input and target (objectiveBatch), the
 * dropout masks (dropoutMask), Adam, the EMA, the timestep sampler and the checkpoint format. A run
 * can therefore switch engines on resume; the two agree up to float rounding (test/training/
 * onnx-training.test.ts), and each engine on its own is deterministic (a resumed run equals an
 * uninterrupted one, gamma = 0 equals adm, bit for bit).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-node';
import type { TrainConfig } from '../../shared/config';
import { batchAt } from '../data/dataset';
import { objectiveBatch } from '../diffusion/objectives';
import { dropoutMask } from '../nn/layers';
import type { UNetConfig } from '../nn/unet';
import { loadOnnxRuntime, onnxRuntimeLoadError } from '../onnx/session';
import { unetTrainingGraph, type TrainingGraph } from '../onnx/training-graph';
import { checkpointBytes, nonFiniteLoss, stepNoise, type TrainingSession, type TrainingSetup } from './trainer';

export type TrainingEngine = 'tfjs' | 'onnx';
export type EngineChoice = TrainingEngine | 'auto';

/** Why a config cannot train on ONNX Runtime, or null when it can. */
export function onnxTrainingUnsupported(config: TrainConfig, unet: UNetConfig): string | null {
  if (unet.learnSigma) return 'learned variance (the VB term) is trained by the tfjs engine only';
  if (config.objective === 'adm-gp') return "adm-gp's gradient penalty needs a second-order gradient, which the tfjs engine computes";
  return null;
}

/**
 * The engine a run trains with. 'auto' takes ONNX Runtime when it loads and covers the config, and
 * the tfjs backend is a CPU one (with tfjs-node's native TensorFlow, possibly on a GPU, tfjs stays).
 */
export async function resolveEngine(choice: EngineChoice, config: TrainConfig, unet: UNetConfig, tfBackend: string): Promise<{ engine: TrainingEngine; why: string }> {
  if (choice === 'tfjs') return { engine: 'tfjs', why: 'chosen' };
  const unsupported = onnxTrainingUnsupported(config, unet);
  if (choice === 'onnx') {
    if (unsupported) throw new Error(`--engine onnx cannot train this run: ${unsupported}; use --engine tfjs (or auto)`);
    if (!(await loadOnnxRuntime())) {
      throw new Error(`--engine onnx: onnxruntime-node could not be loaded (${onnxRuntimeLoadError() ?? 'unknown error'}); reinstall it with ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node, or use --engine tfjs`);
    }
    return { engine: 'onnx', why: 'chosen' };
  }
  if (unsupported) return { engine: 'tfjs', why: unsupported };
  if (tfBackend === 'tensorflow') return { engine: 'tfjs', why: 'the native TensorFlow backend is loaded' };
  if (!(await loadOnnxRuntime())) return { engine: 'tfjs', why: `onnxruntime-node is not available (${onnxRuntimeLoadError() ?? 'unknown error'})` };
  return { engine: 'onnx', why: 'ONNX Runtime is available' };
}

/** The graph's feeds for one step, in the graph's input names. */
function stepFeeds(ort: typeof Ort, s: TrainingSetup, graph: TrainingGraph): { feeds: Record<string, Ort.Tensor>; t: Int32Array } {
  const { config, data, unet, params } = s;
  const B = config.batch;
  const shape: [number, number, number, number] = [B, data.height, data.width, data.channels];
  const perSample = data.height * data.width * data.channels;
  const noise = stepNoise(config, s.step, perSample);
  const { t, weights } = s.sampler.sample(B, noise.tStream);
  const x0Values = batchAt(data, s.step, B, config.seed, s.flip);
  const { xIn, tModel, target } = tf.tidy(() => {
    const batch = objectiveBatch({
      process: s.process,
      objective: config.objective,
      gamma: config.gamma,
      x0: tf.tensor4d(x0Values, shape),
      t,
      eps: tf.tensor4d(noise.eps, shape),
      xi: tf.tensor4d(noise.xi, shape),
      weights,
    });
    return { xIn: batch.xIn.dataSync() as Float32Array, tModel: batch.tModel.dataSync() as Float32Array, target: batch.target.dataSync() as Float32Array };
  });
  const feeds: Record<string, Ort.Tensor> = {
    x: new ort.Tensor('float32', xIn, shape),
    t: new ort.Tensor('float32', tModel, [B]),
    target: new ort.Tensor('float32', target, shape),
    w: new ort.Tensor('float32', weights, [B]),
  };
  for (const m of graph.masks) {
    const size = m.shape.reduce((a, b) => a * b, 1);
    feeds[m.name] = new ort.Tensor('float32', dropoutMask(unet.dropout, noise.dropoutSeed, m.block, size), m.shape);
  }
  for (const p of graph.params) {
    const values = params.get(p.name)!.dataSync();
    if (!(values instanceof Float32Array)) throw new Error(`parameter ${p.name} is not float32`);
    feeds[p.name] = new ort.Tensor('float32', values, p.shape);
  }
  return { feeds, t };
}

/**
 * A training session on ONNX Runtime for a setup built by setupTraining (its parameters, optimiser
 * and EMA stay tfjs variables, so checkpoints are written exactly as by the tfjs engine).
 * `threads`: ORT's intra-op threads (the cores this run may use).
 */
export async function startOnnxTraining(s: TrainingSetup, threads: number): Promise<TrainingSession> {
  const ort = await loadOnnxRuntime();
  if (!ort) throw new Error(`onnxruntime-node could not be loaded (${onnxRuntimeLoadError() ?? 'unknown error'})`);
  const unsupported = onnxTrainingUnsupported(s.config, s.unet);
  if (unsupported) throw new Error(`ONNX training: ${unsupported}`);
  const graph = unetTrainingGraph(s.unet, s.config.batch);
  const session = await ort.InferenceSession.create(graph.bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    // No spinning between operators: a training job shares the machine with the app and other jobs.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });

  const trainStep = async () => {
    const lr = s.optimizer.currentLr();
    const { feeds, t } = stepFeeds(ort, s, graph);
    const out = await session.run(feeds);
    const loss = (out['loss']!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw nonFiniteLoss(loss, s.step);
    const grads: Record<string, tf.Tensor> = {};
    for (const p of graph.params) grads[p.name] = tf.tensor(out[`grad.${p.name}`]!.data as Float32Array, p.shape, 'float32');
    let gradNorm: number;
    try {
      gradNorm = s.optimizer.apply(s.params, grads);
    } finally {
      Object.values(grads).forEach((g) => g.dispose());
    }
    s.ema.update(s.params);
    s.sampler.update(t, out['per_sample']!.data as Float32Array);
    s.step += 1;
    return { loss, gradNorm, lr };
  };

  return {
    data: s.data,
    unet: s.unet,
    get step() {
      return s.step;
    },
    workers: threads,
    engine: 'onnx',
    trainStep,
    checkpointBytes: async () => checkpointBytes(s),
    dispose: async () => {
      await session.release();
      s.dispose();
    },
  };
}

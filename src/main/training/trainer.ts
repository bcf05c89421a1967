/**
 * The training loop: one objective, one U-Net, one dataset, checkpoints that resume bit for bit.
 *
 * Every random draw of step s comes from streams keyed (seed, purpose, s): the batch, timesteps,
 * eps, xi (the input perturbation), dropout masks and the gradient-penalty probe. A resumed run
 * therefore needs only the step counter and the tensors in the checkpoint to continue exactly.
 * xi is drawn on its own stream even when gamma = 0, so `adm-ip` with gamma 0 consumes the very
 * same eps as `adm` and reproduces it bit for bit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from '../../shared/config';
import { Stream } from '../rng';
import { loadDataset, batchAt, type Dataset } from '../data/dataset';
import { forward, initParams, countParams, type Params, type UNetConfig } from '../nn/unet';
import { createProcess, type Process } from '../diffusion/schedule';
import { trainingLoss, GP_ESTIMATOR, OBJECTIVE_DEFINITIONS, type Model } from '../diffusion/objectives';
import { createTimestepSampler, timestepSamplerFromJSON, type TimestepSampler, type TimestepSamplerState } from '../diffusion/timestep-sampling';
import { Adam, Ema } from './optimizer';
import {
  checkpointFileName,
  encodeCheckpoint,
  listCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint';
import { restoreGroup, snapshot, unetConfigFor } from './model-state';
import { writeFileAtomic } from '../formats/atomic-file';
import { resolveWorkerCount } from './parallel/worker-count';
import { resolveEngine, startOnnxTraining, type EngineChoice } from './onnx-training';
import { onnxThreads } from '../onnx/session';

export interface StepReport {
  step: number;
  stepsPlanned: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Steps per second over the recent window. */
  itPerSec: number;
}

export interface TrainHooks {
  onStep?: (r: StepReport) => void;
  /** Called after a metrics window is complete; rows are safe to persist. */
  onMetrics?: (rows: { step: number; name: string; value: number; wallTime: number }[]) => void;
  onCheckpoint?: (step: number, file: string) => void;
  /** Steps that need a checkpoint besides every checkpointEvery and the last (scheduled evaluations). */
  checkpointAt?: (step: number) => boolean;
  /** Awaited after each checkpoint is written and onCheckpoint ran: work that needs that file (scheduled evaluation). */
  afterCheckpoint?: (step: number, file: string) => Promise<void>;
  /** Once the engine is chosen (before the first step): what trains, on how many threads. */
  onSession?: (s: { engine: 'tfjs' | 'onnx'; workers: number }) => void;
  /** Polled between steps: true stops after writing a checkpoint (Ctrl-C, pause, cancel). */
  shouldStop?: () => boolean;
  onLog?: (line: string) => void;
}

export interface TrainResult {
  stepsDone: number;
  stopped: boolean;
  lastCheckpoint: string | null;
  finalLoss: number;
}

/** The files of a run folder. */
export function runPaths(outDir: string) {
  return {
    config: path.join(outDir, 'config.json'),
    checkpoints: path.join(outDir, 'checkpoints'),
    metrics: path.join(outDir, 'metrics.jsonl'),
    samples: path.join(outDir, 'samples'),
  };
}

export interface TrainingSetup {
  config: TrainConfig;
  data: Dataset;
  unet: UNetConfig;
  process: Process;
  params: Params;
  ema: Ema;
  optimizer: Adam;
  sampler: TimestepSampler;
  flip: boolean;
  step: number;
  dispose(): void;
}

/** Builds model, optimiser and data for a config; restores from a checkpoint file when given. */
export async function setupTraining(config: TrainConfig, resumeFrom?: string): Promise<TrainingSetup> {
  const data = await loadDataset(config.dataset, { imageSize: config.imageSize ?? undefined, channels: config.channels ?? undefined });
  const unet = unetConfigFor(config, { imageSize: data.height, channels: data.channels });
  if (data.height !== data.width) throw new Error(`dataset ${data.name} has non-square images (${data.height}x${data.width})`);
  const process = createProcess(config.schedule, config.T);
  const params = initParams(unet, config.seed);
  const ema = new Ema(config.emaRate, params);
  const optimizer = new Adam(config.optimizer, params);
  let sampler = createTimestepSampler(config.timestepSampler, config.T);
  const flip = config.flip === 'on' || (config.flip === 'auto' && data.flipAllowed);
  let step = 0;
  if (resumeFrom) {
    const ckpt = readCheckpoint(resumeFrom);
    restoreGroup(ckpt, 'params', params, resumeFrom);
    restoreGroup(ckpt, 'ema', ema.shadow, resumeFrom);
    restoreGroup(ckpt, 'adam_m', optimizer.m, resumeFrom);
    restoreGroup(ckpt, 'adam_v', optimizer.v, resumeFrom);
    optimizer.t = ckpt.header.optimizer.t;
    sampler = timestepSamplerFromJSON(ckpt.header.timestepSampler as TimestepSamplerState);
    step = ckpt.header.step;
  }
  return {
    config,
    data,
    unet,
    process,
    params,
    ema,
    optimizer,
    sampler,
    flip,
    step,
    dispose() {
      params.forEach((p) => p.dispose());
      ema.dispose();
      optimizer.dispose();
    },
  };
}

/** The per-step random draws, each on its own stream keyed by (seed, purpose, step). */
export function stepNoise(config: TrainConfig, step: number, perSample: number) {
  const n = config.batch * perSample;
  return {
    tStream: new Stream(config.seed, 'timesteps', step),
    eps: new Stream(config.seed, 'eps', step).fillNormal(new Float32Array(n)),
    xi: new Stream(config.seed, 'xi', step).fillNormal(new Float32Array(n)),
    gpProbe: config.objective === 'adm-gp' ? new Stream(config.seed, 'gp-probe', step).fillNormal(new Float32Array(n)) : null,
    dropoutSeed: new Stream(config.seed, 'dropout', step).nextU32(),
  };
}

/** One optimisation step; returns the batch-mean loss and the gradient norm. */
export function trainStep(s: TrainingSetup): { loss: number; gradNorm: number; lr: number } {
  const { config, data, unet, params } = s;
  const B = config.batch;
  const shape: [number, number, number, number] = [B, data.height, data.width, data.channels];
  const perSample = data.height * data.width * data.channels;
  const noise = stepNoise(config, s.step, perSample);
  const { t, weights } = s.sampler.sample(B, noise.tStream);
  const x0Values = batchAt(data, s.step, B, config.seed, s.flip);
  const lr = s.optimizer.currentLr();
  let perSample_: Float32Array = new Float32Array(0);
  const { value, grads } = tf.tidy(() => {
    const x0 = tf.tensor4d(x0Values, shape);
    const eps = tf.tensor4d(noise.eps, shape);
    const xi = tf.tensor4d(noise.xi, shape);
    const gpProbe = noise.gpProbe ? tf.tensor4d(noise.gpProbe, shape) : undefined;
    const model: Model = (x, tt) => forward(params, unet, x, tt, { training: true, dropoutSeed: noise.dropoutSeed });
    return tf.variableGrads(() => {
      const out = trainingLoss({
        model,
        process: s.process,
        objective: config.objective,
        gamma: config.gamma,
        learnSigma: config.learnSigma,
        x0,
        t,
        eps,
        xi,
        weights,
        gpLambda: config.gpLambda,
        gpProbe,
      });
      perSample_ = out.perSample.dataSync() as Float32Array;
      return out.loss;
    }, [...params.values()]);
  });
  const loss = value.dataSync()[0]!;
  value.dispose();
  if (!Number.isFinite(loss)) {
    Object.values(grads).forEach((g) => g.dispose());
    throw nonFiniteLoss(loss, s.step);
  }
  // variableGrads names gradients by variable name; the optimiser wants the parameter names.
  const byParam: Record<string, tf.Tensor> = {};
  for (const [name, p] of params) if (grads[p.name]) byParam[name] = grads[p.name]!;
  const gradNorm = s.optimizer.apply(params, byParam);
  Object.values(grads).forEach((g) => g.dispose());
  s.ema.update(params);
  s.sampler.update(t, perSample_);
  s.step += 1;
  return { loss, gradNorm, lr };
}

export function nonFiniteLoss(loss: number, step: number): Error {
  return new Error(`loss became ${loss} at step ${step}: lower the learning rate (--lr) or enable gradient clipping (--grad-clip 1)`);
}

export function checkpointBytes(s: TrainingSetup): Buffer {
  return encodeTrainingCheckpoint({ config: s.config, unet: s.unet, step: s.step, optimizerT: s.optimizer.t, sampler: s.sampler }, [
    ...snapshot('params', s.params),
    ...snapshot('ema', s.ema.shadow),
    ...snapshot('adam_m', s.optimizer.m),
    ...snapshot('adam_v', s.optimizer.v),
  ]);
}

/** The checkpoint of a training state, wherever its tensors were computed (this thread or workers). */
export function encodeTrainingCheckpoint(
  s: { config: TrainConfig; unet: UNetConfig; step: number; optimizerT: number; sampler: TimestepSampler },
  tensors: Parameters<typeof encodeCheckpoint>[1],
): Buffer {
  return encodeCheckpoint(
    {
      step: s.step,
      createdAt: new Date().toISOString(),
      config: s.config,
      unet: s.unet,
      rng: { seed: s.config.seed, step: s.step },
      optimizer: { t: s.optimizerT },
      timestepSampler: s.sampler.toJSON(),
    },
    tensors,
  );
}

/** What the training loop drives: a setup stepped in this thread, or data-parallel workers. */
export interface TrainingSession {
  readonly data: Dataset;
  readonly unet: UNetConfig;
  /** Steps completed. */
  readonly step: number;
  /** Threads that compute each step (1: this one). */
  readonly workers: number;
  /** What computes the forward and backward pass (everything else is the same for both). */
  readonly engine: 'tfjs' | 'onnx';
  trainStep(): Promise<{ loss: number; gradNorm: number; lr: number }>;
  checkpointBytes(): Promise<Buffer>;
  dispose(): Promise<void>;
}

function inThisThread(s: TrainingSetup): TrainingSession {
  return {
    data: s.data,
    unet: s.unet,
    get step() {
      return s.step;
    },
    workers: 1,
    engine: 'tfjs',
    trainStep: async () => trainStep(s),
    checkpointBytes: async () => checkpointBytes(s),
    dispose: async () => s.dispose(),
  };
}

export interface TrainOptions {
  resume?: boolean;
  hooks?: TrainHooks;
  stopAtStep?: number;
  /**
   * Data-parallel worker threads (wasm backend), or 'auto'. An execution choice, not part of the
   * config: any count gives the same run up to float rounding, and a run may resume with another.
   * Default 1: train in this thread. With the ONNX engine, ORT's threads instead.
   */
  workers?: number | 'auto';
  /**
   * What runs forward and backward: 'onnx' (ONNX Runtime's CPU kernels), 'tfjs' (the tfjs backend,
   * on worker threads when workers > 1), or 'auto' (ONNX Runtime where it loads and covers the
   * config; see training/onnx-training.ts). An execution choice like workers: the engines agree up
   * to float rounding and a run may resume on the other. Default 'tfjs'.
   */
  engine?: EngineChoice;
}

/**
 * Trains config.steps steps into outDir (a run folder), resuming from its latest checkpoint when
 * `resume` is set. Metric rows written after the last checkpoint by a run that was killed are
 * dropped on resume, so the resumed continuation never duplicates a step.
 */
export async function train(config: TrainConfig, outDir: string, opts: TrainOptions = {}): Promise<TrainResult> {
  const hooks = opts.hooks ?? {};
  const paths = runPaths(outDir);
  fs.mkdirSync(paths.checkpoints, { recursive: true });
  let resumeFrom: string | undefined;
  if (opts.resume) {
    const latest = listCheckpoints(paths.checkpoints).at(-1);
    if (latest) resumeFrom = latest.file;
  } else if (listCheckpoints(paths.checkpoints).length > 0) {
    throw new Error(`${outDir} already holds checkpoints: resume it with \`xlab train --resume ${outDir}\` or choose another --out`);
  }
  const s = await startSession(config, resumeFrom, opts.workers, opts.engine ?? 'tfjs', hooks);
  hooks.onSession?.({ engine: s.engine, workers: s.workers });
  if (!resumeFrom) {
    // The resolved network and the objective's exact definition travel with the run, so a number in
    // the history can be traced to what produced it (adm-y in particular has two readings in the paper).
    const record = {
      ...config,
      unet: s.unet,
      objectiveDefinition: OBJECTIVE_DEFINITIONS[config.objective],
      gpEstimator: config.objective === 'adm-gp' ? GP_ESTIMATOR : undefined,
    };
    await writeFileAtomic(paths.config, JSON.stringify(record, null, 2));
  }
  truncateMetricsFile(paths.metrics, s.step);
  hooks.onLog?.(
    `${resumeFrom ? `resumed at step ${s.step} from ${path.basename(resumeFrom)}` : 'started'}: ${config.objective}` +
      `${config.objective === 'adm-ip' || config.objective === 'adm-y' ? ` gamma ${JSON.stringify(config.gamma)}` : ''}, ` +
      `${countParams(s.unet).toLocaleString('en-US')} params, data ${s.data.name} ${s.data.n}x${s.data.height}x${s.data.width}x${s.data.channels}, ` +
      (s.engine === 'onnx'
        ? `ONNX Runtime engine, ${s.workers} thread${s.workers > 1 ? 's' : ''}`
        : s.workers > 1
          ? `${s.workers} data-parallel workers`
          : '1 worker (this thread)'),
  );

  const stopAt = Math.min(config.steps, opts.stopAtStep ?? config.steps);
  let lastCheckpoint: string | null = resumeFrom ?? null;
  let windowLoss = 0;
  let windowCount = 0;
  let finalLoss = NaN;
  const times: number[] = [];
  let stopped = false;

  const checkpoint = async () => {
    const file = path.join(paths.checkpoints, checkpointFileName(s.step));
    await writeCheckpoint(file, await s.checkpointBytes());
    lastCheckpoint = file;
    hooks.onCheckpoint?.(s.step, file);
    await hooks.afterCheckpoint?.(s.step, file);
  };

  try {
    while (s.step < stopAt) {
      if (hooks.shouldStop?.()) {
        stopped = true;
        break;
      }
      const t0 = performance.now();
      const r = await s.trainStep();
      times.push(performance.now() - t0);
      if (times.length > 20) times.shift();
      finalLoss = r.loss;
      windowLoss += r.loss;
      windowCount += 1;
      const itPerSec = 1000 / (times.reduce((a, b) => a + b, 0) / times.length);
      if (s.step % config.logEvery === 0 || s.step === stopAt) {
        const wall = Date.now() / 1000;
        const rows = [
          { step: s.step, name: 'loss', value: windowLoss / windowCount, wallTime: wall },
          { step: s.step, name: 'grad_norm', value: r.gradNorm, wallTime: wall },
          { step: s.step, name: 'lr', value: r.lr, wallTime: wall },
          { step: s.step, name: 'it_per_s', value: itPerSec, wallTime: wall },
        ];
        fs.appendFileSync(paths.metrics, rows.map((row) => JSON.stringify(row) + '\n').join(''));
        hooks.onMetrics?.(rows);
        windowLoss = 0;
        windowCount = 0;
      }
      hooks.onStep?.({ step: s.step, stepsPlanned: config.steps, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, itPerSec });
      if (s.step % config.checkpointEvery === 0 || s.step === stopAt || hooks.checkpointAt?.(s.step)) await checkpoint();
    }
    if (stopped && lastCheckpoint !== path.join(paths.checkpoints, checkpointFileName(s.step)) && s.step > 0) await checkpoint();
  } finally {
    await s.dispose();
  }
  return { stepsDone: s.step, stopped, lastCheckpoint, finalLoss };
}

/** The session that trains: ONNX Runtime, data-parallel tfjs workers, or tfjs in this thread. */
async function startSession(config: TrainConfig, resumeFrom: string | undefined, workersOption: TrainOptions['workers'], choice: EngineChoice, hooks: TrainHooks): Promise<TrainingSession> {
  // tfjs workers: 'auto' never takes more cores than this process may use (a job's share).
  const tfjsWorkers = () => resolveWorkerCount(workersOption, config, workersOption === 'auto' ? onnxThreads() : undefined);
  if (choice !== 'tfjs') {
    const setup = await setupTraining(config, resumeFrom);
    let workers: number;
    try {
      const { engine, why } = await resolveEngine(choice, config, setup.unet, tf.getBackend());
      if (engine === 'onnx') {
        // ORT's threads: 'auto' is every core this process may use (ORT splits each operator, so
        // neither the wasm-only rule nor the per-worker work threshold of tfjs workers applies).
        const threads = typeof workersOption === 'number' ? workersOption : workersOption === 'auto' ? onnxThreads() : 1;
        if (!Number.isInteger(threads) || threads < 1) throw new Error(`workers must be a positive integer or 'auto', got ${threads}`);
        return await startOnnxTraining(setup, threads);
      }
      hooks.onLog?.(`training with the tfjs engine: ${why}`);
      workers = tfjsWorkers();
      if (workers <= 1) return inThisThread(setup);
    } catch (err) {
      setup.dispose();
      throw err;
    }
    setup.dispose();
    return await (await import('./parallel/data-parallel')).startDataParallel(config, { workers, resumeFrom });
  }
  const workers = tfjsWorkers();
  return workers > 1
    ? await (await import('./parallel/data-parallel')).startDataParallel(config, { workers, resumeFrom })
    : inThisThread(await setupTraining(config, resumeFrom));
}

/** Drops metric rows after `step` (written by a run that died before its next checkpoint). */
export function truncateMetricsFile(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        return (JSON.parse(line) as { step: number }).step <= step;
      } catch {
        return false; // a torn last line from a crash
      }
    });
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

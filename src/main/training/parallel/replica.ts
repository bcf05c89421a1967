/**
 * One worker's copy of the model and its optimiser, and its part of a data-parallel step.
 *
 * Every replica starts from the same weights (the seed, or the same checkpoint) and applies the
 * same summed gradient with the same Adam and EMA code, so the replicas stay identical bit for bit
 * without ever sending weights around. Updating once and broadcasting the weights instead is never
 * faster: the others would wait for that one update, then copy. Measured on one thread (Adam with
 * clipping + EMA, vs writing weights and EMA to shared memory + reading them back in):
 * bench-s-mnist16, 0.7M params, 105 ms vs 13 + 4 ms; bench-m-32, 6.9M, 356 ms vs 63 + 15 ms;
 * adm-cifar10, 52.5M, 2.1 s vs 0.25 + 0.08 s. In a two-worker step the update is 4-6% of the time
 * (bench-s-mnist16 batch 64, bench-m-32 batch 16). Only a sharded update (each worker 1/W of the
 * tensors, then the broadcast) would gain, at most half of that on two cores, and it needs the
 * global gradient norm for clipping before any shard.
 *
 * The shard's loss is (1 / B) * sum over its samples of weight_b * loss_b, B the whole batch: the
 * shards' gradients then add up to the gradient of the single-process loss mean_b(weight_b * loss_b).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from '../../../shared/config';
import { forward, initParams, type Params, type UNetConfig } from '../../nn/unet';
import { createProcess, type Process } from '../../diffusion/schedule';
import { trainingLoss, type Model } from '../../diffusion/objectives';
import { Adam, Ema } from '../optimizer';
import { readCheckpoint } from '../checkpoint';
import { restoreGroup, snapshot } from '../model-state';
import type { GradientExchange } from './gradient-exchange';
import type { FromWorker, StepRequest, StepTimings } from './protocol';

interface Slice {
  name: string;
  variable: tf.Variable;
  offset: number;
  size: number;
}

export type StepReply = Extract<FromWorker, { type: 'stepped' }>;
export type SnapshotReply = Extract<FromWorker, { type: 'snapshot' }>;

export class Replica {
  readonly process: Process;
  readonly params: Params;
  readonly ema: Ema;
  readonly optimizer: Adam;
  /** Where each parameter lives in the flat gradient vector, in the model's parameter order. */
  private readonly layout: Slice[] = [];

  constructor(
    readonly config: TrainConfig,
    readonly unet: UNetConfig,
    readonly index: number,
    readonly exchange: GradientExchange,
    resumeFrom: string | null,
  ) {
    // The same construction as setupTraining, so a replica holds exactly the single-process state.
    this.process = createProcess(config.schedule, config.T);
    this.params = initParams(unet, config.seed);
    this.ema = new Ema(config.emaRate, this.params);
    this.optimizer = new Adam(config.optimizer, this.params);
    if (resumeFrom) {
      const ckpt = readCheckpoint(resumeFrom);
      restoreGroup(ckpt, 'params', this.params, resumeFrom);
      restoreGroup(ckpt, 'ema', this.ema.shadow, resumeFrom);
      restoreGroup(ckpt, 'adam_m', this.optimizer.m, resumeFrom);
      restoreGroup(ckpt, 'adam_v', this.optimizer.v, resumeFrom);
      this.optimizer.t = ckpt.header.optimizer.t;
    }
    let offset = 0;
    for (const [name, variable] of this.params) {
      this.layout.push({ name, variable, offset, size: variable.size });
      offset += variable.size;
    }
    if (offset !== exchange.length) {
      throw new Error(`the model has ${offset} parameters but the gradient exchange was sized for ${exchange.length}`);
    }
  }

  /** Gradient of this shard, the exchange, then the update every replica applies alike. */
  step(m: StepRequest): StepReply {
    const { config, unet, params, exchange: ex, index: k } = this;
    const shape: [number, number, number, number] = [m.count, unet.imageSize, unet.imageSize, unet.inChannels];
    const t0 = performance.now();
    let perSample: Float32Array = new Float32Array(0);
    const { value, grads } = tf.tidy(() => {
      const x0 = tf.tensor4d(m.x0, shape);
      const eps = tf.tensor4d(m.eps, shape);
      const xi = tf.tensor4d(m.xi, shape);
      const gpProbe = m.gpProbe ? tf.tensor4d(m.gpProbe, shape) : undefined;
      const model: Model = (x, tt) =>
        forward(params, unet, x, tt, { training: true, dropoutSeed: m.dropoutSeed, dropoutSampleOffset: m.offset });
      return tf.variableGrads(() => {
        const out = trainingLoss({
          model,
          process: this.process,
          objective: config.objective,
          gamma: config.gamma,
          learnSigma: config.learnSigma,
          x0,
          t: m.t,
          eps,
          xi,
          weights: m.weights,
          gpLambda: config.gpLambda,
          gpProbe,
        });
        perSample = out.perSample.dataSync() as Float32Array;
        // The whole batch in one shard: the single-process loss itself. Otherwise this shard's
        // share of the batch mean (see the file comment).
        if (m.count === m.batch) return out.loss;
        return tf.div(tf.sum(tf.mul(out.perSample, tf.tensor1d(m.weights, 'float32'))), m.batch) as tf.Scalar;
      }, [...params.values()]);
    });
    const slot = ex.slot(k);
    const missing = new Set<string>();
    for (const s of this.layout) {
      const g = grads[s.variable.name];
      if (g) slot.set(g.dataSync() as Float32Array, s.offset);
      else {
        // A parameter the loss does not reach: no gradient, so Adam leaves it alone (as in trainStep).
        slot.fill(0, s.offset, s.offset + s.size);
        missing.add(s.name);
      }
    }
    ex.setLoss(k, value.dataSync()[0]!);
    value.dispose();
    Object.values(grads).forEach((g) => g.dispose());
    const ms: StepTimings = { gradients: performance.now() - t0, waiting: 0, reducing: 0, updating: 0 };

    let t1 = performance.now();
    ex.arrive();
    ms.waiting += performance.now() - t1;
    const loss = ex.totalLoss();
    const lr = this.optimizer.currentLr();
    // Every replica sees the same total, so all of them stop here together.
    if (!Number.isFinite(loss)) return { type: 'stepped', id: m.id, loss, updated: false, gradNorm: NaN, lr, perSample, ms };

    t1 = performance.now();
    ex.reduceSlice(k);
    ms.reducing = performance.now() - t1;
    t1 = performance.now();
    ex.arrive();
    ms.waiting += performance.now() - t1;

    t1 = performance.now();
    const sum = ex.sum();
    const byParam: Record<string, tf.Tensor> = {};
    for (const s of this.layout) {
      if (!missing.has(s.name)) byParam[s.name] = tf.tensor(sum.subarray(s.offset, s.offset + s.size), s.variable.shape, 'float32');
    }
    const gradNorm = this.optimizer.apply(params, byParam);
    Object.values(byParam).forEach((g) => g.dispose());
    this.ema.update(params);
    ms.updating = performance.now() - t1;
    return { type: 'stepped', id: m.id, loss, updated: true, gradNorm, lr, perSample, ms };
  }

  /** Weights, EMA and Adam moments in checkpoint order (as checkpointBytes lists them). */
  snapshot(id: number): SnapshotReply {
    return {
      type: 'snapshot',
      id,
      optimizerT: this.optimizer.t,
      tensors: [
        ...snapshot('params', this.params),
        ...snapshot('ema', this.ema.shadow),
        ...snapshot('adam_m', this.optimizer.m),
        ...snapshot('adam_v', this.optimizer.v),
      ],
    };
  }

  dispose(): void {
    this.params.forEach((p) => p.dispose());
    this.ema.dispose();
    this.optimizer.dispose();
  }

  /** Inference forwards of one batch, for timing. */
  forwardRepeatedly(x: Float32Array, t: Float32Array, count: number, reps: number): void {
    const xs = tf.tensor4d(x, [count, this.unet.imageSize, this.unet.imageSize, this.unet.inChannels]);
    const ts = tf.tensor1d(t, 'float32');
    for (let r = 0; r < reps; r++) {
      const y = tf.tidy(() => forward(this.params, this.unet, xs, ts, { training: false }));
      y.dataSync();
      y.dispose();
    }
    xs.dispose();
    ts.dispose();
  }
}

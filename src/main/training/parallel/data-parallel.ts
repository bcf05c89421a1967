/**
 * Data-parallel training on W worker threads, each with its own TF.js wasm backend and replica of
 * the model (replica.ts). The main thread draws everything random exactly as the single-process
 * trainStep does, from the (seed, step) streams: batch, timesteps, importance weights, eps, xi,
 * the gradient-penalty probe and the dropout seed. It hands worker k the contiguous shard k of the
 * samples; the workers add up their gradients through shared memory (gradient-exchange.ts) and
 * each applies the same update. So the data and noise are those of a single-process run whatever
 * W is, one worker reproduces it bit for bit, and several differ from it only by the order in
 * which the per-sample gradients are added up.
 *
 * The timestep sampler lives here: it draws the whole batch's timesteps before the split, and
 * learns from all per-sample losses, gathered back in sample order.
 *
 * Checkpoints have exactly the single-process format (encodeTrainingCheckpoint), so a run may
 * resume with any other number of workers, or in a single thread.
 */
import type { TrainConfig } from '../../../shared/config';
import { loadDataset, batchAt, type Dataset } from '../../data/dataset';
import { countParams, type UNetConfig } from '../../nn/unet';
import { createTimestepSampler, timestepSamplerFromJSON, type TimestepSampler, type TimestepSamplerState } from '../../diffusion/timestep-sampling';
import { readCheckpoint } from '../checkpoint';
import { unetConfigFor } from '../model-state';
import { encodeTrainingCheckpoint, nonFiniteLoss, stepNoise, type TrainingSession } from '../trainer';
import { allocateExchange, GradientExchange } from './gradient-exchange';
import type { StepTimings, WorkerRequest } from './protocol';
import { contiguousRanges } from './shards';
import { WorkerPool } from './worker-pool';

export interface DataParallelOptions {
  workers: number;
  /** Checkpoint file to continue from (written with any number of workers). */
  resumeFrom?: string;
  /**
   * Workers to (re)use instead of starting new ones: their replicas are replaced, and dispose()
   * leaves them running for the caller to close. Saves the start-up (a backend per thread) when
   * one process trains or measures several models in turn.
   */
  pool?: WorkerPool;
}

export class DataParallelTraining implements TrainingSession {
  readonly engine = 'tfjs' as const;
  /** Per worker, where the time of the last step went (milliseconds). */
  lastTimings: StepTimings[] = [];

  private constructor(
    readonly config: TrainConfig,
    readonly data: Dataset,
    readonly unet: UNetConfig,
    readonly sampler: TimestepSampler,
    readonly flip: boolean,
    public step: number,
    private readonly pool: WorkerPool,
    private readonly ownsPool: boolean,
  ) {}

  get workers(): number {
    return this.pool.size;
  }

  static async start(config: TrainConfig, opts: DataParallelOptions): Promise<DataParallelTraining> {
    const W = opts.pool?.size ?? opts.workers;
    if (opts.pool && opts.workers !== opts.pool.size) throw new Error(`asked for ${opts.workers} workers with a pool of ${opts.pool.size}`);
    if (!Number.isInteger(W) || W < 1) throw new Error(`data-parallel training needs a positive integer number of workers, got ${W}`);
    if (W > config.batch) throw new Error(`${W} workers for a batch of ${config.batch}: every worker needs at least one sample`);
    // New threads boot (their own TF.js backend) while the data loads.
    const pool = opts.pool ?? new WorkerPool(W);
    try {
      // As setupTraining, less the tensors: those live in the workers.
      const data = await loadDataset(config.dataset, { imageSize: config.imageSize ?? undefined, channels: config.channels ?? undefined });
      const unet = unetConfigFor(config, { imageSize: data.height, channels: data.channels });
      if (data.height !== data.width) throw new Error(`dataset ${data.name} has non-square images (${data.height}x${data.width})`);
      let sampler = createTimestepSampler(config.timestepSampler, config.T);
      const flip = config.flip === 'on' || (config.flip === 'auto' && data.flipAllowed);
      let step = 0;
      if (opts.resumeFrom) {
        const header = readCheckpoint(opts.resumeFrom).header;
        sampler = timestepSamplerFromJSON(header.timestepSampler as TimestepSamplerState);
        step = header.step;
      }
      const buffers = allocateExchange(W, countParams(unet));
      pool.exchange = new GradientExchange(buffers);
      await pool.all(
        Array.from({ length: W }, (_, index) => ({
          msg: { type: 'init' as const, index, config, unet, resumeFrom: opts.resumeFrom ?? null, exchange: buffers },
        })),
        'ready',
      );
      return new DataParallelTraining(config, data, unet, sampler, flip, step, pool, !opts.pool);
    } catch (err) {
      if (!opts.pool) await pool.close();
      throw err;
    }
  }

  async trainStep(): Promise<{ loss: number; gradNorm: number; lr: number }> {
    const { config, data } = this;
    const B = config.batch;
    const per = data.height * data.width * data.channels;
    const noise = stepNoise(config, this.step, per);
    const { t, weights } = this.sampler.sample(B, noise.tStream);
    const x0 = batchAt(data, this.step, B, config.seed, this.flip);
    const messages = contiguousRanges(B, this.workers).map(({ start, count }) => {
      const a = start * per;
      const b = (start + count) * per;
      const msg = {
        type: 'step' as const,
        step: this.step,
        batch: B,
        offset: start,
        count,
        x0: x0.slice(a, b),
        eps: noise.eps.slice(a, b),
        xi: noise.xi.slice(a, b),
        gpProbe: noise.gpProbe ? noise.gpProbe.slice(a, b) : null,
        t: t.slice(start, start + count),
        weights: weights.slice(start, start + count),
        dropoutSeed: noise.dropoutSeed,
      };
      const transfer = [msg.x0, msg.eps, msg.xi, msg.t, msg.weights, ...(msg.gpProbe ? [msg.gpProbe] : [])].map((x) => x.buffer as ArrayBuffer);
      return { msg, transfer };
    });
    const replies = await this.pool.all(messages, 'stepped');
    this.lastTimings = replies.map((r) => r.ms);
    const first = replies[0]!;
    if (!first.updated) throw nonFiniteLoss(first.loss, this.step);
    const perSample = new Float32Array(B);
    messages.forEach(({ msg }, k) => perSample.set(replies[k]!.perSample, msg.offset));
    this.sampler.update(t, perSample);
    this.step += 1;
    return { loss: first.loss, gradNorm: first.gradNorm, lr: first.lr };
  }

  /** Worker k's weights, EMA and Adam state; every replica holds the same. */
  async snapshot(k = 0) {
    return this.pool.request(k, { type: 'snapshot' }, 'snapshot');
  }

  async checkpointBytes(): Promise<Buffer> {
    const snap = await this.snapshot(0);
    return encodeTrainingCheckpoint(
      { config: this.config, unet: this.unet, step: this.step, optimizerT: snap.optimizerT, sampler: this.sampler },
      snap.tensors,
    );
  }

  /**
   * Timing only (xlab bench): `reps` inference forwards of the batch x (timesteps t), each worker
   * taking its shard, all at once.
   */
  async forwardRepeatedly(x: Float32Array, t: Float32Array, reps: number): Promise<void> {
    const n = t.length;
    const per = x.length / n;
    await this.pool.all(
      contiguousRanges(n, this.workers).map(({ start, count }) => ({
        msg: { type: 'forward', x: x.slice(start * per, (start + count) * per), t: t.slice(start, start + count), count, reps } satisfies WorkerRequest,
      })),
      'forwarded',
    );
  }

  async dispose(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }
}

export function startDataParallel(config: TrainConfig, opts: DataParallelOptions): Promise<DataParallelTraining> {
  return DataParallelTraining.start(config, opts);
}

/** GFLOP/s of the reference matrix product on `workers` threads at once (each its own backend), summed. */
export async function concurrentReferenceGflops(workers: number, n = 1024, seconds = 3, reuse?: WorkerPool): Promise<number> {
  if (reuse && reuse.size !== workers) throw new Error(`asked for ${workers} threads with a pool of ${reuse.size}`);
  const pool = reuse ?? new WorkerPool(workers);
  try {
    const replies = await pool.all(
      Array.from({ length: workers }, () => ({ msg: { type: 'matmul', n, seconds } satisfies WorkerRequest })),
      'matmul',
    );
    return replies.reduce((a, r) => a + r.gflops, 0);
  } finally {
    if (!reuse) await pool.close();
  }
}

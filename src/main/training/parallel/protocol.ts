/**
 * Messages between the main thread and the training workers. Every request carries an id that its
 * reply repeats; a failure answers with 'error'. Typed arrays travel as transfers (no copy).
 */
import type { TrainConfig } from '../../../shared/config';
import type { UNetConfig } from '../../nn/unet';
import type { TensorGroup } from '../checkpoint';
import type { ExchangeBuffers } from './gradient-exchange';

export interface InitRequest {
  type: 'init';
  id: number;
  /** This worker's position: its shard of every batch and its slice of the gradient sum. */
  index: number;
  config: TrainConfig;
  unet: UNetConfig;
  /** Checkpoint to restore weights, EMA and Adam state from; null starts from the seed. */
  resumeFrom: string | null;
  exchange: ExchangeBuffers;
}

/** One shard of a training step: samples offset .. offset + count - 1 of the step's batch. */
export interface StepRequest {
  type: 'step';
  id: number;
  step: number;
  /** The whole batch size B: the loss is a mean over B, so each shard's sum is divided by it. */
  batch: number;
  offset: number;
  count: number;
  x0: Float32Array;
  eps: Float32Array;
  xi: Float32Array;
  gpProbe: Float32Array | null;
  t: Int32Array;
  weights: Float32Array;
  dropoutSeed: number;
}

export interface SnapshotRequest {
  type: 'snapshot';
  id: number;
}

/** Timing only: `reps` inference forwards of a batch (for xlab bench). */
export interface ForwardRequest {
  type: 'forward';
  id: number;
  x: Float32Array;
  t: Float32Array;
  count: number;
  reps: number;
}

/** Timing only: the reference matrix product, for `seconds` (for xlab bench). */
export interface MatmulRequest {
  type: 'matmul';
  id: number;
  n: number;
  seconds: number;
}

export type ToWorker = InitRequest | StepRequest | SnapshotRequest | ForwardRequest | MatmulRequest;

export interface StepTimings {
  /** Forward and backward of the shard, and copying its gradient out. */
  gradients: number;
  /** Waiting at the two barriers for the slowest worker. */
  waiting: number;
  /** Adding up this worker's slice of the gradient. */
  reducing: number;
  /** Adam (with clipping) and the EMA. */
  updating: number;
}

export type FromWorker =
  | { type: 'ready'; id: number; backend: string }
  | {
      type: 'stepped';
      id: number;
      /** The batch-mean loss (all shards), the same in every worker. */
      loss: number;
      /** False when the loss was not finite; nothing was updated then. */
      updated: boolean;
      gradNorm: number;
      lr: number;
      /** Unweighted per-sample losses of this shard, in sample order. */
      perSample: Float32Array;
      ms: StepTimings;
    }
  | {
      type: 'snapshot';
      id: number;
      optimizerT: number;
      tensors: { group: TensorGroup; name: string; shape: number[]; values: Float32Array }[];
    }
  | { type: 'forwarded'; id: number }
  | { type: 'matmul'; id: number; gflops: number }
  | { type: 'error'; id: number; message: string; stack?: string; aborted: boolean };

/** A request as the pool takes it: the pool assigns the id. */
export type WorkerRequest = ToWorker extends infer M ? (M extends ToWorker ? Omit<M, 'id'> : never) : never;

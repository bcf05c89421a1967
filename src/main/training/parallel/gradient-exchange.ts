/**
 * The shared memory through which data-parallel workers add up their gradients, without a round
 * trip through the main thread:
 *
 *   slots    W x P float32  worker k writes the gradient of its shard into slot k;
 *   sum      P float32      after the first barrier worker k adds up its slice of the P indices over
 *                           the slots in worker order 0, 1, ..., W-1 (a fixed order, so the result
 *                           is the same every run for a given W); after the second barrier every
 *                           worker reads the whole sum;
 *   losses   W float64      worker k's part of the batch loss;
 *   control  int32         the barrier (arrivals, generation) and an abort flag.
 *
 * With one worker the sum IS its slot (no addition at all), so W = 1 reproduces the single-process
 * gradient bit for bit. With several, the slots are summed in float64 and rounded once to float32.
 */
import { contiguousRanges } from './shards';

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;

/** What a worker (or the main thread) receives to attach to the exchange. */
export interface ExchangeBuffers {
  workers: number;
  /** Gradient length P: the number of floats in all parameters together. */
  length: number;
  slots: SharedArrayBuffer;
  sum: SharedArrayBuffer;
  losses: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export function allocateExchange(workers: number, length: number): ExchangeBuffers {
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`gradient exchange: workers must be a positive integer, got ${workers}`);
  return {
    workers,
    length,
    slots: new SharedArrayBuffer(4 * workers * length),
    // One worker sums nothing: its slot is the sum.
    sum: workers > 1 ? new SharedArrayBuffer(4 * length) : new SharedArrayBuffer(0),
    losses: new SharedArrayBuffer(8 * workers),
    control: new SharedArrayBuffer(4 * 4),
  };
}

/** Thrown in every waiting worker once any worker failed (or the main thread gave up). */
export class ExchangeAborted extends Error {
  constructor() {
    super('another training worker failed; this step was abandoned');
  }
}

export class GradientExchange {
  readonly workers: number;
  readonly length: number;
  private readonly slots: Float32Array;
  private readonly summed: Float32Array;
  private readonly lossParts: Float64Array;
  private readonly control: Int32Array;

  constructor(readonly buffers: ExchangeBuffers) {
    this.workers = buffers.workers;
    this.length = buffers.length;
    this.slots = new Float32Array(buffers.slots);
    this.summed = this.workers > 1 ? new Float32Array(buffers.sum) : this.slots.subarray(0, this.length);
    this.lossParts = new Float64Array(buffers.losses);
    this.control = new Int32Array(buffers.control);
  }

  /** Worker k's slot, to write its gradient into. */
  slot(k: number): Float32Array {
    return this.slots.subarray(k * this.length, (k + 1) * this.length);
  }

  setLoss(k: number, value: number): void {
    this.lossParts[k] = value;
  }

  /** The batch loss: the workers' parts added in worker order. */
  totalLoss(): number {
    let total = 0;
    for (let k = 0; k < this.workers; k++) total += this.lossParts[k]!;
    return total;
  }

  /** Adds up worker k's slice of the gradient over all slots, in worker order. */
  reduceSlice(k: number): void {
    if (this.workers === 1) return;
    const { start, count } = contiguousRanges(this.length, this.workers)[k]!;
    const out = this.summed;
    const W = this.workers;
    const P = this.length;
    const slots = this.slots;
    for (let i = start; i < start + count; i++) {
      let acc = slots[i]!;
      for (let j = 1; j < W; j++) acc += slots[j * P + i]!;
      out[i] = acc;
    }
  }

  /** The summed gradient (valid after the barrier that follows reduceSlice). */
  sum(): Float32Array {
    return this.summed;
  }

  /**
   * Blocks until all W workers have arrived (a generation barrier: reusable, step after step).
   * Throws ExchangeAborted if any worker failed meanwhile.
   */
  arrive(): void {
    const c = this.control;
    if (Atomics.load(c, ABORTED) !== 0) throw new ExchangeAborted();
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, ARRIVED, 1) === this.workers - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    while (Atomics.load(c, GENERATION) === generation) {
      Atomics.wait(c, GENERATION, generation, 1000);
      if (Atomics.load(c, ABORTED) !== 0) throw new ExchangeAborted();
    }
    // abort() also moves the generation on: tell that apart from the last arrival.
    if (Atomics.load(c, ABORTED) !== 0) throw new ExchangeAborted();
  }

  /** Releases every waiting worker with ExchangeAborted; the exchange is unusable afterwards. */
  abort(): void {
    const c = this.control;
    Atomics.store(c, ABORTED, 1);
    Atomics.add(c, GENERATION, 1);
    Atomics.notify(c, GENERATION);
  }

  aborted(): boolean {
    return Atomics.load(this.control, ABORTED) !== 0;
  }
}

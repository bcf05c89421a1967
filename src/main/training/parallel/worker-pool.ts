/**
 * The training worker threads: starting them, one request at a time to each, and failing every
 * pending request when any of them fails or dies (and releasing the others from the gradient
 * exchange, where they would otherwise wait for it forever).
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GradientExchange } from './gradient-exchange';
import type { FromWorker, WorkerRequest } from './protocol';

/**
 * The worker's entry beside this module: training-worker.js in a built app (a bundle entry of its
 * own), else the sources' training-worker.mjs, which loads tsx and then training-worker.ts.
 */
export function trainingWorkerEntry(): URL | null {
  for (const name of ['./training-worker.js', './training-worker.mjs']) {
    // A variable, not a literal: Vite would turn a literal `new URL('./x', import.meta.url)` into an asset.
    const url = new URL(name, import.meta.url);
    if (url.protocol === 'file:' && fs.existsSync(fileURLToPath(url))) return url;
  }
  return null;
}

type Reply<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;

interface Pending {
  resolve: (m: FromWorker) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Map<number, Pending>[] = [];
  private nextId = 1;
  private failure: Error | null = null;
  private closed = false;
  /** Set once the exchange exists, so a dying worker can release the others. */
  exchange: GradientExchange | null = null;

  constructor(readonly size: number) {
    const entry = trainingWorkerEntry();
    if (!entry) throw new Error('cannot find the training worker (training-worker.js or .mjs) next to worker-pool: use --workers 1');
    for (let k = 0; k < size; k++) {
      const w = new Worker(entry, { name: `xlab-train-${k}` });
      this.pending.push(new Map());
      w.on('message', (m: FromWorker) => this.settle(k, m));
      w.on('error', (err) => this.fail(new Error(`training worker ${k} crashed: ${err.message}`)));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`training worker ${k} exited unexpectedly (code ${code})`));
      });
      this.workers.push(w);
    }
  }

  private settle(k: number, m: FromWorker): void {
    const p = this.pending[k]!.get(m.id);
    if (!p) return;
    this.pending[k]!.delete(m.id);
    if (m.type === 'error') {
      const err = new Error(m.message);
      if (m.stack) err.stack = m.stack;
      // A worker released by another's failure says so; the original failure is the one to report.
      if (!m.aborted) this.fail(err);
      p.reject(this.failure ?? err);
    } else p.resolve(m);
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.exchange?.abort();
    for (const map of this.pending) {
      for (const p of map.values()) p.reject(this.failure);
      map.clear();
    }
  }

  /** Sends one request to worker k; resolves with its reply of the expected type. */
  request<T extends FromWorker['type']>(k: number, msg: WorkerRequest, expect: T, transfer: ArrayBuffer[] = []): Promise<Reply<T>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the training workers were shut down'));
    const id = this.nextId++;
    return new Promise<Reply<T>>((resolve, reject) => {
      this.pending[k]!.set(id, {
        resolve: (m) => (m.type === expect ? resolve(m as Reply<T>) : reject(new Error(`training worker ${k} answered ${m.type} to a ${msg.type} request`))),
        reject,
      });
      this.workers[k]!.postMessage({ ...msg, id }, transfer);
    });
  }

  /** The same kind of request to every worker (message k to worker k); all replies, in worker order. */
  all<T extends FromWorker['type']>(messages: { msg: WorkerRequest; transfer?: ArrayBuffer[] }[], expect: T): Promise<Reply<T>[]> {
    return Promise.all(messages.map((m, k) => this.request(k, m.msg, expect, m.transfer)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.exchange?.abort();
    for (const map of this.pending) {
      for (const p of map.values()) p.reject(new Error('the training workers were shut down'));
      map.clear();
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

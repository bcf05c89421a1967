/**
 * Entry of a training worker thread: its own TF.js wasm backend (with the project's kernels) and
 * its own replica of the model, driven by the main thread's requests (protocol.ts).
 */
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../../nn/backend';
import { ExchangeAborted, GradientExchange } from './gradient-exchange';
import type { FromWorker, ToWorker } from './protocol';
import { referenceGflops } from './reference-matmul';
import { Replica } from './replica';

if (!parentPort) throw new Error('training-worker.ts runs as a worker thread (see worker-pool.ts), not on its own');
const port = parentPort;

let replica: Replica | null = null;
let exchange: GradientExchange | null = null;

function reply(msg: FromWorker): void {
  const transfer: ArrayBuffer[] = [];
  if (msg.type === 'stepped') transfer.push(msg.perSample.buffer as ArrayBuffer);
  if (msg.type === 'snapshot') for (const t of msg.tensors) transfer.push(t.values.buffer as ArrayBuffer);
  port.postMessage(msg, transfer);
}

function ready(): Replica {
  if (!replica) throw new Error('training worker: step before init');
  return replica;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init': {
      // Workers exist to spread the wasm backend over cores; tfjs-node threads by itself.
      const backend = await initBackend('wasm', 'train');
      // A pool may be reused for another run: the previous replica goes.
      replica?.dispose();
      replica = null;
      exchange = new GradientExchange(m.exchange);
      replica = new Replica(m.config, m.unet, m.index, exchange, m.resumeFrom);
      reply({ type: 'ready', id: m.id, backend: backend.name });
      return;
    }
    case 'step':
      reply(ready().step(m));
      return;
    case 'snapshot':
      reply(ready().snapshot(m.id));
      return;
    case 'forward':
      ready().forwardRepeatedly(m.x, m.t, m.count, m.reps);
      reply({ type: 'forwarded', id: m.id });
      return;
    case 'matmul': {
      await initBackend('wasm', 'train');
      reply({ type: 'matmul', id: m.id, gflops: await referenceGflops(m.n, m.seconds) });
      return;
    }
  }
}

// Requests are handled one at a time, in order: a step must not start before the previous one ended.
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  queue = queue.then(async () => {
    try {
      await handle(m);
    } catch (err) {
      const aborted = err instanceof ExchangeAborted;
      // The others may be waiting for this worker at a barrier: release them.
      if (!aborted) exchange?.abort();
      const e = err as Error;
      reply({ type: 'error', id: m.id, message: e.message ?? String(err), stack: e.stack, aborted });
    }
  });
});

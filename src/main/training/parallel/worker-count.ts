/**
 * How many data-parallel workers a training run gets. An execution choice: the run's results do
 * not depend on it beyond float rounding.
 */
import * as os from 'node:os';
import type { TrainConfig } from '../../../shared/config';
import { activeBackend } from '../../nn/backend';
import { trainingWorkerEntry } from './worker-pool';

/**
 * Fewest samples per worker for 'auto' to split a batch: below this a shard's convolutions are too
 * small for XNNPACK to run at full speed and the fixed per-step costs (the exchange, the update
 * every replica repeats) stop being small next to the shard's forward and backward pass.
 */
export const MIN_SAMPLES_PER_WORKER = 4;

export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * Workers only spread the wasm backend over cores (tfjs-node threads by itself), so 'auto' is 1
 * unless this process trains on wasm; then as many as there are cores, while every worker keeps
 * MIN_SAMPLES_PER_WORKER samples of the batch.
 */
export function resolveWorkerCount(requested: number | 'auto' | undefined, config: TrainConfig, cores = availableCores()): number {
  if (requested === undefined) return 1;
  const backend = activeBackend()?.name ?? (config.backend === 'tensorflow' ? 'tensorflow' : 'wasm');
  if (requested === 'auto') {
    if (backend !== 'wasm' || !trainingWorkerEntry()) return 1;
    return Math.max(1, Math.min(cores, Math.floor(config.batch / MIN_SAMPLES_PER_WORKER)));
  }
  if (!Number.isInteger(requested) || requested < 1) throw new Error(`workers must be a positive integer or 'auto', got ${requested}`);
  if (requested === 1) return 1;
  if (backend !== 'wasm') {
    throw new Error(`--workers ${requested} needs the wasm backend (this run uses '${backend}', which uses every core by itself): use --workers 1`);
  }
  if (requested > config.batch) {
    throw new Error(`--workers ${requested} is more than the batch size ${config.batch}: every worker needs at least one sample; use --workers ${config.batch} or fewer`);
  }
  return requested;
}

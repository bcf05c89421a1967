/**
 * How many data-parallel workers a training run gets. An execution choice: the run's results do
 * not depend on it beyond float rounding.
 */
import * as os from 'node:os';
import type { TrainConfig } from '../../../shared/config';
import { activeBackend } from '../../nn/backend';
import { presetByName } from '../../nn/presets';
import { forwardFlops } from '../../nn/unet';
import { trainingWorkerEntry } from './worker-pool';

/**
 * Least forward work per worker and step for 'auto' to add a worker. Each step has costs that do
 * not shrink with the shard (the update every replica repeats, TF.js's per-op overhead, the
 * exchange), so a split pays only when the shards are big. Measured with two workers on an idle
 * 2-core machine (img/s against one): bench-s-mnist16 (0.123 GFLOP per image) with 4 samples per
 * worker (0.5 GFLOP) 1.09x, 8 (1.0 GFLOP) 1.20x, 32 (3.9 GFLOP) 1.90x; bench-m-32 with 8 (25 GFLOP)
 * 1.64x.
 */
export const MIN_FORWARD_FLOPS_PER_WORKER = 1e9;

export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Forward FLOPs of one training image (the dataset's own size stands in as the preset's when the config keeps it). */
function flopsPerImage(config: TrainConfig): number {
  const preset = presetByName(config.preset);
  return forwardFlops({
    ...preset,
    ...config.model,
    imageSize: config.imageSize ?? preset.imageSize,
    inChannels: config.channels ?? preset.inChannels,
    learnSigma: config.learnSigma,
  });
}

/**
 * Workers only spread the wasm backend over cores (tfjs-node threads by itself), so 'auto' is 1
 * unless this process trains on wasm; then as many as there are cores, while every worker keeps
 * MIN_FORWARD_FLOPS_PER_WORKER of the batch's forward pass. Other work on the machine is not
 * counted: workers that share a core with it are slower than one (see xlab bench's cores_used).
 */
export function resolveWorkerCount(requested: number | 'auto' | undefined, config: TrainConfig, cores = availableCores()): number {
  if (requested === undefined) return 1;
  const backend = activeBackend()?.name ?? (config.backend === 'tensorflow' ? 'tensorflow' : 'wasm');
  if (requested === 'auto') {
    if (backend !== 'wasm' || !trainingWorkerEntry()) return 1;
    const byWork = Math.floor((config.batch * flopsPerImage(config)) / MIN_FORWARD_FLOPS_PER_WORKER);
    return Math.max(1, Math.min(cores, config.batch, byWork));
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

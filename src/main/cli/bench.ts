/**
 * `xlab bench`: training and forward throughput of a preset on the selected backend, against a
 * large float32 matrix product measured in the same process (the reference), so figures from
 * different machines or days compare as ratios.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command, Option } from 'commander';
import { parseTrainConfig } from '../../shared/config';
import { initBackend } from '../nn/backend';
import { forward, forwardFlops } from '../nn/unet';
import { setupTraining, trainStep } from '../training/trainer';

export interface BenchResult {
  backend: string;
  model: string;
  batch: number;
  train_img_per_s: number;
  train_gflops: number;
  forward_img_per_s: number;
  forward_gflops: number;
  reference_gflops: number;
  train_ratio: number;
  forward_ratio: number;
  date: string;
}

/** Runs fn repeatedly for at least minSeconds (and minReps times); returns seconds per call. */
async function timeIt(fn: () => void | Promise<void>, minSeconds: number, minReps: number): Promise<number> {
  let reps = 0;
  const t0 = performance.now();
  while (reps < minReps || performance.now() - t0 < minSeconds * 1000) {
    await fn();
    reps++;
  }
  return (performance.now() - t0) / 1000 / reps;
}

/** GFLOP/s of a large square float32 matrix product on the active backend. */
export async function referenceGflops(n = 1024, seconds = 3): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  tf.matMul(a, b).dispose();
  const sec = await timeIt(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }, seconds, 3);
  a.dispose();
  b.dispose();
  return (2 * n * n * n) / sec / 1e9;
}

export async function runBench(opts: { preset: string; batch: number; seconds: number; backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu' }): Promise<BenchResult> {
  const backend = await initBackend(opts.backend, 'train');
  const reference = await referenceGflops(1024, Math.max(2, opts.seconds / 2));
  const imageSize = opts.preset === 'bench-s-mnist16' ? 16 : 32;
  const config = parseTrainConfig({
    preset: opts.preset,
    dataset: 'mnist',
    imageSize,
    // Colour presets are measured on the digits replicated to 3 channels: throughput depends on shapes only.
    channels: opts.preset === 'bench-s-mnist16' ? 1 : 3,
    batch: opts.batch,
    steps: 1_000_000,
    seed: 0,
    backend: opts.backend,
  });
  const s = await setupTraining(config);
  const flops = forwardFlops({ ...s.unet });
  // Warm-up: first calls compile kernels and grow the wasm heap.
  trainStep(s);
  trainStep(s);
  const trainSec = await timeIt(() => void trainStep(s), opts.seconds, 3);
  const x = tf.randomNormal([opts.batch, s.unet.imageSize, s.unet.imageSize, s.unet.inChannels], 0, 1, 'float32', 3);
  const t = tf.tensor1d(Array.from({ length: opts.batch }, (_, i) => (i * 37) % 1000), 'float32');
  const fwd = () => {
    const y = tf.tidy(() => forward(s.params, s.unet, x as tf.Tensor4D, t, { training: false }));
    y.dataSync();
    y.dispose();
  };
  fwd();
  const fwdSec = await timeIt(fwd, opts.seconds, 3);
  x.dispose();
  t.dispose();
  s.dispose();
  const trainImg = opts.batch / trainSec;
  const fwdImg = opts.batch / fwdSec;
  const trainGflops = (3 * flops * trainImg) / 1e9;
  const fwdGflops = (flops * fwdImg) / 1e9;
  return {
    backend: backend.name,
    model: opts.preset,
    batch: opts.batch,
    train_img_per_s: round(trainImg),
    train_gflops: round(trainGflops),
    forward_img_per_s: round(fwdImg),
    forward_gflops: round(fwdGflops),
    reference_gflops: round(reference),
    train_ratio: round(trainGflops / reference, 3),
    forward_ratio: round(fwdGflops / reference, 3),
    date: new Date().toISOString(),
  };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('training / forward throughput of a U-Net preset vs a float32 matmul reference measured in the same run')
    .option('--preset <name>', 'U-Net preset', 'bench-s-mnist16')
    .option('--batch <n>', 'batch size', (v) => parseInt(v, 10), 64)
    .option('--seconds <s>', 'minimum seconds per measurement', (v) => Number(v), 10)
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow', 'wasm']).default('auto'))
    .option('--json', 'print JSON')
    .action(async (o) => {
      const r = await runBench({ preset: o.preset, batch: o.batch, seconds: o.seconds, backend: o.backend });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        process.stdout.write(
          `${r.model} batch ${r.batch} on ${r.backend}\n` +
            `  train   ${r.train_img_per_s} img/s  ${r.train_gflops} GFLOP/s  (ratio ${r.train_ratio})\n` +
            `  forward ${r.forward_img_per_s} img/s  ${r.forward_gflops} GFLOP/s  (ratio ${r.forward_ratio})\n` +
            `  reference matmul ${r.reference_gflops} GFLOP/s\n`,
        );
      }
    });
}

/**
 * Inference speed of the U-Net through ONNX Runtime (CPU EP) against tfjs-wasm, on random weights.
 * Not a test (timings depend on the machine and its load):
 *
 *   node --import tsx scripts/bench-onnx.ts [--seconds 5] [--threads N] [--sample-n 256] [--sample-steps 100] [--skip-sampling]
 *
 * 1. Forward GFLOP/s (forwardFlops(cfg) per image, bench-models.md's count) of bench-s-mnist16 at
 *    batch 64 and bench-m-32 at batch 16, each engine.
 * 2. Sampling --sample-n images of bench-s-mnist16 with DDPM at --sample-steps steps (batch 64),
 *    each engine, and how far the two sample sets are apart (paired noise: rounding only).
 * Prints one JSON object; also the machine's load average, which these 2-core machines share.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { sample, type SamplingModel } from '../src/main/diffusion/samplers';
import { createProcess } from '../src/main/diffusion/schedule';
import { initBackend } from '../src/main/nn/backend';
import { presetByName } from '../src/main/nn/presets';
import { disposeParams, forward, forwardFlops, initParams, outChannels, type Params, type UNetConfig } from '../src/main/nn/unet';
import { createUNetSession, onnxModel } from '../src/main/onnx/session';
import { paramsWeights, unetOnnxModel } from '../src/main/onnx/unet-graph';
import { Stream } from '../src/main/rng';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const SECONDS = arg('--seconds', 5);
const THREADS = arg('--threads', os.availableParallelism());
const SAMPLE_N = arg('--sample-n', 256);
const SAMPLE_STEPS = arg('--sample-steps', 100);
const SKIP_SAMPLING = process.argv.includes('--skip-sampling');

/** CPU seconds (user + system, all threads) this process has used. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Wall and CPU seconds per call: one warm-up call, then repeated for at least SECONDS (and 3
 * calls). On a shared machine the wall time depends on the load; FLOPs per CPU second much less
 * (an engine that uses both cores reaches about twice that in wall-clock terms on an idle machine).
 */
async function timeIt(fn: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  await fn();
  let reps = 0;
  const t0 = performance.now();
  const c0 = cpuSeconds();
  while (reps < 3 || performance.now() - t0 < SECONDS * 1000) {
    await fn();
    reps++;
  }
  return { wall: (performance.now() - t0) / 1000 / reps, cpu: (cpuSeconds() - c0) / reps };
}

/** Trained-looking weights are not needed for speed, but zero output convs would be: every parameter random. */
function benchParams(cfg: UNetConfig): Params {
  const params = initParams(cfg, 1);
  for (const [name, v] of params) {
    if (!/out_conv|\.proj\.|^out\.conv/.test(name)) continue;
    const data = new Stream(1, 'bench-onnx', name).fillUniform(new Float32Array(v.size)).map((u) => (u - 0.5) * 0.02);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
  return params;
}

type Engine = 'onnx' | 'onnx_spin' | 'tfjs';

/** The network on each engine; onnx_spin is ORT with its worker threads spin-waiting (ORT's own default). */
async function engines(cfg: UNetConfig, params: Params): Promise<Record<Engine, SamplingModel> & { release(): Promise<void> }> {
  const bytes = unetOnnxModel(cfg, paramsWeights(params));
  const session = await createUNetSession(bytes, { threads: THREADS });
  const spinning = await createUNetSession(bytes, { threads: THREADS, spinWait: true });
  return {
    tfjs: (x, t) => forward(params, cfg, x, t, { training: false }),
    onnx: await onnxModel(session, outChannels(cfg)),
    onnx_spin: await onnxModel(spinning, outChannels(cfg)),
    release: async () => {
      await session.release();
      await spinning.release();
    },
  };
}

async function forwardBench(preset: string, batch: number) {
  const cfg = presetByName(preset);
  const params = benchParams(cfg);
  const e = await engines(cfg, params);
  const x = tf.randomNormal([batch, cfg.imageSize, cfg.imageSize, cfg.inChannels], 0, 1, 'float32', 1) as tf.Tensor4D;
  const t = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 397) % 1000), 'float32');
  const flops = forwardFlops(cfg) * batch;
  const result: Record<string, unknown> = { preset, batch, gflop_per_call: +(flops / 1e9).toFixed(3) };
  for (const engine of ['onnx', 'onnx_spin', 'tfjs'] as const) {
    const model = e[engine];
    const { wall, cpu } = await timeIt(async () => {
      const y = await model(x, t);
      y.dataSync();
      y.dispose();
    });
    result[engine] = {
      ms_per_call: +(wall * 1000).toFixed(1),
      gflops: +(flops / wall / 1e9).toFixed(1),
      img_per_s: +(batch / wall).toFixed(1),
      gflop_per_cpu_s: +(flops / cpu / 1e9).toFixed(1),
      cores_used: +(cpu / wall).toFixed(2),
    };
  }
  result['speedup'] = +((result['tfjs'] as { ms_per_call: number }).ms_per_call / (result['onnx'] as { ms_per_call: number }).ms_per_call).toFixed(2);
  tf.dispose([x, t]);
  await e.release();
  disposeParams(params);
  return result;
}

async function samplingBench() {
  const cfg = presetByName('bench-s-mnist16');
  const params = benchParams(cfg);
  const e = await engines(cfg, params);
  const common = {
    process: createProcess('linear', 1000),
    options: { kind: 'ddpm' as const, steps: String(SAMPLE_STEPS), learnSigma: false },
    shape: [cfg.imageSize, cfg.imageSize, cfg.inChannels] as [number, number, number],
    seed: 0,
    indices: Array.from({ length: SAMPLE_N }, (_, i) => i),
    batchSize: 64,
  };
  const result: Record<string, unknown> = { preset: 'bench-s-mnist16', n: SAMPLE_N, steps: SAMPLE_STEPS, batch: 64 };
  const images: Record<string, Float32Array> = {};
  for (const engine of ['onnx', 'tfjs'] as const) {
    const t0 = performance.now();
    const c0 = cpuSeconds();
    images[engine] = await sample({ ...common, model: e[engine] });
    const sec = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - c0;
    const flops = forwardFlops(cfg) * SAMPLE_N * SAMPLE_STEPS;
    result[engine] = {
      seconds: +sec.toFixed(1),
      cpu_seconds: +cpu.toFixed(1),
      img_per_s: +(SAMPLE_N / sec).toFixed(2),
      network_gflops: +(flops / sec / 1e9).toFixed(1),
      network_gflop_per_cpu_s: +(flops / cpu / 1e9).toFixed(1),
    };
  }
  let maxDiff = 0;
  for (let i = 0; i < images['onnx']!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(images['onnx']![i]! - images['tfjs']![i]!));
  result['speedup'] = +((result['tfjs'] as { seconds: number }).seconds / (result['onnx'] as { seconds: number }).seconds).toFixed(2);
  result['max_abs_diff_between_engines'] = maxDiff;
  await e.release();
  disposeParams(params);
  return result;
}

async function main() {
  await initBackend('wasm', 'infer');
  const loadBefore = os.loadavg()[0];
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    ort_threads: THREADS,
    load_avg_1m_before: +loadBefore!.toFixed(2),
    forward: [await forwardBench('bench-s-mnist16', 64), await forwardBench('bench-m-32', 16)],
  };
  if (!SKIP_SAMPLING) out['sampling'] = await samplingBench();
  out['load_avg_1m_after'] = +os.loadavg()[0]!.toFixed(2);
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});

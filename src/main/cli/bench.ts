/**
 * `xlab bench`: training and forward throughput of U-Net presets, on each training engine (ONNX
 * Runtime; tfjs, on one thread or on data-parallel worker threads) and on one core and on all of
 * them, against a reference measured in the same run: the fastest float32 matrix product this
 * machine runs (ONNX Runtime's MatMul, onnx/reference-matmul.ts) on as many threads. A ratio then
 * says how much of what the cores can do a workload gets, and compares across machines and days.
 *
 * The top-level fields (model, batch, train_ratio, forward_ratio, ...) are the first preset on the
 * engine 'auto' trains with, on every core; `results` holds every preset x engine x thread count.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Command, Option } from 'commander';
import { parseTrainConfig, type TrainConfig } from '../../shared/config';
import { initBackend } from '../nn/backend';
import { forward, forwardFlops, type UNetConfig } from '../nn/unet';
import { onnxMatmulGflops } from '../onnx/reference-matmul';
import { createUNetSession, loadOnnxRuntime } from '../onnx/session';
import { paramsWeights, unetOnnxModel } from '../onnx/unet-graph';
import { startOnnxTraining, type TrainingEngine } from '../training/onnx-training';
import { setupTraining, trainStep } from '../training/trainer';
import { startDataParallel } from '../training/parallel/data-parallel';
import { referenceGflops, timeIt } from '../training/parallel/reference-matmul';
import { availableCores } from '../training/parallel/worker-count';

export { referenceGflops };

/** Batch sizes the presets are benchmarked at unless --batch says otherwise. */
const DEFAULT_BATCH: Record<string, number> = { 'bench-s-mnist16': 64, 'bench-m-32': 16, 'adm-cifar10': 8, 'tiny-test': 16 };

/** Size of the reference matrix product: large enough that ORT's threads are all busy. */
const REFERENCE_N = 2048;

export interface BenchRow {
  model: string;
  batch: number;
  engine: TrainingEngine;
  /** ONNX Runtime's intra-op threads, or tfjs data-parallel workers (1: this thread). */
  threads: number;
  train_img_per_s: number;
  train_gflops: number;
  forward_img_per_s: number;
  forward_gflops: number;
  /** Against the reference on as many threads. */
  train_ratio: number;
  forward_ratio: number;
  /** Seconds per training step. */
  train_step_s: number;
  /**
   * CPU time of this process (all threads) over wall time while measuring: how many cores the
   * machine actually gave. Two threads that got ~1 were sharing one core with other work.
   */
  train_cores_used: number;
  forward_cores_used: number;
}

export interface BenchResult {
  backend: string;
  /** The first preset, on the engine 'auto' picks, on every core. */
  model: string;
  batch: number;
  engine: TrainingEngine;
  threads: number;
  train_img_per_s: number;
  train_gflops: number;
  forward_img_per_s: number;
  forward_gflops: number;
  /** The reference on every core (ONNX Runtime MatMul, 2048 x 2048 float32). */
  reference_gflops: number;
  /** The reference per thread count measured. */
  reference_gflops_by_threads: Record<string, number>;
  /** tfjs's own matrix product on this backend, one thread (the reference of earlier versions). */
  reference_tfjs_gflops: number;
  train_ratio: number;
  forward_ratio: number;
  date: string;
  cores: number;
  /** Load average (1, 5, 15 min) when the run started: other work on the machine skews everything. */
  load_average: number[];
  results: BenchRow[];
  /** Wall time of `xlab demo` with its defaults in a fresh data dir (--demo). */
  demo?: { seconds: number; exit_code: number | null };
}

export interface BenchOptions {
  presets: string[];
  /** Per preset; default DEFAULT_BATCH. */
  batches?: number[];
  /** Thread counts to measure; default 1 and every core. */
  threads?: number[];
  /** Engines to measure; default both (tfjs workers only on the wasm backend). */
  engines?: TrainingEngine[];
  seconds: number;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  log?: (line: string) => void;
}

function benchConfig(preset: string, batch: number, backend: BenchOptions['backend']): TrainConfig {
  return parseTrainConfig({
    preset,
    dataset: 'mnist',
    imageSize: preset === 'bench-s-mnist16' || preset === 'tiny-test' ? 16 : 32,
    // Colour presets are measured on the digits replicated to 3 channels: throughput depends on shapes only.
    channels: preset === 'bench-s-mnist16' || preset === 'tiny-test' ? 1 : 3,
    batch,
    steps: 1_000_000,
    seed: 0,
    backend,
  });
}

/** The same inference batch for every engine and thread count. */
function forwardBatch(unet: UNetConfig, batch: number) {
  const x = tf.tidy(() => tf.randomNormal([batch, unet.imageSize, unet.imageSize, unet.inChannels], 0, 1, 'float32', 3).dataSync() as Float32Array);
  const t = Float32Array.from({ length: batch }, (_, i) => (i * 37) % 1000);
  return { x, t };
}

/**
 * Step time of a preset: warm-up steps first (the first calls compile kernels, grow the wasm heap
 * or let ORT plan its memory), then at least `seconds` and a few steps; a slow model gets fewer.
 */
async function timeTraining(step: () => unknown, seconds: number): Promise<number> {
  const t0 = performance.now();
  await step();
  const first = (performance.now() - t0) / 1000;
  if (first < 5) await step();
  return timeIt(async () => void (await step()), seconds, first < 5 ? 3 : 2);
}

/** Seconds per call of `timed`, and the cores this process used meanwhile. */
async function withCores(timed: () => Promise<number>): Promise<{ sec: number; cores: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sec = await timed();
  const cpu = process.cpuUsage(cpu0);
  return { sec, cores: (cpu.user + cpu.system) / 1000 / (performance.now() - t0) };
}

type Timings = { train: { sec: number; cores: number }; forward: { sec: number; cores: number }; unet: UNetConfig };

/** ONNX Runtime: the training graph for the step, the exported inference graph for the forward. */
async function measureOnnx(config: TrainConfig, threads: number, seconds: number): Promise<Timings> {
  const setup = await setupTraining(config);
  const session = await startOnnxTraining(setup, threads);
  try {
    const train = await withCores(() => timeTraining(() => session.trainStep(), seconds));
    const ort = (await loadOnnxRuntime())!;
    const inference = await createUNetSession(unetOnnxModel(setup.unet, paramsWeights(setup.params)), { threads });
    try {
      const { x, t } = forwardBatch(setup.unet, config.batch);
      const { imageSize: S, inChannels: C } = setup.unet;
      const feeds = { x: new ort.Tensor('float32', x, [config.batch, S, S, C]), t: new ort.Tensor('float32', t, [config.batch]) };
      const fwd = async () => void (await inference.session.run(feeds));
      await fwd();
      const forward = await withCores(() => timeIt(fwd, seconds, 3));
      return { train, forward, unet: setup.unet };
    } finally {
      await inference.release();
    }
  } finally {
    await session.dispose();
  }
}

/** tfjs: this thread for 1, data-parallel worker threads (one backend each) for more. */
async function measureTfjs(config: TrainConfig, workers: number, seconds: number): Promise<Timings> {
  if (workers === 1) {
    const s = await setupTraining(config);
    try {
      const train = await withCores(() => timeTraining(() => trainStep(s), seconds));
      const { x, t } = forwardBatch(s.unet, config.batch);
      const xs = tf.tensor4d(x, [config.batch, s.unet.imageSize, s.unet.imageSize, s.unet.inChannels]);
      const ts = tf.tensor1d(t, 'float32');
      const fwd = () => {
        const y = tf.tidy(() => forward(s.params, s.unet, xs, ts, { training: false }));
        y.dataSync();
        y.dispose();
      };
      fwd();
      const fwdSec = await withCores(() => timeIt(fwd, seconds, 3));
      xs.dispose();
      ts.dispose();
      return { train, forward: fwdSec, unet: s.unet };
    } finally {
      s.dispose();
    }
  }
  const p = await startDataParallel(config, { workers });
  try {
    const train = await withCores(() => timeTraining(() => p.trainStep(), seconds));
    const { x, t } = forwardBatch(p.unet, config.batch);
    await p.forwardRepeatedly(x, t, 1);
    const fwdSec = await withCores(() => timeIt(() => p.forwardRepeatedly(x, t, 1), seconds, 3));
    return { train, forward: fwdSec, unet: p.unet };
  } finally {
    await p.dispose();
  }
}

function row(config: TrainConfig, engine: TrainingEngine, threads: number, m: Timings, reference: number): BenchRow {
  const flops = forwardFlops(m.unet);
  const trainImg = config.batch / m.train.sec;
  const fwdImg = config.batch / m.forward.sec;
  // Training = forward + backward at ~2x the forward: 3x the forward FLOPs per image.
  const trainGflops = (3 * flops * trainImg) / 1e9;
  const fwdGflops = (flops * fwdImg) / 1e9;
  return {
    model: config.preset,
    batch: config.batch,
    engine,
    threads,
    train_img_per_s: round(trainImg),
    train_gflops: round(trainGflops),
    forward_img_per_s: round(fwdImg),
    forward_gflops: round(fwdGflops),
    train_ratio: round(trainGflops / reference, 3),
    forward_ratio: round(fwdGflops / reference, 3),
    train_step_s: round(m.train.sec, 3),
    train_cores_used: round(m.train.cores),
    forward_cores_used: round(m.forward.cores),
  };
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const log = opts.log ?? (() => undefined);
  const loadAverage = os.loadavg().map((l) => round(l));
  const backend = await initBackend(opts.backend, 'train');
  const cores = availableCores();
  const threadCounts = [...new Set(opts.threads ?? [1, cores])].sort((a, b) => a - b);
  const onnxAvailable = (await loadOnnxRuntime()) !== null;
  const engines = (opts.engines ?? ['onnx', 'tfjs']).filter((e) => {
    if (e === 'onnx' && !onnxAvailable) log('onnxruntime-node is not available: the onnx engine and the reference are skipped');
    return e === 'tfjs' || onnxAvailable;
  });
  const refSeconds = Math.max(2, opts.seconds / 2);
  log(`tfjs reference matmul 1024^2, one thread (${refSeconds} s)`);
  const referenceTfjs = await referenceGflops(1024, refSeconds);
  const references = new Map<number, number>();
  for (const threads of threadCounts) {
    log(`reference: ONNX Runtime matmul ${REFERENCE_N}^2 on ${threads} thread${threads > 1 ? 's' : ''} (${refSeconds} s)`);
    // Without ONNX Runtime the best product available is tfjs's (on one thread only).
    references.set(threads, onnxAvailable ? await onnxMatmulGflops(REFERENCE_N, threads, refSeconds) : referenceTfjs * threads);
  }

  const results: BenchRow[] = [];
  for (const [i, preset] of opts.presets.entries()) {
    const batch = opts.batches?.[i] ?? DEFAULT_BATCH[preset];
    if (batch === undefined) throw new Error(`no default batch size for preset '${preset}': give one with --batch`);
    const config = benchConfig(preset, batch, opts.backend);
    for (const engine of engines) {
      for (const threads of threadCounts) {
        // Worker threads spread the wasm backend over cores; tfjs-node threads by itself.
        if (engine === 'tfjs' && threads > 1 && (backend.name !== 'wasm' || threads > batch)) continue;
        log(`${preset} batch ${batch}, ${engine}, ${threads} thread${threads > 1 ? 's' : ''}`);
        const m = engine === 'onnx' ? await measureOnnx(config, threads, opts.seconds) : await measureTfjs(config, threads, opts.seconds);
        results.push(row(config, engine, threads, m, references.get(threads)!));
      }
    }
  }
  const allCores = Math.max(...threadCounts);
  const headEngine: TrainingEngine = engines.includes('onnx') ? 'onnx' : 'tfjs';
  const head =
    results.find((r) => r.model === opts.presets[0] && r.engine === headEngine && r.threads === allCores) ??
    results.find((r) => r.model === opts.presets[0]) ??
    results[0];
  if (!head) throw new Error('nothing was measured: check --preset, --engine and --threads');
  return {
    backend: backend.name,
    model: head.model,
    batch: head.batch,
    engine: head.engine,
    threads: head.threads,
    train_img_per_s: head.train_img_per_s,
    train_gflops: head.train_gflops,
    forward_img_per_s: head.forward_img_per_s,
    forward_gflops: head.forward_gflops,
    reference_gflops: round(references.get(head.threads)!),
    reference_gflops_by_threads: Object.fromEntries([...references].map(([k, v]) => [String(k), round(v)])),
    reference_tfjs_gflops: round(referenceTfjs),
    train_ratio: head.train_ratio,
    forward_ratio: head.forward_ratio,
    date: new Date().toISOString(),
    cores,
    load_average: loadAverage,
    results,
  };
}

/** Runs `xlab demo` (its defaults) in a fresh data dir, as a user would, and times it. */
export async function timeDemo(log: (line: string) => void = () => undefined): Promise<{ seconds: number; exit_code: number | null }> {
  const cli = fileURLToPath(new URL('../../../bin/xlab.mjs', import.meta.url));
  if (!fs.existsSync(cli)) throw new Error(`--demo runs ${cli}, which is not there (a built app has no CLI sources)`);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-bench-demo-'));
  try {
    const t0 = performance.now();
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [cli, 'demo', '--out', path.join(home, 'out')], {
        env: { ...process.env, XLAB_HOME: home },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let tail = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        tail = (tail + d).slice(-4000);
      });
      child.once('error', reject);
      child.once('exit', (c) => {
        if (c !== 0) log(`xlab demo exited with ${c}:\n${tail}`);
        resolve(c);
      });
    });
    return { seconds: round((performance.now() - t0) / 1000, 1), exit_code: code };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function list<T>(parse: (s: string) => T, what: string) {
  return (v: string): T[] =>
    v.split(',').map((s) => {
      const x = parse(s.trim());
      if (typeof x === 'number' && !(Number.isInteger(x) && x > 0)) throw new Error(`${what}: expected positive integers, got '${v}'`);
      return x;
    });
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('training / forward throughput of U-Net presets per engine, on one core and on all cores, vs the fastest float32 matrix product measured in the same run')
    .option('--preset <list>', 'comma-separated U-Net presets', list(String, '--preset'), ['bench-s-mnist16', 'bench-m-32'])
    .option('--batch <list>', 'batch size per preset (default: 64 for bench-s-mnist16, 16 for bench-m-32)', list(Number, '--batch'))
    .option('--threads <list>', 'thread counts to measure (default: 1 and the number of cores)', list(Number, '--threads'))
    .option('--engine <list>', 'training engines to measure: onnx, tfjs (default: both)', list(engineName, '--engine'))
    .option('--seconds <s>', 'minimum seconds per measurement', (v) => Number(v), 10)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', 'tensorflow', 'wasm']).default('auto'))
    .option('--demo', 'also time `xlab demo` (its defaults, a fresh data dir) end to end')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
      const r = await runBench({ presets: o.preset, batches: o.batch, threads: o.threads, engines: o.engine, seconds: o.seconds, backend: o.backend, log });
      if (o.demo) {
        log('xlab demo (defaults, fresh data dir)');
        r.demo = await timeDemo(log);
      }
      if (o.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      const lines = [`${r.backend}, ${r.cores} cores, load average ${r.load_average.join(' ')}`];
      lines.push(
        `  reference (ONNX Runtime matmul ${REFERENCE_N}^2): ` +
          Object.entries(r.reference_gflops_by_threads)
            .map(([k, v]) => `${v} GFLOP/s on ${k} thread${k === '1' ? '' : 's'}`)
            .join(', ') +
          `; tfjs matmul ${r.reference_tfjs_gflops} on one thread`,
      );
      for (const x of r.results) {
        lines.push(
          `  ${x.model} batch ${x.batch}, ${x.engine}, ${x.threads} thread${x.threads > 1 ? 's' : ''}\n` +
            `    train   ${x.train_img_per_s} img/s  ${x.train_gflops} GFLOP/s  (ratio ${x.train_ratio}, ${x.train_cores_used} cores busy)\n` +
            `    forward ${x.forward_img_per_s} img/s  ${x.forward_gflops} GFLOP/s  (ratio ${x.forward_ratio}, ${x.forward_cores_used} cores busy)`,
        );
      }
      lines.push(`  headline (${r.model}, ${r.engine}, ${r.threads} threads): train_ratio ${r.train_ratio}, forward_ratio ${r.forward_ratio}`);
      if (r.demo) lines.push(`  xlab demo: ${r.demo.seconds} s (exit code ${r.demo.exit_code})`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

function engineName(v: string): TrainingEngine {
  if (v === 'onnx' || v === 'tfjs') return v;
  throw new Error(`--engine: expected onnx or tfjs, got '${v}'`);
}

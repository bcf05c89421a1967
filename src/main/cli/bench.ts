/**
 * `xlab bench`: training and forward throughput of U-Net presets on the selected backend, on one
 * core (this thread) and on all cores (data-parallel worker threads), against a large float32
 * matrix product measured in the same run (the reference), so figures from different machines or
 * days compare as ratios. The reference is measured twice: on this thread alone, and on every core
 * at once in worker threads; a multi-worker throughput is divided by the latter, so its ratio says
 * how well training uses the cores rather than how many there are.
 *
 * The top-level fields (model, batch, train_img_per_s, ..., train_ratio, forward_ratio) are the
 * first preset on one core, as before; `results` holds every preset x worker count.
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
import { setupTraining, trainStep } from '../training/trainer';
import { concurrentReferenceGflops, startDataParallel } from '../training/parallel/data-parallel';
import { referenceGflops, timeIt } from '../training/parallel/reference-matmul';
import { WorkerPool } from '../training/parallel/worker-pool';
import { availableCores } from '../training/parallel/worker-count';

export { referenceGflops };

/** Batch sizes the presets are benchmarked at unless --batch says otherwise. */
const DEFAULT_BATCH: Record<string, number> = { 'bench-s-mnist16': 64, 'bench-m-32': 16, 'adm-cifar10': 8, 'tiny-test': 16 };

export interface BenchRow {
  model: string;
  batch: number;
  /** 1: this thread; more: data-parallel worker threads. */
  workers: number;
  train_img_per_s: number;
  train_gflops: number;
  forward_img_per_s: number;
  forward_gflops: number;
  /** Against the reference on as many threads: reference_gflops for one worker, reference_multicore_gflops for all cores. */
  train_ratio: number;
  forward_ratio: number;
  /** Seconds per training step. */
  train_step_s: number;
  /**
   * CPU time of this process (all threads) over wall time while measuring: how many cores the
   * machine actually gave. Two workers that got ~1 were sharing one core with other work.
   */
  train_cores_used: number;
  forward_cores_used: number;
}

export interface BenchResult {
  backend: string;
  /** The first preset on one core (the fields earlier versions reported). */
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
  cores: number;
  /**
   * The reference on every core at once (one worker thread and backend per core), summed; on the
   * largest worker count measured if that is not the number of cores. Null when only one worker was.
   */
  reference_multicore_gflops: number | null;
  /** Cores this process used while measuring reference_multicore_gflops (see BenchRow.train_cores_used). */
  reference_multicore_cores_used: number | null;
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
  /** Worker counts to measure; default 1 and every core. */
  workers?: number[];
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

/** The same inference batch for every worker count. */
function forwardBatch(unet: UNetConfig, batch: number) {
  const x = tf.tidy(() => tf.randomNormal([batch, unet.imageSize, unet.imageSize, unet.inChannels], 0, 1, 'float32', 3).dataSync() as Float32Array);
  const t = Float32Array.from({ length: batch }, (_, i) => (i * 37) % 1000);
  return { x, t };
}

/**
 * Step time of a preset: warm-up steps first (the first calls compile kernels and grow the wasm
 * heap), then at least `seconds` and a few steps; a slow model gets fewer of them.
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

async function measureOne(config: TrainConfig, workers: number, seconds: number, pool?: WorkerPool): Promise<Omit<BenchRow, 'train_ratio' | 'forward_ratio'>> {
  let trainSec: { sec: number; cores: number };
  let fwdSec: { sec: number; cores: number };
  let unet: UNetConfig;
  if (workers === 1) {
    const s = await setupTraining(config);
    unet = s.unet;
    try {
      trainSec = await withCores(() => timeTraining(() => trainStep(s), seconds));
      const { x, t } = forwardBatch(unet, config.batch);
      const xs = tf.tensor4d(x, [config.batch, unet.imageSize, unet.imageSize, unet.inChannels]);
      const ts = tf.tensor1d(t, 'float32');
      const fwd = () => {
        const y = tf.tidy(() => forward(s.params, s.unet, xs, ts, { training: false }));
        y.dataSync();
        y.dispose();
      };
      fwd();
      fwdSec = await withCores(() => timeIt(fwd, seconds, 3));
      xs.dispose();
      ts.dispose();
    } finally {
      s.dispose();
    }
  } else {
    const p = await startDataParallel(config, { workers, pool });
    unet = p.unet;
    try {
      trainSec = await withCores(() => timeTraining(() => p.trainStep(), seconds));
      const { x, t } = forwardBatch(unet, config.batch);
      await p.forwardRepeatedly(x, t, 1);
      fwdSec = await withCores(() => timeIt(() => p.forwardRepeatedly(x, t, 1), seconds, 3));
    } finally {
      await p.dispose();
    }
  }
  const flops = forwardFlops(unet);
  const trainImg = config.batch / trainSec.sec;
  const fwdImg = config.batch / fwdSec.sec;
  return {
    model: config.preset,
    batch: config.batch,
    workers,
    train_img_per_s: round(trainImg),
    // Training = forward + backward at ~2x the forward: 3x the forward FLOPs per image.
    train_gflops: round((3 * flops * trainImg) / 1e9),
    forward_img_per_s: round(fwdImg),
    forward_gflops: round((flops * fwdImg) / 1e9),
    train_step_s: round(trainSec.sec, 3),
    train_cores_used: round(trainSec.cores),
    forward_cores_used: round(fwdSec.cores),
  };
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const log = opts.log ?? (() => undefined);
  const loadAverage = os.loadavg().map((l) => round(l));
  const backend = await initBackend(opts.backend, 'train');
  const cores = availableCores();
  // Worker threads spread the wasm backend over cores; tfjs-node threads by itself.
  const workerCounts = [...new Set(opts.workers ?? [1, cores])].filter((w) => w === 1 || backend.name === 'wasm').sort((a, b) => a - b);
  const refSeconds = Math.max(2, opts.seconds / 2);
  log(`reference matmul, one thread (${refSeconds} s)`);
  const reference = await referenceGflops(1024, refSeconds);
  // One pool per worker count, for its reference and every preset: a backend per thread starts once.
  const pools = new Map<number, WorkerPool>();
  try {
    // The reference on as many threads as each multi-worker measurement uses.
    const references = new Map<number, number>([[1, reference]]);
    const referenceCores = new Map<number, number>();
    for (const w of workerCounts.filter((c) => c > 1)) {
      pools.set(w, new WorkerPool(w));
      await concurrentReferenceGflops(w, 8, 0, pools.get(w)); // boots the threads' backends outside the timing
      log(`reference matmul, ${w} threads at once (${refSeconds} s)`);
      let gflops = 0;
      const { cores: used } = await withCores(async () => {
        gflops = await concurrentReferenceGflops(w, 1024, refSeconds, pools.get(w));
        return 0;
      });
      references.set(w, gflops);
      referenceCores.set(w, used);
    }
    const multi = references.has(cores) ? cores : workerCounts.length > 1 ? Math.max(...workerCounts) : null;
    const referenceMulticore = multi === null ? null : references.get(multi)!;
    const results = await measurePresets(opts, workerCounts, references, pools, log);
    const head = results.find((r) => r.workers === 1) ?? results[0];
    if (!head) throw new Error('nothing was measured: check --preset and --workers');
    return {
      backend: backend.name,
      model: head.model,
      batch: head.batch,
      train_img_per_s: head.train_img_per_s,
      train_gflops: head.train_gflops,
      forward_img_per_s: head.forward_img_per_s,
      forward_gflops: head.forward_gflops,
      reference_gflops: round(reference),
      train_ratio: head.workers === 1 ? head.train_ratio : round(head.train_gflops / reference, 3),
      forward_ratio: head.workers === 1 ? head.forward_ratio : round(head.forward_gflops / reference, 3),
      date: new Date().toISOString(),
      cores,
      reference_multicore_gflops: referenceMulticore === null ? null : round(referenceMulticore),
      reference_multicore_cores_used: multi === null ? null : round(referenceCores.get(multi)!),
      load_average: loadAverage,
      results,
    };
  } finally {
    for (const p of pools.values()) await p.close();
  }
}

async function measurePresets(
  opts: BenchOptions,
  workerCounts: number[],
  references: Map<number, number>,
  pools: Map<number, WorkerPool>,
  log: (line: string) => void,
): Promise<BenchRow[]> {
  const results: BenchRow[] = [];
  for (const [i, preset] of opts.presets.entries()) {
    const batch = opts.batches?.[i] ?? DEFAULT_BATCH[preset];
    if (batch === undefined) throw new Error(`no default batch size for preset '${preset}': give one with --batch`);
    const config = benchConfig(preset, batch, opts.backend);
    for (const workers of workerCounts) {
      if (workers > batch) {
        log(`${preset}: skipping ${workers} workers (batch ${batch} is smaller)`);
        continue;
      }
      log(`${preset} batch ${batch}, ${workers} worker${workers > 1 ? 's' : ''}`);
      const row = await measureOne(config, workers, opts.seconds, pools.get(workers));
      const ref = references.get(workers)!;
      results.push({ ...row, train_ratio: round(row.train_gflops / ref, 3), forward_ratio: round(row.forward_gflops / ref, 3) });
    }
  }
  return results;
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
    .description('training / forward throughput of U-Net presets on one core and on all cores, vs a float32 matmul reference measured in the same run')
    .option('--preset <list>', 'comma-separated U-Net presets', list(String, '--preset'), ['bench-s-mnist16', 'bench-m-32'])
    .option('--batch <list>', 'batch size per preset (default: 64 for bench-s-mnist16, 16 for bench-m-32)', list(Number, '--batch'))
    .option('--workers <list>', 'worker counts to measure (default: 1 and the number of cores)', list(Number, '--workers'))
    .option('--seconds <s>', 'minimum seconds per measurement', (v) => Number(v), 10)
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow', 'wasm']).default('auto'))
    .option('--demo', 'also time `xlab demo` (its defaults, a fresh data dir) end to end')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
      const r = await runBench({ presets: o.preset, batches: o.batch, workers: o.workers, seconds: o.seconds, backend: o.backend, log });
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
        `  reference matmul ${r.reference_gflops} GFLOP/s on one thread` +
          (r.reference_multicore_gflops !== null ? `, ${r.reference_multicore_gflops} on all cores (${r.reference_multicore_cores_used} cores busy)` : ''),
      );
      for (const x of r.results) {
        lines.push(
          `  ${x.model} batch ${x.batch}, ${x.workers} worker${x.workers > 1 ? 's' : ''}\n` +
            `    train   ${x.train_img_per_s} img/s  ${x.train_gflops} GFLOP/s  (ratio ${x.train_ratio}, ${x.train_cores_used} cores busy)\n` +
            `    forward ${x.forward_img_per_s} img/s  ${x.forward_gflops} GFLOP/s  (ratio ${x.forward_ratio}, ${x.forward_cores_used} cores busy)`,
        );
      }
      if (r.demo) lines.push(`  xlab demo: ${r.demo.seconds} s (exit code ${r.demo.exit_code})`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

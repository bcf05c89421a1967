/**
 * `xlab demo` (the README's main job): ADM vs ADM-IP (gamma 0.1) on the bundled MNIST digits at
 * 16x16, same seed, same data order, same noise; then paired sample grids from both at several
 * numbers of sampling steps T', side by side. Re-running continues an interrupted demo.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Command } from 'commander';
import { parseTrainConfig, type TrainConfig } from '../../shared/config';
import { initBackend } from '../nn/backend';
import { listCheckpoints } from '../training/checkpoint';
import { runPaths } from '../training/trainer';
import { generateSampleSet, type SampleSet } from '../generation/generate';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TrainProcessMessage } from '../training/train-process';
import { multiProgress, progressBar, type Progress } from './progress';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got '${v}'`);
  return n;
}

export function demoConfig(objective: 'adm' | 'adm-ip', steps: number, seed: number, batch = 32): TrainConfig {
  return parseTrainConfig({
    objective,
    gamma: { kind: 'constant', gamma: 0.1 },
    preset: 'bench-s-mnist16',
    dataset: 'mnist',
    imageSize: 16,
    steps,
    batch,
    seed,
    // A short run: a higher learning rate with warm-up and a faster EMA than the paper's 1e-4 / 0.9999,
    // identical for both objectives so the comparison stays fair.
    optimizer: { lr: 5e-4, warmupSteps: 100, gradClip: 1 },
    emaRate: 0.995,
    checkpointEvery: 200,
    logEvery: 10,
  });
}

const TRAIN_PROCESS = fileURLToPath(new URL('../training/train-process.ts', import.meta.url));

/**
 * Trains the runs in parallel child processes, one per core: the two objectives are independent,
 * and each wasm instance is single-threaded. Ctrl-C asks every child to checkpoint and stop.
 */
async function trainSideBySide(
  todo: { objective: string; config: TrainConfig; dir: string; resume: boolean; done: number }[],
  quiet: boolean,
): Promise<boolean> {
  const bars = multiProgress(quiet);
  const children: ChildProcess[] = [];
  const onSig = () => {
    bars.log('stopping: each run writes a checkpoint first');
    for (const c of children) c.connected && c.send({ type: 'stop' });
  };
  process.on('SIGINT', onSig);
  try {
    const results = await Promise.all(
      todo.map(
        (job) =>
          new Promise<boolean>((resolve, reject) => {
            const bar = bars.add(job.objective.padEnd(6), job.config.steps, job.done);
            const child = fork(TRAIN_PROCESS, [JSON.stringify(job.config), job.dir, job.resume ? 'resume' : 'fresh'], {
              execArgv: ['--import', 'tsx'],
              stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            });
            children.push(child);
            let outcome: TrainProcessMessage | null = null;
            child.on('message', (m: TrainProcessMessage) => {
              if (m.type === 'step') bar.update(m.step, { loss: m.loss.toFixed(4), 'it/s': m.itPerSec.toFixed(2) });
              else if (m.type === 'log') bars.log(`${job.objective}: ${m.line}`);
              else outcome = m;
            });
            child.on('exit', (code) => {
              bar.stop();
              const m = outcome as TrainProcessMessage | null;
              if (m?.type === 'done') resolve(!m.stopped);
              else reject(new Error(`${job.objective} training failed: ${m?.type === 'error' ? m.message : `exit code ${code}`}`));
            });
          }),
      ),
    );
    return results.every(Boolean);
  } finally {
    process.off('SIGINT', onSig);
    bars.stop();
  }
}

/**
 * Two sample grids side by side (left ADM, right ADM-IP), enlarged 4x with nearest-neighbour so
 * 16-pixel digits stay crisp on screen.
 */
async function sideBySide(a: string, b: string, out: string): Promise<void> {
  const scale = 4;
  const [ma, mb] = await Promise.all([sharp(a).metadata(), sharp(b).metadata()]);
  const big = (file: string, m: sharp.Metadata) =>
    sharp(file).resize(m.width! * scale, m.height! * scale, { kernel: 'nearest' }).toBuffer();
  const [ba, bb] = await Promise.all([big(a, ma), big(b, mb)]);
  const gap = 8 * scale;
  const width = (ma.width! + mb.width!) * scale + gap;
  const height = Math.max(ma.height!, mb.height!) * scale;
  await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: ba, left: 0, top: 0 },
      { input: bb, left: ma.width! * scale + gap, top: 0 },
    ])
    .png()
    .toFile(out);
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('the default comparison: train ADM and ADM-IP (gamma 0.1) on bundled MNIST, then paired sample grids at several T\'')
    .option('--out <dir>', 'folder of the two runs and the comparison', 'runs/demo')
    .option('--steps <n>', 'training iterations per model', num, 1000)
    .option('--batch <n>', 'batch size', num, 32)
    .option('--seed <n>', 'training seed (shared by both runs)', num, 0)
    .option('--sample-steps <list>', "comma-separated T' values to sample at", '20,100')
    .option('--n <n>', 'samples per grid', num, 64)
    .option('--backend <name>', 'auto, tensorflow or wasm', 'auto')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (o) => {
      const backend = await initBackend(o.backend, 'train');
      process.stderr.write(`Exposure Lab demo: ADM vs ADM-IP on bundled MNIST (16x16), ${o.steps} steps each, backend ${backend.name}\n`);
      const runs: Record<string, string> = {};
      const todo: { objective: 'adm' | 'adm-ip'; config: TrainConfig; dir: string; resume: boolean; done: number }[] = [];
      for (const objective of ['adm', 'adm-ip'] as const) {
        const dir = path.join(o.out, objective);
        runs[objective] = dir;
        const config = { ...demoConfig(objective, o.steps, o.seed, o.batch), backend: o.backend };
        const existing = listCheckpoints(runPaths(dir).checkpoints).at(-1);
        if (existing && existing.step >= config.steps) process.stderr.write(`${objective}: already trained (${existing.step} steps)\n`);
        else todo.push({ objective, config, dir, resume: Boolean(existing), done: existing?.step ?? 0 });
      }
      if (todo.length) {
        const ok = await trainSideBySide(todo, Boolean(o.json));
        if (!ok) {
          process.stderr.write(`stopped; run the demo again (same --out ${o.out}) to continue from the last checkpoints\n`);
          process.exitCode = 130;
          return;
        }
      }
      const stepsList = String(o.sampleSteps).split(',').map((s) => s.trim()).filter(Boolean);
      const comparisons: { steps: string; adm: string; admIp: string; sideBySide: string }[] = [];
      for (const steps of stepsList) {
        const sets: Record<string, SampleSet> = {};
        for (const objective of ['adm', 'adm-ip']) {
          let bar: Progress | null = null;
          sets[objective] = await generateSampleSet({
            checkpoint: runs[objective]!,
            weights: 'ema',
            sampler: { kind: 'ddpm', steps },
            n: o.n,
            seed: 0,
            batchSize: 64,
            onStep: (done, total) => {
              bar ??= progressBar(total, `sample ${objective} T'=${steps}`.padEnd(20), 'sampling', o.json);
              bar.update(Math.min(done, total));
            },
          });
          (bar as Progress | null)?.stop();
        }
        const out = path.join(o.out, `compare_T${steps}.png`);
        fs.mkdirSync(o.out, { recursive: true });
        await sideBySide(sets['adm']!.gridPath, sets['adm-ip']!.gridPath, out);
        comparisons.push({ steps, adm: sets['adm']!.gridPath, admIp: sets['adm-ip']!.gridPath, sideBySide: out });
      }
      const summary = { out: o.out, backend: backend.name, runs, comparisons };
      fs.writeFileSync(path.join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        process.stderr.write('\nPaired sample grids (left ADM, right ADM-IP; same noise for image i):\n');
        for (const c of comparisons) process.stderr.write(`  T'=${c.steps.padEnd(5)} ${c.sideBySide}\n`);
      }
    });
}

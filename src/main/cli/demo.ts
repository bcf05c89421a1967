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
import { runPaths, train } from '../training/trainer';
import { generateSampleSet, type SampleSet } from '../generation/generate';
import { progressBar } from './progress';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got '${v}'`);
  return n;
}

export function demoConfig(objective: 'adm' | 'adm-ip', steps: number, seed: number): TrainConfig {
  return parseTrainConfig({
    objective,
    gamma: { kind: 'constant', gamma: 0.1 },
    preset: 'bench-s-mnist16',
    dataset: 'mnist',
    imageSize: 16,
    steps,
    batch: 64,
    seed,
    // A short run: a higher learning rate with warm-up and a faster EMA than the paper's 1e-4 / 0.9999,
    // identical for both objectives so the comparison stays fair.
    optimizer: { lr: 5e-4, warmupSteps: 100, gradClip: 1 },
    emaRate: 0.995,
    checkpointEvery: 200,
    logEvery: 10,
  });
}

/** Two sample grids side by side with a gap, labelled by file name only (no fonts needed). */
async function sideBySide(a: string, b: string, out: string): Promise<void> {
  const [ma, mb] = await Promise.all([sharp(a).metadata(), sharp(b).metadata()]);
  const gap = 12;
  const width = ma.width! + gap + mb.width!;
  const height = Math.max(ma.height!, mb.height!);
  await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: a, left: 0, top: 0 },
      { input: b, left: ma.width! + gap, top: 0 },
    ])
    .png()
    .toFile(out);
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('the default comparison: train ADM and ADM-IP (gamma 0.1) on bundled MNIST, then paired sample grids at several T\'')
    .option('--out <dir>', 'folder of the two runs and the comparison', 'runs/demo')
    .option('--steps <n>', 'training iterations per model', num, 1500)
    .option('--seed <n>', 'training seed (shared by both runs)', num, 0)
    .option('--sample-steps <list>', "comma-separated T' values to sample at", '20,100')
    .option('--n <n>', 'samples per grid', num, 64)
    .option('--backend <name>', 'auto, tensorflow or wasm', 'auto')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (o) => {
      const backend = await initBackend(o.backend, 'train');
      process.stderr.write(`Exposure Lab demo: ADM vs ADM-IP on bundled MNIST (16x16), ${o.steps} steps each, backend ${backend.name}\n`);
      const runs: Record<string, string> = {};
      for (const objective of ['adm', 'adm-ip'] as const) {
        const dir = path.join(o.out, objective);
        runs[objective] = dir;
        const config = demoConfig(objective, o.steps, o.seed);
        const existing = listCheckpoints(runPaths(dir).checkpoints).at(-1);
        if (existing && existing.step >= config.steps) {
          process.stderr.write(`${objective}: already trained (${existing.step} steps)\n`);
          continue;
        }
        const bar = progressBar(config.steps, objective.padEnd(6), 'loss {loss} | {rate} it/s', o.json);
        let stop = false;
        const onSig = () => {
          stop = true;
        };
        process.on('SIGINT', onSig);
        const r = await train(config, dir, {
          resume: Boolean(existing),
          hooks: {
            onStep: (s) => bar.update(s.step, { loss: s.loss.toFixed(4), rate: s.itPerSec.toFixed(2) }),
            shouldStop: () => stop,
            onLog: (l) => bar.log(`${objective}: ${l}`),
          },
        });
        bar.stop();
        process.off('SIGINT', onSig);
        if (r.stopped) {
          process.stderr.write(`stopped; run \`xlab demo --out ${o.out}\` again to continue\n`);
          process.exitCode = 130;
          return;
        }
      }
      const stepsList = String(o.sampleSteps).split(',').map((s) => s.trim()).filter(Boolean);
      const comparisons: { steps: string; adm: string; admIp: string; sideBySide: string }[] = [];
      for (const steps of stepsList) {
        const sets: Record<string, SampleSet> = {};
        for (const objective of ['adm', 'adm-ip']) {
          const bar = progressBar(Number(steps) || 1000, `${objective} T'=${steps}`.padEnd(14), '{rate}', o.json);
          sets[objective] = await generateSampleSet({
            checkpoint: runs[objective]!,
            weights: 'ema',
            sampler: { kind: 'ddpm', steps },
            n: o.n,
            seed: 0,
            batchSize: 64,
            onStep: (done, total) => bar.update(Math.min(done, total), { rate: '' }),
          });
          bar.stop();
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

/** `xlab train`: train one objective into a run folder, with a progress bar and checkpoints. */
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { OBJECTIVES, parseTrainConfig, type TrainConfig } from '../../shared/config';
import { initBackend } from '../nn/backend';
import { runPaths, train } from '../training/trainer';
import { progressBar } from './progress';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got '${v}'`);
  return n;
}

/** Builds a config from an optional JSON file and the flags given (flags win). */
export function configFromFlags(o: Record<string, unknown>): TrainConfig {
  let base: Record<string, unknown> = {};
  if (typeof o['config'] === 'string') {
    try {
      base = JSON.parse(fs.readFileSync(o['config'], 'utf8'));
    } catch (e) {
      throw new Error(`cannot read config file ${o['config']}: ${(e as Error).message}`);
    }
  }
  const c: Record<string, unknown> = { ...base };
  const set = (key: string, v: unknown) => {
    if (v !== undefined) c[key] = v;
  };
  set('objective', o['objective']);
  set('preset', o['preset']);
  set('dataset', o['dataset']);
  set('steps', o['steps']);
  set('batch', o['batch']);
  set('seed', o['seed']);
  set('T', o['diffusionSteps']);
  set('schedule', o['schedule']);
  set('learnSigma', o['learnSigma']);
  set('emaRate', o['ema']);
  set('timestepSampler', o['timestepSampler']);
  set('checkpointEvery', o['checkpointEvery']);
  set('logEvery', o['logEvery']);
  set('backend', o['backend']);
  set('gpLambda', o['gpLambda']);
  if (o['imageSize'] !== undefined) c['imageSize'] = o['imageSize'] === 0 ? null : o['imageSize'];
  if (o['flip'] !== undefined) c['flip'] = o['flip'];
  if (o['gamma'] !== undefined || o['gammaSchedule'] !== undefined) {
    const kind = (o['gammaSchedule'] as string | undefined) ?? 'constant';
    const g = (o['gamma'] as number | undefined) ?? 0.1;
    c['gamma'] = kind === 'constant' ? { kind, gamma: g } : { kind, start: g, end: (o['gammaEnd'] as number | undefined) ?? 0 };
  }
  const opt: Record<string, unknown> = { ...((base['optimizer'] as object) ?? {}) };
  if (o['lr'] !== undefined) opt['lr'] = o['lr'];
  if (o['weightDecay'] !== undefined) {
    opt['weightDecay'] = o['weightDecay'];
    opt['kind'] = 'adamw';
  }
  if (o['warmup'] !== undefined) opt['warmupSteps'] = o['warmup'];
  if (o['gradClip'] !== undefined) opt['gradClip'] = o['gradClip'];
  if (c['objective'] === 'adm-wd' && opt['kind'] === undefined) opt['kind'] = 'adamw';
  if (c['objective'] === 'adm-wd' && opt['weightDecay'] === undefined) opt['weightDecay'] = 0.01;
  c['optimizer'] = opt;
  return parseTrainConfig(c);
}

export function addTrainFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON config file (flags override it)')
    .addOption(new Option('--objective <name>', 'training objective').choices(OBJECTIVES as unknown as string[]))
    .option('--gamma <g>', 'input-perturbation strength (adm-ip, adm-y); the paper uses 0.1, 0.15 for CIFAR-10', num)
    .addOption(new Option('--gamma-schedule <kind>', 'gamma over t: constant, or linear/cosine from --gamma at t=0 to --gamma-end at t=T-1').choices(['constant', 'linear', 'cosine']))
    .option('--gamma-end <g>', 'gamma at t = T-1 for a linear or cosine schedule', num)
    .option('--preset <name>', 'U-Net preset: bench-s-mnist16, bench-m-32, adm-cifar10, tiny-test')
    .option('--dataset <spec>', "'mnist' (bundled), 'fashion-mnist', idx:PATH, cifar10:PATH, folder:PATH")
    .option('--image-size <px>', 'resize images to this size (0 keeps the original)', num)
    .addOption(new Option('--flip <mode>', 'horizontal flips').choices(['auto', 'on', 'off']))
    .option('--steps <n>', 'training iterations', num)
    .option('--batch <n>', 'batch size', num)
    .option('--seed <n>', 'seed of every random stream of the run', num)
    .option('--lr <lr>', 'learning rate', num)
    .option('--weight-decay <wd>', 'AdamW weight decay (switches the optimiser to AdamW)', num)
    .option('--warmup <n>', 'linear learning-rate warm-up steps', num)
    .option('--grad-clip <norm>', 'clip the global gradient norm', num)
    .option('--ema <rate>', 'EMA rate of the weights (paper: 0.9999)', num)
    .option('--diffusion-steps <T>', 'T, the length of the diffusion process', num)
    .addOption(new Option('--schedule <name>', 'noise schedule').choices(['linear', 'cosine']))
    .option('--learn-sigma', 'also learn the variance (adds the VB term)')
    .addOption(new Option('--timestep-sampler <name>', 'how t is drawn').choices(['uniform', 'loss-second-moment']))
    .option('--gp-lambda <l>', 'gradient-penalty weight (adm-gp)', num)
    .option('--checkpoint-every <n>', 'checkpoint interval in steps', num)
    .option('--log-every <n>', 'metric logging interval in steps', num)
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']));
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('train ADM, ADM-IP or a control on a dataset; Ctrl-C checkpoints and stops');
  addTrainFlags(cmd)
    .option('--out <dir>', 'run folder (config, checkpoints, metrics)')
    .option('--resume <dir>', 'continue the run in this folder from its latest checkpoint')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (o) => {
      let config: TrainConfig;
      let outDir: string;
      if (o.resume) {
        outDir = o.resume;
        const file = runPaths(outDir).config;
        if (!fs.existsSync(file)) throw new Error(`${outDir} is not a run folder (no config.json)`);
        const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
        delete saved.unet;
        delete saved.gpEstimator;
        // A resumed run keeps its config; only the planned length may be extended.
        config = parseTrainConfig({ ...saved, ...(o.steps !== undefined ? { steps: o.steps } : {}) });
      } else {
        config = configFromFlags(o);
        outDir = o.out ?? `runs/${config.objective}-seed${config.seed}`;
      }
      const backend = await initBackend(config.backend, 'train');
      const bar = progressBar(config.steps, config.objective.padEnd(6), 'loss {loss} | {rate} it/s', o.json);
      let stopRequested = false;
      const onSigint = () => {
        if (stopRequested) process.exit(130);
        stopRequested = true;
        bar.log('stopping: writing a checkpoint (Ctrl-C again to quit at once)');
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      bar.log(`backend ${backend.name} (${backend.provider}); run folder ${outDir}`);
      const result = await train(config, outDir, {
        resume: Boolean(o.resume),
        hooks: {
          onStep: (r) => bar.update(r.step, { loss: r.loss.toFixed(4), rate: r.itPerSec.toFixed(2) }),
          shouldStop: () => stopRequested,
          onLog: (l) => bar.log(l),
        },
      });
      bar.stop();
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      const summary = { outDir, ...result, backend: backend.name };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else
        process.stderr.write(
          result.stopped
            ? `stopped at step ${result.stepsDone}; resume with: xlab train --resume ${outDir}\n`
            : `done: ${result.stepsDone} steps, last checkpoint ${result.lastCheckpoint}\n`,
        );
      if (result.stopped) process.exitCode = 130;
    });
  return cmd;
}

/**
 * `xlab train`: train one objective into a run folder, with a progress bar and checkpoints, and
 * record the run in the history (metrics and checkpoints as they are written). `--queue` records
 * it and leaves the training to the job supervisor instead.
 */
import type { EngineChoice } from '../training/onnx-training';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { OBJECTIVES, parseTrainConfig, type TrainConfig } from '../../shared/config';
import { LabApiError } from '../../shared/api';
import { initBackend } from '../nn/backend';
import { listCheckpoints } from '../training/checkpoint';
import { runPaths } from '../training/trainer';
import { resolveWorkerCount } from '../training/parallel/worker-count';
import { LogTail } from '../jobs/protocol';
import {
  OUT_DIR_KEY,
  claimForegroundJob,
  createTrainingRun,
  findRunByFolder,
  readMetricsFile,
  runFolderOf,
} from '../jobs/run-records';
import { isProcessAlive } from '../jobs/supervisor';
import { runTraining } from '../jobs/training-run';
import { RUN_ID_PATTERN } from '../store/ids';
import type { RunRow } from '../store/store';
import { addDataDirOption, intArg, openLab, type Lab } from './history';
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

/** The config saved in a run folder (what the trainer wrote), with the planned length optionally extended. */
function savedConfig(folder: string, fallback: RunRow | undefined, steps: number | undefined): TrainConfig {
  const file = runPaths(folder).config;
  let saved: Record<string, unknown>;
  if (fs.existsSync(file)) {
    saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    delete saved['unet'];
    delete saved['gpEstimator'];
  } else if (fallback) {
    saved = { ...fallback.config };
    delete saved[OUT_DIR_KEY];
  } else {
    throw new Error(`${folder} is not a run folder (no config.json)`);
  }
  // A resumed run keeps its config; only the planned length may be extended.
  return parseTrainConfig({ ...saved, ...(steps !== undefined ? { steps } : {}) });
}

interface ResumeTarget {
  run: RunRow;
  folder: string;
  config: TrainConfig;
}

/**
 * `--resume` takes a run folder or a run id. A folder the history does not know (trained before
 * it existed, or moved from another data dir) is brought in: a run record and its metrics up to
 * the newest checkpoint.
 */
function resumeTarget(lab: Lab, target: string, steps: number | undefined, o: Record<string, unknown>): ResumeTarget {
  const { store, dataDir } = lab;
  let run: RunRow | undefined;
  let folder: string;
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) {
    folder = path.resolve(target);
    run = findRunByFolder(store, dataDir, folder);
  } else if (RUN_ID_PATTERN.test(target) || store.getRun(target)) {
    run = store.getRun(target);
    if (!run) throw new LabApiError('NOT_FOUND', `no run with id ${target} in ${dataDir}`);
    if (run.kind !== 'train') throw new LabApiError('INVALID', `run ${target} is a ${run.kind} run, not a training run`);
    folder = runFolderOf(dataDir, run);
  } else {
    throw new Error(`--resume ${target}: no such run folder, and not a run id`);
  }
  const config = savedConfig(folder, run, steps);
  if (!run) {
    const ckpt = listCheckpoints(runPaths(folder).checkpoints).at(-1);
    run = store.transaction(() => {
      const created = createTrainingRun(store, config, {
        outDir: folder,
        ...(typeof o['name'] === 'string' ? { name: o['name'] } : {}),
        ...(typeof o['experiment'] === 'number' ? { experimentId: o['experiment'] } : {}),
      });
      if (ckpt) {
        store.appendMetrics(created.id, readMetricsFile(runPaths(folder).metrics, ckpt.step));
        store.updateRun(created.id, { stepsDone: ckpt.step });
      }
      return store.getRun(created.id)!;
    });
    process.stderr.write(`recorded ${folder} in the history as run ${run.id}\n`);
  } else if (steps !== undefined && steps !== run.stepsPlanned) {
    run = store.updateRun(run.id, { config: { ...run.config, steps: config.steps }, stepsPlanned: config.steps });
  }
  const busy = store.listJobs({ runId: run.id, status: ['queued', 'running'] }).filter((j) => j.status === 'queued' || (j.pid !== null && isProcessAlive(j.pid)));
  if (busy.length) {
    const j = busy[0]!;
    throw new LabApiError(
      'CONFLICT',
      j.status === 'queued'
        ? `run ${run.id} already has queued job ${j.id}; let the queue run it or cancel it (xlab jobs cancel ${j.id})`
        : `run ${run.id} is being trained by process ${j.pid} (job ${j.id}); cancel it first (xlab jobs cancel ${j.id})`,
    );
  }
  return { run, folder, config };
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('train ADM, ADM-IP or a control on a dataset; Ctrl-C checkpoints and stops');
  addTrainFlags(cmd)
    .option('--out <dir>', 'run folder (default: <data dir>/runs/<run id>)')
    .option('--resume <dir|run-id>', 'continue a run (its folder or its id) from its latest checkpoint')
    .option('--queue', 'record the run and queue it for the job supervisor (xlab serve, the app, xlab jobs run) instead of training here')
    .option('--name <name>', 'run name in the history')
    .option('--experiment <id>', 'file the run under this experiment', intArg('--experiment'))
    .option('--json', 'print a JSON summary on stdout')
    .option('--engine <auto|onnx|tfjs>', "what computes forward and backward: ONNX Runtime's CPU kernels, or the tfjs backend; 'auto': ONNX Runtime where it covers the run (not learned sigma, not adm-gp, not with tfjs-node); an execution choice: the run is the same up to float rounding", engineArg, 'auto')
    .option('--workers <n|auto>', "threads: ONNX Runtime's, or data-parallel worker threads on the wasm backend (an execution choice like --engine); 'auto': every core for ONNX Runtime; for wasm workers one per core while each gets 1+ GFLOP of forward work per step (bench-s-mnist16: batch 17+)", workersArg, 'auto');
  addDataDirOption(cmd).action(async (o) => {
    const lab = openLab(o);
    try {
      await trainAction(lab, o);
    } finally {
      lab.close();
    }
  });
  return cmd;
}

async function trainAction(lab: Lab, o: Record<string, any>): Promise<void> {
  const { store, dataDir, api } = lab;
  let run: RunRow;
  let config: TrainConfig;
  let outDir: string;
  if (o.resume) {
    ({ run, config, folder: outDir } = resumeTarget(lab, o.resume, o.steps, o));
    resolveWorkerCount(o.workers, config); // a bad --workers fails here, not as a failed job
    if (o.queue) {
      // An interrupted, failed or cancelled job is resumed; a finished run being extended gets a new job.
      const last = store.listJobs({ runId: run.id }).at(-1);
      const job = last && last.status !== 'done' ? await api.resumeJob(last.id) : await queueNewJob(lab, run);
      report(o, { runId: run.id, jobId: job.id, status: 'queued', outDir }, `queued job ${job.id} to continue run ${run.id}`);
      return;
    }
  } else {
    config = configFromFlags(o);
    resolveWorkerCount(o.workers, config); // a bad --workers fails here, before the run is recorded
    if (o.out && listCheckpoints(runPaths(o.out).checkpoints).length > 0) {
      throw new Error(`${o.out} already holds checkpoints: resume it with \`xlab train --resume ${o.out}\` or choose another --out`);
    }
    if (o.queue) {
      const opts = {
        ...(o.name ? { name: o.name as string } : {}),
        ...(o.experiment !== undefined ? { experimentId: o.experiment as number } : {}),
      };
      if (!o.out) {
        const started = await api.startTraining(config, opts);
        report(o, { runId: started.run.id, jobId: started.job.id, status: 'queued' }, queuedMessage(started.job.id, started.run.id));
        return;
      }
      run = createTrainingRun(store, config, { ...opts, outDir: o.out });
      const job = await queueNewJob(lab, run);
      report(o, { runId: run.id, jobId: job.id, status: 'queued', outDir: path.resolve(o.out) }, queuedMessage(job.id, run.id));
      return;
    }
    run = createTrainingRun(store, config, {
      ...(o.name ? { name: o.name } : {}),
      ...(o.experiment !== undefined ? { experimentId: o.experiment } : {}),
      ...(o.out ? { outDir: o.out } : {}),
    });
    outDir = runFolderOf(dataDir, run);
  }

  const backend = await initBackend(config.backend, 'train');
  const job = claimForegroundJob(store, run.id, 'train');
  const bar = progressBar(config.steps, config.objective.padEnd(6), 'loss {loss} | {rate} it/s', o.json);
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    bar.log('stopping: writing a checkpoint (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  bar.log(`backend ${backend.name} (${backend.provider}); run ${run.id}, folder ${outDir}`);
  let outcome;
  try {
    outcome = await runTraining({
      store,
      dataDir,
      runId: run.id,
      jobId: job.id,
      config,
      outDir,
      resume: Boolean(o.resume),
      backend: backend.name,
      workers: o.workers,
      engine: o.engine,
      log: new LogTail(),
      stopRequested: () => (stopRequested ? 'interrupt' : null),
      onStep: (r) => bar.update(r.step, { loss: r.loss.toFixed(4), rate: r.itPerSec.toFixed(2) }),
      onLog: (l) => bar.log(l),
    });
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (outcome.status === 'failed') throw new Error(outcome.error);
  const result = outcome.result;
  const summary = { runId: run.id, jobId: job.id, outDir, ...result, backend: backend.name };
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else
    process.stderr.write(
      result.stopped
        ? `stopped at step ${result.stepsDone}; resume with: xlab train --resume ${run.id}${o.dataDir ? ` --data-dir ${o.dataDir}` : ''}\n`
        : `done: ${result.stepsDone} steps, run ${run.id}, last checkpoint ${result.lastCheckpoint}\n`,
    );
  if (result.stopped) process.exitCode = 130;
}

function engineArg(v: string): EngineChoice {
  if (v === 'auto' || v === 'onnx' || v === 'tfjs') return v;
  throw new Error(`--engine: expected auto, onnx or tfjs, got '${v}'`);
}

function workersArg(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--workers: expected a positive integer or 'auto', got '${v}'`);
  return n;
}

async function queueNewJob(lab: Lab, run: RunRow) {
  const job = lab.store.transaction(() => {
    if (run.status !== 'queued') lab.store.updateRun(run.id, { status: 'queued' });
    return lab.store.enqueueJob({ runId: run.id, kind: 'train', args: {} });
  });
  return (await lab.api.listJobs({ runId: run.id })).find((j) => j.id === job.id)!;
}

function queuedMessage(jobId: number, runId: string): string {
  return `queued job ${jobId} (run ${runId}); it runs when \`xlab serve\`, the app or \`xlab jobs run\` is running`;
}

function report(o: Record<string, unknown>, json: Record<string, unknown>, text: string): void {
  if (o['json']) process.stdout.write(JSON.stringify(json) + '\n');
  else process.stdout.write(text + '\n');
}

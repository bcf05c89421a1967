/**
 * `xlab sample`: draw a paired sample set (PNG grid + .npz) from a checkpoint, recorded in the
 * history as a sampling run (a child of the training run, when that run is in the history) with
 * its sample set.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { LabApiError } from '../../shared/api';
import { initBackend } from '../nn/backend';
import { resolveCheckpoint, type SamplerChoice } from '../generation/generate';
import { LogTail } from '../jobs/protocol';
import { claimForegroundJob, createSamplingRun, findRunByFolder, runFolderOf, type SamplingArgs } from '../jobs/run-records';
import { runSampling } from '../jobs/sampling-run';
import { RUN_ID_PATTERN } from '../store/ids';
import type { RunRow } from '../store/store';
import { addDataDirOption, openLab } from './history';
import { inForeground } from './progress';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got '${v}'`);
  return n;
}

function pair(v: string): [number, number] {
  const parts = v.split(',').map(Number);
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x))) throw new Error(`expected two numbers 'a,b', got '${v}'`);
  return [parts[0]!, parts[1]!];
}

export function samplerFromFlags(o: Record<string, unknown>): SamplerChoice {
  const s: SamplerChoice = { kind: (o['sampler'] as 'ddpm' | 'ddim') ?? 'ddpm', steps: String(o['steps'] ?? '100') };
  if (s.steps === 'all' || s.steps === '0') s.steps = '';
  if (o['variance'] !== undefined) s.variance = o['variance'] as SamplerChoice['variance'];
  if (o['eta'] !== undefined) s.eta = o['eta'] as number;
  if (o['epsScale'] !== undefined) s.epsScale = { kind: 'constant', lambda: o['epsScale'] as number };
  if (o['epsScaleLinear'] !== undefined) {
    const [start, end] = o['epsScaleLinear'] as [number, number];
    s.epsScale = { kind: 'linear', start, end };
  }
  if (o['timeShift'] !== undefined) {
    const [cutoff, window] = o['timeShift'] as [number, number];
    s.timeShift = { cutoff, window };
  }
  if (o['clip'] === false) s.clipX0 = false;
  return s;
}

export function addSamplerFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--sampler <kind>', 'sampler').choices(['ddpm', 'ddim']).default('ddpm'))
    .option('--steps <spec>', "sampling steps T': '100', '10,15,20' (sections), 'ddim50', or 'all'", '100')
    .addOption(new Option('--variance <kind>', 'DDPM variance').choices(['fixed-small', 'fixed-large', 'learned']))
    .option('--eta <eta>', 'DDIM eta (0 = deterministic)', num)
    .option('--eps-scale <lambda>', 'epsilon scaling (ADM-ES): eps / lambda; 1 = off; e.g. 1.017 for CIFAR-10 at 100 steps', num)
    .option('--eps-scale-linear <start,end>', 'epsilon scaling linear over the steps, start at the last step and end at the first', pair)
    .option('--time-shift <cutoff,window>', 'time-shift sampler: above original timestep cutoff, search +-window', pair)
    .option('--no-clip', 'do not clip x0-hat to [-1, 1]');
}

export function sampleCommand(): Command {
  const cmd = new Command('sample').description('sample a PNG grid and an .npz (arr_0, uint8 NHWC) from a checkpoint, from paired noise');
  addSamplerFlags(cmd)
    .requiredOption('--checkpoint <path|run-id>', 'checkpoint file, a run folder, or a run id (its latest checkpoint)')
    .option('--n <n>', 'number of samples', num, 64)
    .option('--seed <n>', 'sampling seed: sample i of any model with this seed gets the same noise', num, 0)
    .option('--batch <n>', 'samples per forward pass', num, 64)
    .addOption(new Option('--weights <which>', 'EMA (default, as the paper evaluates) or raw weights').choices(['ema', 'raw']).default('ema'))
    .option('--out <dir>', "folder for the artifacts (default: the run's samples/ folder)")
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .addOption(new Option('--engine <engine>', 'network inference: onnx (ONNX Runtime on a cached export, default when available) or tfjs (the backend)').choices(['onnx', 'tfjs']))
    .option('--name <name>', 'name of the sampling run in the history')
    .option('--json', 'print a JSON summary on stdout');
  addDataDirOption(cmd).action(async (o) => {
    const lab = openLab(o);
    try {
      const { store, dataDir } = lab;
      // The checkpoint file, and the training run it belongs to when the history knows it.
      let file: string;
      let source: RunRow | undefined;
      if (fs.existsSync(o.checkpoint)) {
        file = resolveCheckpoint(o.checkpoint);
        const dir = path.dirname(file);
        source = findRunByFolder(store, dataDir, path.basename(dir) === 'checkpoints' ? path.dirname(dir) : dir);
      } else if (RUN_ID_PATTERN.test(o.checkpoint)) {
        source = store.getRun(o.checkpoint);
        if (!source) throw new LabApiError('NOT_FOUND', `no checkpoint file, run folder or run ${o.checkpoint}`);
        file = resolveCheckpoint(runFolderOf(dataDir, source));
      } else {
        throw new Error(`no such checkpoint or run folder: ${o.checkpoint}`);
      }
      await initBackend(o.backend, 'infer');
      const args: SamplingArgs = {
        sourceRunId: source?.id ?? null,
        checkpointPath: path.resolve(file),
        sampler: samplerFromFlags(o),
        n: o.n,
        seed: o.seed,
        batchSize: o.batch,
        weights: o.weights,
        ...(o.out ? { outDir: path.resolve(o.out) } : {}),
        ...(o.engine ? { engine: o.engine } : {}),
      };
      const run = createSamplingRun(store, args, source ?? null, o.name ? { name: o.name } : {});
      const job = claimForegroundJob(store, run.id, 'sample', { ...args });
      const outcome = await inForeground('sample', Boolean(o.json), (c) =>
        runSampling({
          store,
          dataDir,
          runId: run.id,
          jobId: job.id,
          args,
          log: new LogTail(),
          stopRequested: c.stopRequested,
          onStep: c.onStep,
        }),
      );
      if (outcome.status === 'failed') throw new Error(outcome.error);
      if (outcome.status === 'stopped') {
        process.stderr.write('stopped; no sample set was written\n');
        process.exitCode = 130;
        return;
      }
      const set = outcome.set;
      const summary = {
        runId: run.id,
        sourceRunId: source?.id ?? null,
        sampleSetId: outcome.record?.id ?? null,
        checkpoint: set.checkpointFile,
        step: set.checkpointStep,
        objective: set.objective,
        grid: set.gridPath,
        npz: set.npzPath,
        meta: set.metaPath,
        shape: set.shape,
      };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else process.stderr.write(`wrote ${set.gridPath}\n      ${set.npzPath}\n(run ${run.id})\n`);
    } finally {
      lab.close();
    }
  });
  return cmd;
}

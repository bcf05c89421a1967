/**
 * Sampling with the run history attached: generate.ts draws the sample set; this records the
 * sampling run (a child of the training run it sampled) and the sample set, whose files are
 * registered as artifacts of the training run when they lie in the data dir, so the run's page
 * lists every set drawn from its checkpoints. Used by the job process and by `xlab sample`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunStatus } from '../../shared/api';
import { generateSampleSet, resolveCheckpoint, type SampleSet } from '../generation/generate';
import { resolveInDataDir } from '../store/artifacts';
import type { SampleSetRow, Store } from '../store/store';
import { checkpointFileName } from '../training/checkpoint';
import type { JobProgress, LogTail } from './protocol';
import { type SamplingArgs, recordJobFailure, relativeIfInside, runFolderOf } from './run-records';
import { JobStopped, settleStopped, stepWatch } from './step-watch';
import type { TrainingStop } from './training-run';

export type { SamplingArgs };

export interface SamplingRunOptions {
  store: Store;
  dataDir: string;
  /** The sampling run (kind 'sample'). */
  runId: string;
  jobId: number;
  args: SamplingArgs;
  log: LogTail;
  stopRequested?: () => TrainingStop | null;
  onProgress?: (p: JobProgress) => void;
  onRunUpdated?: (runId: string, status: RunStatus, stepsDone: number) => void;
  onStep?: (done: number, total: number) => void;
  onLog?: (line: string) => void;
  heartbeatMs?: number;
  progressMs?: number;
}

export type SamplingOutcome =
  | { status: 'done'; set: SampleSet; record: SampleSetRow | null }
  | { status: 'stopped'; reason: TrainingStop | 'job-gone' }
  | { status: 'failed'; error: string };

/** The checkpoint file a sampling request names. */
export function samplingCheckpointFile(store: Store, dataDir: string, args: SamplingArgs): string {
  if (args.checkpointPath) return resolveCheckpoint(args.checkpointPath);
  if (!args.sourceRunId) throw new Error('a sampling job needs a source run or a checkpoint path');
  const source = store.getRun(args.sourceRunId);
  if (!source) throw new Error(`run ${args.sourceRunId} no longer exists`);
  const folder = runFolderOf(dataDir, source);
  if (args.checkpointStep == null) return resolveCheckpoint(folder);
  const row = store.listCheckpoints(source.id).find((c) => c.step === args.checkpointStep);
  const file = row ? resolveInDataDir(dataDir, row.path) : path.join(folder, 'checkpoints', checkpointFileName(args.checkpointStep));
  if (!fs.existsSync(file)) throw new Error(`run ${source.id} has no checkpoint at step ${args.checkpointStep}`);
  return file;
}

export async function runSampling(o: SamplingRunOptions): Promise<SamplingOutcome> {
  const { store, dataDir, runId, jobId, args, log } = o;
  const heartbeatMs = o.heartbeatMs ?? 1000;
  const progressMs = o.progressMs ?? 250;
  const say = (line: string) => {
    log.add(line);
    o.onLog?.(line);
  };
  const fail = (err: unknown): SamplingOutcome => {
    const error = recordJobFailure(store, jobId, runId, log, err, o.onLog);
    const run = store.getRun(runId);
    if (run) o.onRunUpdated?.(runId, run.status, run.stepsDone);
    return { status: 'failed', error };
  };

  if (!store.heartbeat(jobId, process.pid)) return { status: 'stopped', reason: 'job-gone' };
  let checkpoint: string;
  try {
    checkpoint = samplingCheckpointFile(store, dataDir, args);
    const run = store.updateRun(runId, { status: 'running' });
    o.onRunUpdated?.(runId, run.status, run.stepsDone);
    say(`sampling ${args.n} images from ${path.basename(checkpoint)} (${args.sampler.kind}, steps '${args.sampler.steps || 'all'}', seed ${args.seed})`);
  } catch (err) {
    return fail(err);
  }

  let set: SampleSet;
  try {
    set = await generateSampleSet({
      checkpoint,
      weights: args.weights,
      sampler: args.sampler,
      n: args.n,
      seed: args.seed,
      batchSize: args.batchSize,
      ...(args.outDir ? { outDir: args.outDir } : {}),
      ...(args.engine ? { engine: args.engine } : {}),
      onStep: stepWatch({ store, runId, jobId, kind: 'sample', stopRequested: o.stopRequested, onProgress: o.onProgress, onStep: o.onStep, heartbeatMs, progressMs }),
    });
  } catch (err) {
    if (err instanceof JobStopped) {
      say(`stopped (${err.reason}); no sample set was written`);
      settleStopped(store, jobId, runId, o.onRunUpdated);
      return { status: 'stopped', reason: err.reason };
    }
    return fail(err);
  }

  try {
    const owner = args.sourceRunId && store.getRun(args.sourceRunId) ? args.sourceRunId : runId;
    const npz = relativeIfInside(dataDir, set.npzPath);
    const grid = relativeIfInside(dataDir, set.gridPath);
    const s = args.sampler;
    const { record, run } = store.transaction(() => {
      const record = store.addSampleSet({
        runId: owner,
        checkpointStep: set.checkpointStep,
        sampler: { name: s.kind, ...s },
        stepsSpec: s.steps,
        epsScale: s.epsScale?.kind === 'constant' ? s.epsScale.lambda : null,
        seed: args.seed,
        count: args.n,
        npzPath: npz,
        gridPath: grid,
      });
      const finished = store.finishJob(jobId, log.text());
      const run = store.getRun(runId)!;
      const total = run.stepsPlanned ?? 0;
      return {
        record,
        run: store.updateRun(runId, finished ? { status: 'done', stepsDone: total } : { stepsDone: total }),
      };
    });
    say(`wrote ${set.gridPath}`);
    o.onProgress?.({
      jobId,
      runId,
      kind: 'sample',
      step: run.stepsDone,
      stepsPlanned: run.stepsPlanned ?? run.stepsDone,
      loss: null,
      itPerSec: null,
      etaSeconds: 0,
      checkpointStep: set.checkpointStep,
      gridArtifactId: record.gridArtifactId,
    });
    o.onRunUpdated?.(runId, run.status, run.stepsDone);
    return { status: 'done', set, record };
  } catch (err) {
    return fail(err);
  }
}

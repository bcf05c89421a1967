/**
 * Training with the run history attached: trainer.ts does the work, and its hooks record metrics,
 * checkpoints and progress in the store as they happen. Used by the job process (queued jobs) and
 * by the foreground `xlab train`, so a run looks the same in the history however it was started.
 *
 * Order of writes per logged step: metrics (with steps_done) in one transaction, then the
 * checkpoint file (atomic), then its row. A kill at any point leaves the database consistent, and
 * at most the metric rows after the newest checkpoint file are ahead of it; the next start drops
 * exactly those (rewindToResumePoint) before training continues from that file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../../shared/config';
import type { RunStatus } from '../../shared/api';
import type { Store } from '../store/store';
import { runPaths, train, type StepReport, type TrainResult } from '../training/trainer';
import type { EngineChoice } from '../training/onnx-training';
import type { JobProgress, LogTail, StopReason } from './protocol';
import { scheduledEvaluation } from './evaluation-run';
import { machineInfo, markOwnJobInterrupted, recordJobFailure, relativeIfInside, rewindToResumePoint } from './run-records';

/** Why training stopped early: a user (cancel, pause), the app (shutdown), Ctrl-C, or a lost supervisor. */
export type TrainingStop = StopReason | 'interrupt' | 'orphaned';

export interface TrainingRunOptions {
  store: Store;
  dataDir: string;
  runId: string;
  jobId: number;
  config: TrainConfig;
  outDir: string;
  /** Continue from checkpoints already in outDir (a job always may; a new foreground run may not). */
  resume: boolean;
  /** The backend actually in use, for the run record. */
  backend: string;
  log: LogTail;
  /** Polled between steps, besides the store heartbeat. */
  stopRequested?: () => TrainingStop | null;
  onProgress?: (p: JobProgress) => void;
  onMetrics?: (m: { runId: string; names: string[]; fromStep: number; toStep: number }) => void;
  onRunUpdated?: (runId: string, status: RunStatus, stepsDone: number) => void;
  onStep?: (r: StepReport) => void;
  onLog?: (line: string) => void;
  /** Data-parallel worker threads, or ONNX Runtime's threads (trainer.ts TrainOptions.workers); default 1, this thread. */
  workers?: number | 'auto';
  /** trainer.ts TrainOptions.engine; default 'tfjs'. */
  engine?: EngineChoice;
  /** Minimum interval between heartbeats (each is a write transaction). Default 1000 ms. */
  heartbeatMs?: number;
  /** Minimum interval between progress events. Default 250 ms. */
  progressMs?: number;
}

export type TrainingOutcome =
  | { status: 'done'; result: TrainResult }
  | { status: 'stopped'; result: TrainResult; reason: TrainingStop | 'job-gone' }
  | { status: 'failed'; error: string };

/** Temp files of checkpoints whose writer was killed mid-write; nothing else writes in this folder. */
function removeTornCheckpointFiles(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    if (/^\.ckpt-\d+\.xlab\..*\.tmp$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
}

export async function runTraining(o: TrainingRunOptions): Promise<TrainingOutcome> {
  const { store, dataDir, runId, jobId, config, outDir, log } = o;
  const heartbeatMs = o.heartbeatMs ?? 1000;
  const progressMs = o.progressMs ?? 250;
  const say = (line: string) => {
    log.add(line);
    o.onLog?.(line);
  };

  let run = store.getRun(runId);
  if (!run) return { status: 'failed', error: `run ${runId} no longer exists` };
  if (!store.heartbeat(jobId, process.pid)) {
    return { status: 'stopped', result: { stepsDone: run.stepsDone, stopped: true, lastCheckpoint: null, finalLoss: NaN }, reason: 'job-gone' };
  }

  let checkpointStep: number | null = null;
  try {
    removeTornCheckpointFiles(runPaths(outDir).checkpoints);
    const point = o.resume ? rewindToResumePoint(store, dataDir, run) : { step: 0, file: null };
    checkpointStep = point.file ? point.step : null;
    run = store.updateRun(runId, {
      status: 'running',
      stepsDone: point.step,
      stepsPlanned: config.steps,
      backend: o.backend,
      machine: machineInfo(),
    });
    o.onRunUpdated?.(runId, run.status, run.stepsDone);
  } catch (err) {
    return recordFailure(o, err);
  }

  const gridArtifactId = store.listSampleSets(runId).findLast((s) => s.gridArtifactId)?.gridArtifactId ?? null;
  let lastBeat = Date.now();
  let stop: TrainingStop | 'job-gone' | null = null;
  let lastProgressAt = 0;
  let lastReport: StepReport | null = null;

  const progress = (force: boolean) => {
    if (!o.onProgress || !lastReport) return;
    const now = Date.now();
    if (!force && now - lastProgressAt < progressMs) return;
    lastProgressAt = now;
    const r = lastReport;
    const remaining = Math.max(0, config.steps - r.step);
    o.onProgress({
      jobId,
      runId,
      kind: 'train',
      step: r.step,
      stepsPlanned: config.steps,
      loss: Number.isFinite(r.loss) ? r.loss : null,
      itPerSec: Number.isFinite(r.itPerSec) && r.itPerSec > 0 ? r.itPerSec : null,
      etaSeconds: r.itPerSec > 0 ? remaining / r.itPerSec : null,
      checkpointStep,
      gridArtifactId,
    });
  };

  // TrainConfig.evaluation: scores at checkpoint boundaries, in this process (evaluation-run.ts).
  const evaluation = scheduledEvaluation({ store, dataDir, runId, jobId, config, say, stopRequested: o.stopRequested, heartbeatMs });
  let result: TrainResult;
  try {
    result = await train(config, outDir, {
      resume: o.resume,
      workers: o.workers,
      engine: o.engine,
      hooks: {
        ...evaluation.hooks,
        onLog: say,
        // The history says what computed the run: ONNX Runtime (with tfjs for the update) or tfjs alone.
        onSession: ({ engine, workers }) => {
          if (engine === 'onnx') store.updateRun(runId, { backend: `onnxruntime (${workers} thread${workers > 1 ? 's' : ''}) + ${o.backend}` });
        },
        onStep: (r) => {
          lastReport = r;
          o.onStep?.(r);
          progress(r.step === config.steps);
        },
        onMetrics: (rows) => {
          if (rows.length === 0) return;
          const steps = rows.map((r) => r.step);
          const toStep = Math.max(...steps);
          store.transaction(() => {
            store.appendMetrics(runId, rows);
            store.updateRun(runId, { stepsDone: toStep });
          });
          o.onMetrics?.({ runId, names: [...new Set(rows.map((r) => r.name))], fromStep: Math.min(...steps), toStep });
        },
        onCheckpoint: (step, file) => {
          const rel = relativeIfInside(dataDir, file);
          store.transaction(() => {
            if (rel) {
              store.addCheckpoint({ runId, step, path: rel, isEmaIncluded: true, bytes: fs.statSync(file).size });
            }
            store.updateRun(runId, { stepsDone: step });
          });
          checkpointStep = step;
          o.onRunUpdated?.(runId, 'running', step);
          progress(true);
        },
        shouldStop: () => {
          if (stop) return true;
          const requested = o.stopRequested?.() ?? null;
          if (requested) {
            stop = requested;
            return true;
          }
          const now = Date.now();
          if (now - lastBeat >= heartbeatMs) {
            lastBeat = now;
            // False once the job is no longer ours: cancelled, paused, or marked interrupted.
            if (!store.heartbeat(jobId, process.pid)) stop = 'job-gone';
          }
          return stop !== null;
        },
      },
    });
  } catch (err) {
    return recordFailure(o, err);
  } finally {
    evaluation.dispose();
  }

  const tail = () => log.text();
  try {
    if (!result.stopped) {
      say(`done: ${result.stepsDone} steps`);
      const finalRun = store.transaction(() => {
        const finished = store.finishJob(jobId, tail());
        return store.updateRun(runId, finished ? { status: 'done', stepsDone: result.stepsDone } : { stepsDone: result.stepsDone });
      });
      o.onRunUpdated?.(runId, finalRun.status, finalRun.stepsDone);
      return { status: 'done', result };
    }
    const reason = stop ?? 'job-gone';
    say(`stopped at step ${result.stepsDone} (${reason}); last checkpoint ${result.lastCheckpoint ? path.basename(result.lastCheckpoint) : 'none'}`);
    store.updateRun(runId, { stepsDone: result.stepsDone });
    // A user's cancel or pause already settled the job and run statuses; anything else leaves
    // this job running in the store, and it is resumable, so say so now rather than at the next sweep.
    if (store.getJob(jobId)?.status === 'running') markOwnJobInterrupted(store);
    const after = store.getRun(runId);
    if (after) o.onRunUpdated?.(runId, after.status, after.stepsDone);
    return { status: 'stopped', result, reason };
  } catch (err) {
    return recordFailure(o, err);
  }
}

function recordFailure(o: TrainingRunOptions, err: unknown): TrainingOutcome {
  const error = recordJobFailure(o.store, o.jobId, o.runId, o.log, err, o.onLog);
  const run = o.store.getRun(o.runId);
  if (run) o.onRunUpdated?.(o.runId, run.status, run.stepsDone);
  return { status: 'failed', error };
}

/**
 * What a job does between the steps of its work (sampler steps of a sampling or analysis job):
 * record the planned total once, stop when asked or when the job row is no longer its own (the
 * heartbeat fails), and report progress at most every progressMs. One place for what the sampling
 * and analysis jobs used to write out each.
 */
import type { Store } from '../store/store';
import type { JobProgress } from './protocol';
import { markOwnJobInterrupted } from './run-records';
import type { TrainingStop } from './training-run';
import type { RunStatus } from '../../shared/api';

/** Thrown from a step callback to unwind the work; the job then settles its records (settleStopped). */
export class JobStopped extends Error {
  constructor(readonly reason: TrainingStop | 'job-gone') {
    super(`job stopped (${reason})`);
  }
}

export interface StepWatchOptions {
  store: Store;
  runId: string;
  jobId: number;
  kind: JobProgress['kind'];
  stopRequested?: () => TrainingStop | null;
  onProgress?: (p: JobProgress) => void;
  onStep?: (done: number, total: number) => void;
  heartbeatMs: number;
  progressMs: number;
}

/** The step callback: throws JobStopped when the job must stop. */
export function stepWatch(o: StepWatchOptions): (done: number, total: number) => void {
  const { store, runId, jobId } = o;
  let lastBeat = Date.now();
  let lastProgressAt = 0;
  let plannedRecorded = false;
  const t0 = Date.now();
  return (done, total) => {
    o.onStep?.(done, total);
    if (!plannedRecorded) {
      plannedRecorded = true;
      store.updateRun(runId, { stepsPlanned: total });
    }
    const requested = o.stopRequested?.() ?? null;
    if (requested) throw new JobStopped(requested);
    const now = Date.now();
    if (now - lastBeat >= o.heartbeatMs) {
      lastBeat = now;
      if (!store.heartbeat(jobId, process.pid)) throw new JobStopped('job-gone');
    }
    if (o.onProgress && (now - lastProgressAt >= o.progressMs || done === total)) {
      lastProgressAt = now;
      const rate = done / Math.max(1e-3, (now - t0) / 1000);
      o.onProgress({
        jobId,
        runId,
        kind: o.kind,
        step: done,
        stepsPlanned: total,
        loss: null,
        itPerSec: rate,
        etaSeconds: (total - done) / rate,
        checkpointStep: null,
        gridArtifactId: null,
      });
    }
  };
}

/** After a JobStopped: the job row becomes interrupted (if still ours) and the run's listeners hear of it. */
export function settleStopped(store: Store, jobId: number, runId: string, onRunUpdated?: (runId: string, status: RunStatus, stepsDone: number) => void): void {
  try {
    if (store.getJob(jobId)?.status === 'running') markOwnJobInterrupted(store);
    const run = store.getRun(runId);
    if (run) onRunUpdated?.(runId, run.status, run.stepsDone);
  } catch {
    // the stop is what matters; the next sweep settles the record
  }
}

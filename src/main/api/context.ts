/**
 * What the LabApi's method groups share: the store, the data dir, this process's supervisor (if
 * any), and the lookups and announcements every command needs. createLabApi builds one and hands
 * it to each group (evaluation-api.ts, analysis-api.ts), so the groups live in their own files.
 */
import type { JobInfo, LabEvent, RunInfo, SampleSetInfo } from '../../shared/api';
import type { JobRow, RunRow, SampleSetRow, Store } from '../store/store';
import type { Supervisor } from '../jobs/supervisor';

export interface ApiContext {
  store: Store;
  dataDir: string;
  supervisor: Supervisor | null;
  /** NOT_FOUND unless the run exists. */
  requireRun(runId: string): RunRow;
  requireJob(jobId: number): JobRow;
  jobInfo(job: JobRow): JobInfo;
  /** Emits job-status and returns the job as the API shows it. */
  announceJob(job: JobRow): JobInfo;
  /** Emits run-updated for the run (or its deletion). */
  announceRun(runId: string): void;
  emit(event: LabEvent): void;
  toRunInfo(run: RunRow): RunInfo;
  toSampleSetInfo(set: SampleSetRow): SampleSetInfo;
}

/**
 * Types, enums and write-side validation for the run-history store. No SQL lives here: rows are
 * described as the camelCase objects the Store returns, and the zod schemas check what callers hand
 * us before it reaches a transaction (a bad value should fail loudly at the call site, not as an
 * opaque constraint error, and never half way through a batch).
 */
import { z } from 'zod';

import {
  ANALYSIS_KINDS,
  JOB_STATUSES,
  RUN_KINDS,
  RUN_ORDER_FIELDS,
  RUN_STATUSES,
  type AnalysisInfo,
  type AnalysisKind,
  type AnalysisResult,
  type CheckpointInfo,
  type EvaluationInfo,
  type ExperimentInfo,
  type JobInfo,
  type JobStatus,
  type JsonObject,
  type NoteInfo,
  type RunInfo,
  type RunKind,
  type RunStatus,
  type SampleSetInfo,
} from '../../shared/api';

// The enumerations and row shapes are the API's (src/shared/api.ts); the store's rows add only the
// file paths that never cross the API boundary.
export { JOB_STATUSES, RUN_KINDS, RUN_ORDER_FIELDS, RUN_STATUSES };
export type { JobStatus, JsonObject, RunKind, RunStatus };


export const JOB_KINDS = RUN_KINDS;
export type JobKind = RunKind;


export const ARTIFACT_KINDS = ['checkpoint', 'samples', 'grid', 'log', 'other'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/**
 * Which run status may follow which. The point is to catch supervisor bugs (a run marked done that
 * never ran, a finished run flipped back to paused), while still allowing the real-life paths:
 * retry after failure, resume after interruption or cancel, and extending a finished training run.
 * Setting the same status again is always allowed (idempotent supervisors).
 */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['paused', 'done', 'failed', 'cancelled', 'interrupted'],
  paused: ['queued', 'running', 'cancelled', 'failed'],
  interrupted: ['queued', 'running', 'cancelled', 'failed'],
  failed: ['queued', 'running'],
  cancelled: ['queued', 'running'],
  done: ['queued', 'running'],
};

export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['done', 'failed', 'cancelled'];


export type StoreErrorCode =
  | 'NEWER_SCHEMA' // written by a newer app; we must not touch it
  | 'NOT_A_DATABASE' // garbage, truncated or corrupt file
  | 'FOREIGN_DATABASE' // a valid SQLite file that belongs to some other program
  | 'OLDER_SCHEMA' // read-only open of a database that still needs migrations
  | 'NOT_WRITABLE' // read-only file system, permissions, or a store opened read-only
  | 'DISK_FULL'
  | 'IO'
  | 'BUSY' // only after busy_timeout ran out: another process held the write lock for that long
  | 'NOT_FOUND'
  | 'INVALID'
  | 'CONFLICT'
  | 'CLOSED';

/** Errors the store raises on purpose; `code` lets the CLI and HTTP layer map them to exits/statuses. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Rows (what the Store returns)

export type ExperimentRow = ExperimentInfo;

export interface RunRow extends RunInfo {
  /** Relative to the data dir, forward slashes: `runs/<id>`. */
  dir: string;
}

export interface MetricSeries {
  step: number[];
  /** NaN where the run recorded a non-finite loss (SQLite cannot store NaN, it is kept as NULL). */
  value: number[];
  wallTime: number[];
  /** Points in range before downsampling to maxPoints. */
  total: number;
}

export interface CheckpointRow extends CheckpointInfo {
  /** Relative to the data dir. */
  path: string;
}

export interface SampleSetRow extends SampleSetInfo {
  /** Relative to the data dir. */
  npzPath: string | null;
  gridPath: string | null;
}

export type EvaluationRow = EvaluationInfo;

export type NoteRow = NoteInfo;

/** The API's job shape; in the queue itself a job is never 'paused' (see JobStatusView). */
export interface JobRow extends Omit<JobInfo, 'status'> {
  status: JobStatus;
}

export interface ArtifactRow {
  id: string;
  runId: string;
  relPath: string;
  kind: ArtifactKind;
  bytes: number | null;
  createdAt: number;
}

// ---------------------------------------------------------------------------------------------
// Inputs (validated with zod before any SQL runs)

const jsonObject = z.record(z.string(), z.unknown());
const timestamp = z.number().finite().nonnegative();
const nonEmpty = z.string().trim().min(1);
const count = z.number().int().nonnegative();

export const NewExperimentSchema = z.object({
  name: nonEmpty.max(200),
  description: z.string().nullish(),
});
export type NewExperiment = z.input<typeof NewExperimentSchema>;

export const NewRunSchema = z.object({
  /** Normally generated; accepted so imports can keep their ids. */
  id: z.string().regex(/^[0-9a-z][0-9a-z_-]{0,63}$/).optional(),
  experimentId: z.number().int().nullish(),
  name: nonEmpty.max(500),
  kind: z.enum(RUN_KINDS),
  objective: z.string().nullish(),
  gamma: z.number().finite().nullish(),
  dataset: z.string().nullish(),
  preset: z.string().nullish(),
  config: jsonObject,
  seed: z.number().int().safe(),
  status: z.enum(RUN_STATUSES).optional(),
  stepsDone: count.optional(),
  stepsPlanned: count.nullish(),
  createdAt: timestamp.optional(),
  backend: z.string().nullish(),
  machine: jsonObject.nullish(),
  appVersion: z.string().nullish(),
  gitCommit: z.string().nullish(),
  parentRunId: z.string().nullish(),
});
export type NewRun = z.input<typeof NewRunSchema>;

export const RunPatchSchema = z
  .object({
    status: z.enum(RUN_STATUSES),
    stepsDone: count,
    stepsPlanned: count.nullable(),
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    error: z.string().nullable(),
    backend: z.string().nullable(),
    machine: jsonObject.nullable(),
    name: nonEmpty.max(500),
    experimentId: z.number().int().nullable(),
    config: jsonObject,
  })
  .partial();
export type RunPatch = z.input<typeof RunPatchSchema>;

export type RunOrderField = (typeof RUN_ORDER_FIELDS)[number];

export interface ListRunsQuery {
  status?: RunStatus | readonly RunStatus[];
  experimentId?: number | null;
  kind?: RunKind;
  /** Exact preset name. */
  preset?: string;
  /** Exact objective ('adm' does not match 'adm-ip'). */
  objective?: string;
  tag?: string;
  /** Case-insensitive substring of id, name, dataset, preset, objective or any tag. */
  search?: string;
  limit?: number;
  offset?: number;
  orderBy?: RunOrderField;
  /** Defaults to 'desc' for createdAt/finishedAt/stepsDone, 'asc' otherwise. */
  direction?: 'asc' | 'desc';
}

export const MetricPointSchema = z.object({
  step: z.number().int().nonnegative(),
  name: nonEmpty.max(200),
  /** Non-finite values are legal: a diverging loss is a result worth keeping. */
  value: z.number(),
  wallTime: timestamp.optional(),
});
export type MetricPoint = z.input<typeof MetricPointSchema>;

export const NewCheckpointSchema = z.object({
  runId: nonEmpty,
  step: z.number().int().nonnegative(),
  path: nonEmpty,
  isEmaIncluded: z.boolean().default(false),
  bytes: count.nullish(),
  createdAt: timestamp.optional(),
});
export type NewCheckpoint = z.input<typeof NewCheckpointSchema>;

export const SamplerSchema = z.looseObject({ name: nonEmpty });

export const NewSampleSetSchema = z.object({
  runId: nonEmpty,
  checkpointStep: z.number().int().nonnegative().nullish(),
  sampler: SamplerSchema,
  stepsSpec: z.string().nullish(),
  epsScale: z.number().finite().nullish(),
  seed: z.number().int().safe(),
  count: count,
  npzPath: z.string().nullish(),
  gridPath: z.string().nullish(),
  createdAt: timestamp.optional(),
});
export type NewSampleSet = z.input<typeof NewSampleSetSchema>;

export const NewEvaluationSchema = z.object({
  runId: nonEmpty,
  sampleSetId: z.number().int().nullish(),
  metric: nonEmpty.max(100),
  value: z.number().finite(),
  ciLow: z.number().finite().nullish(),
  ciHigh: z.number().finite().nullish(),
  /** Results are comparable only when their keys match (reference stats, feature net, sample count). */
  comparabilityKey: nonEmpty,
  details: jsonObject.nullish(),
  createdAt: timestamp.optional(),
  /** Training iteration of the checkpoint the samples came from. */
  checkpointStep: count.nullish(),
  /** T': the number of steps of the sampling chain. */
  samplingSteps: z.number().int().positive().nullish(),
});
export type NewEvaluation = z.input<typeof NewEvaluationSchema>;

/** One comparability key in use by some runs' scores of one metric. */
export interface EvaluationKeyRow {
  key: string;
  metric: string;
  count: number;
  runIds: string[];
}

export const NewJobSchema = z.object({
  runId: nonEmpty,
  kind: z.enum(JOB_KINDS),
  args: jsonObject.default({}),
  priority: z.number().int().default(0),
});
export type NewJob = z.input<typeof NewJobSchema>;

export interface ListJobsQuery {
  status?: JobStatus | readonly JobStatus[];
  runId?: string;
  limit?: number;
}

export const NewArtifactSchema = z.object({
  runId: nonEmpty,
  relPath: nonEmpty,
  kind: z.enum(ARTIFACT_KINDS),
  bytes: count.nullish(),
});
export type NewArtifact = z.input<typeof NewArtifactSchema>;

/** An exposure-bias analysis of a training run (method.md section 5); result is an AnalysisResult. */
export type AnalysisRow = AnalysisInfo;

export const NewAnalysisSchema = z.object({
  /** The analysed training run. */
  runId: nonEmpty,
  kind: z.enum(ANALYSIS_KINDS),
  checkpointStep: count.nullish(),
  params: jsonObject,
  /** Checked against the shared result types by the analysis job before it gets here. */
  result: z.custom<AnalysisResult>(
    (v) => typeof v === 'object' && v !== null && (ANALYSIS_KINDS as readonly unknown[]).includes((v as { kind?: unknown }).kind),
    { message: `expected an analysis result (kind one of ${ANALYSIS_KINDS.join(', ')})` },
  ),
  createdAt: timestamp.optional(),
});
export type NewAnalysis = z.input<typeof NewAnalysisSchema>;

export interface ListAnalysesQuery {
  runId?: string;
  kind?: AnalysisKind;
}

/** zod's messages are precise but terse; prefix with what was being written. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues
      .map((i) => `${i.path.length ? i.path.join('.') : '(value)'}: ${i.message}`)
      .join('; ');
    throw new StoreError('INVALID', `invalid ${what}: ${issues}`);
  }
  return r.data;
}

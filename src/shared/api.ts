/**
 * LabApi: the one contract between the engine (main process, `xlab serve`) and every client (the
 * Electron renderer over IPC, a browser over HTTP + server-sent events, the CLI in process). It is
 * implemented once, in src/main/api/lab-api.ts; transports only move calls and validate them with
 * the schemas below.
 *
 * What crosses this boundary is plain JSON: no file paths (files are named by opaque artifact ids,
 * fetched through artifactUrl), no NaN (a non-finite metric value is null), no class instances.
 */
import { z } from 'zod';
import { EvaluationPlanSchema, StepsSpecSchema, TrainConfigSchema, type TrainConfigInput } from './config';
import type { ComparabilityKeyParts } from './comparability';
import { LAB_METHOD_PARAMS, type LabMethod } from './lab-methods';
import { ANALYSIS_KINDS, LabApiError, RUN_KINDS, RUN_STATUSES, type AnalysisKind, type RunKind, type RunStatus } from './vocabulary';

export {
  ANALYSIS_KINDS,
  LAB_ERROR_CODES,
  LabApiError,
  RUN_KINDS,
  RUN_STATUSES,
  isLabErrorCode,
  type AnalysisKind,
  type LabErrorCode,
  type RunKind,
  type RunStatus,
} from './vocabulary';

export { LAB_METHOD_PARAMS, LAB_METHODS, isLabMethod, type LabMethod } from './lab-methods';

// ---------------------------------------------------------------------------------------------
// Enumerations (the store uses these too)



export const JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/**
 * The queue has no paused state of its own: a paused job is a cancelled job whose run is paused
 * (it stopped after a checkpoint and waits for resumeJob). Clients see it as 'paused'.
 */
export type JobStatusView = JobStatus | 'paused';

export const RUN_ORDER_FIELDS = ['createdAt', 'name', 'status', 'bestFid', 'finishedAt', 'stepsDone'] as const;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: unknown };

// ---------------------------------------------------------------------------------------------
// What queries return

export interface RunInfo {
  id: string;
  experimentId: number | null;
  name: string;
  kind: RunKind;
  objective: string | null;
  gamma: number | null;
  dataset: string | null;
  preset: string | null;
  /** The full training config (or sampling request) the run was started with. */
  config: JsonObject;
  seed: number;
  status: RunStatus;
  stepsDone: number;
  stepsPlanned: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  backend: string | null;
  machine: JsonObject | null;
  appVersion: string | null;
  gitCommit: string | null;
  error: string | null;
  parentRunId: string | null;
  bestFid: number | null;
  tags: string[];
  noteCount: number;
  /** The newest note's first 200 characters. */
  lastNote: string | null;
}

/** A row of the runs table: everything but the bulky config and machine records. */
export type RunSummary = Omit<RunInfo, 'config' | 'machine'>;

export interface RunPage {
  runs: RunSummary[];
  /** Runs matching the filter, ignoring limit and offset. */
  total: number;
  offset: number;
  limit: number | null;
}

export interface NoteInfo {
  id: number;
  runId: string;
  text: string;
  createdAt: number;
}

export interface JobInfo {
  id: number;
  runId: string;
  kind: RunKind;
  status: JobStatusView;
  args: JsonObject;
  pid: number | null;
  attempts: number;
  priority: number;
  createdAt: number;
  startedAt: number | null;
  heartbeatAt: number | null;
  finishedAt: number | null;
  /** Why it failed (or was interrupted). */
  error: string | null;
  /** The job process's last log lines, kept when it ends. */
  logTail: string | null;
}

export interface RunDetail {
  run: RunInfo;
  notes: NoteInfo[];
  metricNames: string[];
  jobs: JobInfo[];
}

export interface MetricSeriesData {
  runId: string;
  name: string;
  step: number[];
  /** null where the run recorded a non-finite value (a diverged loss). */
  value: (number | null)[];
  /** Seconds since the epoch. */
  wallTime: number[];
  /** Points in the requested range before downsampling to maxPoints. */
  total: number;
}

export interface CheckpointInfo {
  runId: string;
  step: number;
  createdAt: number;
  isEmaIncluded: boolean;
  bytes: number | null;
  artifactId: string | null;
}

export interface SampleSetInfo {
  id: number;
  runId: string;
  checkpointStep: number | null;
  sampler: JsonObject;
  stepsSpec: string | null;
  epsScale: number | null;
  seed: number;
  count: number;
  npzArtifactId: string | null;
  gridArtifactId: string | null;
  createdAt: number;
}

export interface EvaluationInfo {
  id: number;
  runId: string;
  sampleSetId: number | null;
  metric: string;
  value: number;
  ciLow: number | null;
  ciHigh: number | null;
  comparabilityKey: string;
  details: JsonObject | null;
  createdAt: number;
  /** Training iteration of the checkpoint the samples came from (null when unknown). */
  checkpointStep: number | null;
  /** Number of sampling steps T' of the chain (null when unknown). */
  samplingSteps: number | null;
}

/** One comparability key in use, and what it covers. */
export interface EvaluationKeyInfo {
  key: string;
  parts: Partial<ComparabilityKeyParts>;
  metric: string;
  count: number;
  runIds: string[];
}

export interface CurvePoint {
  /** Training iteration or T', depending on the chart. */
  x: number;
  value: number;
  ciLow: number | null;
  ciHigh: number | null;
  evaluationId: number;
}

export interface CurveSeries {
  runId: string;
  points: CurvePoint[];
}

/** Series that may share one chart: same metric, same key once the x-axis field is dropped. */
export interface CurveGroup {
  key: string;
  parts: Partial<ComparabilityKeyParts>;
  series: CurveSeries[];
}

export interface EvaluationCurves {
  metric: string;
  x: 'iteration' | 'samplingSteps';
  /** One group unless allowMixedKeys was asked for; groups are never merged. */
  groups: CurveGroup[];
}

export interface TableCell {
  /** Mean over the variant's seeds (the value itself for one seed). */
  mean: number;
  /** CI: bootstrap interval for one seed, t-interval over seeds for several. */
  ciLow: number | null;
  ciHigh: number | null;
  /** Seeds (runs) behind the cell. */
  n: number;
}

/** Runs that differ only in seed form one variant (e.g. "ADM-IP gamma=0.1"). */
export interface ReportVariant {
  label: string;
  objective: string | null;
  gamma: number | null;
  runIds: string[];
  isBaseline: boolean;
}

export interface PairedTest {
  variant: string;
  baseline: string;
  metric: string;
  samplingSteps: number;
  /** Seeds present in both. */
  pairs: number;
  /** Mean of (variant - baseline); negative = the variant has the lower (better) FID. */
  meanDifference: number;
  /** One-sided p-value of "the variant beats the baseline" (null with fewer than 2 pairs). */
  pValue: number | null;
  method: string;
}

export interface ComparisonReport {
  experiment: ExperimentInfo;
  /** The key the tables use (steps dropped: T' are the columns); null when nothing is scored yet. */
  key: string | null;
  keys: EvaluationKeyInfo[];
  variants: ReportVariant[];
  /** Tables 3 and 7 of the paper: metric of each variant at each T'. */
  bySteps: {
    metric: 'fid' | 'sfid';
    steps: number[];
    rows: { variant: string; cells: (TableCell | null)[] }[];
  }[];
  /** Table 4: the first training iteration at which each variant reached the target FID. */
  iterationsToTarget: {
    target: number;
    samplingSteps: number;
    rows: { variant: string; iteration: number | null }[];
  } | null;
  pairedTests: PairedTest[];
  /** The same tables, ready to save. */
  markdown: string;
  csv: string;
}


export interface HistogramData {
  edges: number[];
  counts: number[];
}

export interface PredictionErrorResult {
  kind: 'prediction-error';
  perT: { t: number; n: number; mean: number; std: number; shapiroW: number; shapiroP: number; histogram: HistogramData }[];
}

export interface DeltaTResult {
  kind: 'delta-t';
  tStart: number;
  samplingSteps: number;
  points: { t: number; sigmaHat: number; sigmaTrue: number; delta: number }[];
}

export interface SpectrumResult {
  kind: 'spectrum';
  /** Cycles per pixel. */
  frequencies: number[];
  samples: number[];
  data: number[];
}

export interface ChainLengthResult {
  kind: 'chain-length';
  /** The t each row's reverse chain started from (x_t = q_sample(x0, t)). */
  tStarts: number[];
  /** A grid: one row per tStart, first row the data x0. */
  gridArtifactId: string | null;
}

export type AnalysisResult = PredictionErrorResult | DeltaTResult | SpectrumResult | ChainLengthResult;

export interface AnalysisInfo {
  id: number;
  runId: string;
  kind: AnalysisKind;
  checkpointStep: number | null;
  params: JsonObject;
  result: AnalysisResult;
  createdAt: number;
}

export interface SampleComparisonEntry {
  runId: string;
  /** The matching sample set when it exists already. */
  sampleSet: SampleSetInfo | null;
  /** The sampling job queued to make it, when it did not. */
  job: JobInfo | null;
}

export interface TrainingEstimate {
  /** null when this machine has no comparable run yet. */
  secondsPerStep: number | null;
  seconds: number | null;
  /** What the estimate is based on, for the form to show. */
  basis: string;
}

export interface ExperimentInfo {
  id: number;
  name: string;
  description: string | null;
  createdAt: number;
  runCount: number;
}

export interface StartedJob {
  run: RunInfo;
  job: JobInfo;
}

// ---------------------------------------------------------------------------------------------
// Events

export interface JobProgressEvent {
  type: 'job-progress';
  jobId: number;
  runId: string;
  kind: RunKind;
  /** Training steps, or sampler steps over all batches for a sampling job. */
  step: number;
  stepsPlanned: number;
  loss: number | null;
  itPerSec: number | null;
  etaSeconds: number | null;
  /** Latest checkpoint the job has written, when any. */
  checkpointStep: number | null;
  /** Latest sample grid of the run, when any (fetch it through artifactUrl). */
  gridArtifactId: string | null;
  at: number;
}

export interface JobStatusEvent {
  type: 'job-status';
  jobId: number;
  runId: string;
  kind: RunKind;
  status: JobStatusView;
  error: string | null;
  at: number;
}

export interface RunUpdatedEvent {
  type: 'run-updated';
  runId: string;
  /** Absent when the run was deleted. */
  status: RunStatus | null;
  stepsDone: number | null;
  deleted: boolean;
  at: number;
}

export interface MetricsAppendedEvent {
  type: 'metrics-appended';
  runId: string;
  names: string[];
  fromStep: number;
  toStep: number;
  at: number;
}

export type LabEvent = JobProgressEvent | JobStatusEvent | RunUpdatedEvent | MetricsAppendedEvent;
export type LabEventType = LabEvent['type'];
export type LabEventListener = (event: LabEvent) => void;

// ---------------------------------------------------------------------------------------------
// Request schemas: every argument of every method, checked at the transport boundary

const runId = z.string().regex(/^[0-9a-z][0-9a-z_-]{0,63}$/, 'expected a run id');
const jobId = z.number().int().positive();
const count = z.number().int().nonnegative();
const oneOrMany = <T extends z.ZodType>(s: T) => z.union([s, z.array(s)]);

export const ListRunsRequestSchema = z
  .object({
    status: oneOrMany(z.enum(RUN_STATUSES)),
    experimentId: z.number().int().nullable(),
    kind: z.enum(RUN_KINDS),
    /** Exact objective ('adm' does not match 'adm-ip'). */
    objective: z.string().min(1).max(50),
    tag: z.string().min(1).max(100),
    search: z.string().max(200),
    limit: z.number().int().min(1).max(100_000),
    offset: count,
    orderBy: z.enum(RUN_ORDER_FIELDS),
    direction: z.enum(['asc', 'desc']),
  })
  .partial()
  .strict();
export type ListRunsRequest = z.input<typeof ListRunsRequestSchema>;

export const MetricSeriesRequestSchema = z
  .object({
    runId,
    name: z.string().min(1).max(200),
    fromStep: count.optional(),
    toStep: count.optional(),
    maxPoints: z.number().int().min(2).max(1_000_000).optional(),
  })
  .strict();
export type MetricSeriesRequest = z.input<typeof MetricSeriesRequestSchema>;

export const ListEvaluationsRequestSchema = z
  .object({
    runId,
    sampleSetId: z.number().int().positive(),
    metric: z.string().min(1).max(100),
    comparabilityKey: z.string().min(1),
  })
  .partial()
  .strict();
export type ListEvaluationsRequest = z.input<typeof ListEvaluationsRequestSchema>;

export const ListJobsRequestSchema = z
  .object({
    status: oneOrMany(z.enum(JOB_STATUSES)),
    runId,
    limit: z.number().int().min(1).max(100_000),
  })
  .partial()
  .strict();
export type ListJobsRequest = z.input<typeof ListJobsRequestSchema>;

export const NewExperimentRequestSchema = z
  .object({ name: z.string().trim().min(1).max(200), description: z.string().max(10_000).nullish() })
  .strict();
export type NewExperimentRequest = z.input<typeof NewExperimentRequestSchema>;

export const StartTrainingOptionsSchema = z
  .object({
    experimentId: z.number().int().positive().nullish(),
    name: z.string().trim().min(1).max(500).optional(),
    /** Higher runs first. */
    priority: z.number().int().min(-1000).max(1000).optional(),
  })
  .strict();
export type StartTrainingOptions = z.input<typeof StartTrainingOptionsSchema>;

const positive = z.number().finite().positive();
export const SamplerRequestSchema = z
  .object({
    kind: z.enum(['ddpm', 'ddim']),
    /** Respacing: "" (all T), "100", "10,15,20" or "ddim50". */
    steps: StepsSpecSchema,
    variance: z.enum(['fixed-small', 'fixed-large', 'learned']).optional(),
    eta: z.number().min(0).max(1).optional(),
    epsScale: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('constant'), lambda: positive }).strict(),
        z.object({ kind: z.literal('linear'), start: positive, end: positive }).strict(),
      ])
      .optional(),
    timeShift: z.object({ cutoff: count, window: count }).strict().optional(),
    clipX0: z.boolean().optional(),
  })
  .strict();
export type SamplerRequest = z.input<typeof SamplerRequestSchema>;

export const StartSamplingRequestSchema = z
  .object({
    /** The training run to sample from. */
    runId,
    /** A recorded checkpoint of that run; default its latest. */
    checkpointStep: count.optional(),
    sampler: SamplerRequestSchema,
    n: z.number().int().min(1).max(100_000),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    batchSize: z.number().int().min(1).max(4096).default(64),
    weights: z.enum(['ema', 'raw']).default('ema'),
    name: z.string().trim().min(1).max(500).optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
  })
  .strict();
export type StartSamplingRequest = z.input<typeof StartSamplingRequestSchema>;

export const StartEvaluationRequestSchema = EvaluationPlanSchema.extend({
  runId,
  /** Checkpoints to evaluate; default the latest. */
  checkpointSteps: z.array(count).min(1).max(1000).optional(),
  name: z.string().trim().min(1).max(500).optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
}).strict();
export type StartEvaluationRequest = z.input<typeof StartEvaluationRequestSchema>;

export const EvaluationKeysRequestSchema = z
  .object({ runIds: z.array(runId).min(1).max(1000), metric: z.string().min(1).max(100).optional() })
  .strict();
export type EvaluationKeysRequest = z.input<typeof EvaluationKeysRequestSchema>;

export const EvaluationCurvesRequestSchema = z
  .object({
    runIds: z.array(runId).min(1).max(100),
    metric: z.string().min(1).max(100),
    x: z.enum(['iteration', 'samplingSteps']),
    /** Choose among several keys (as listed by evaluationKeys, with the x field dropped). */
    key: z.string().min(1).optional(),
    /** Return every key's series as separate groups instead of refusing. */
    allowMixedKeys: z.boolean().optional(),
    /** For x = samplingSteps: the checkpoint; default each run's latest evaluated one. */
    checkpointStep: count.optional(),
  })
  .strict();
export type EvaluationCurvesRequest = z.input<typeof EvaluationCurvesRequestSchema>;

export const CompareExperimentOptionsSchema = z
  .object({
    key: z.string().min(1).optional(),
    baselineRunId: runId.optional(),
    /** Table 4's target FID; default the baseline's best FID. */
    targetFid: z.number().positive().optional(),
  })
  .strict();
export type CompareExperimentOptions = z.input<typeof CompareExperimentOptionsSchema>;

export const StartAnalysisRequestSchema = z
  .object({
    runId,
    kind: z.enum(ANALYSIS_KINDS),
    checkpointStep: count.optional(),
    weights: z.enum(['ema', 'raw']).default('ema'),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    /** Samples (or data images) the analysis uses. */
    n: z.number().int().min(2).max(50_000).default(256),
    /** prediction-error: the timesteps t to measure at. */
    timesteps: z.array(count).min(1).max(64).optional(),
    /** delta-t and spectrum: the sampling chain. */
    steps: StepsSpecSchema.default('100'),
    /** delta-t: the t the chain starts from (x_t = q_sample(x0, t)); default T - 1. */
    tStart: count.optional(),
    /** chain-length: the t each reverse chain starts from. */
    tStarts: z.array(count).min(1).max(32).optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
  })
  .strict();
export type StartAnalysisRequest = z.input<typeof StartAnalysisRequestSchema>;

export const ListAnalysesRequestSchema = z
  .object({ runId, kind: z.enum(ANALYSIS_KINDS) })
  .partial()
  .strict();
export type ListAnalysesRequest = z.input<typeof ListAnalysesRequestSchema>;

export const CompareSamplesRequestSchema = z
  .object({
    runIds: z.array(runId).min(1).max(4),
    /** A checkpoint every run has; default each run's latest. */
    checkpointStep: count.optional(),
    sampler: SamplerRequestSchema,
    n: z.number().int().min(1).max(1024).default(64),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    batchSize: z.number().int().min(1).max(4096).default(64),
    weights: z.enum(['ema', 'raw']).default('ema'),
  })
  .strict();
export type CompareSamplesRequest = z.input<typeof CompareSamplesRequestSchema>;

export const DeleteRunOptionsSchema = z
  .object({
    /** Delete a run recorded as running whose process is gone. */
    force: z.boolean().optional(),
    /** Leave the run's folder on disk. */
    keepFiles: z.boolean().optional(),
  })
  .strict();
export type DeleteRunOptions = z.input<typeof DeleteRunOptionsSchema>;

const artifactId = z.string().regex(/^a[0-9a-f]{24}$/, 'expected an artifact id');
const tag = z.string().trim().min(1).max(100).regex(/^[^\u0000-\u001f]*$/, 'no control characters');

/**
 * The schema of each parameter of each method, in LAB_METHOD_PARAMS order. An optional trailing
 * parameter is `.optional()`; unknown keys are rejected (a typo must not be silently ignored).
 */
export const LAB_REQUEST_SCHEMAS = {
  listRuns: { query: ListRunsRequestSchema.optional() },
  getRun: { runId },
  metricSeries: { query: MetricSeriesRequestSchema },
  listCheckpoints: { runId },
  listSampleSets: { runId },
  listEvaluations: { query: ListEvaluationsRequestSchema.optional() },
  listExperiments: {},
  listJobs: { query: ListJobsRequestSchema.optional() },
  listTags: {},
  artifactUrl: { artifactId },
  createExperiment: { input: NewExperimentRequestSchema },
  startTraining: { config: TrainConfigSchema, options: StartTrainingOptionsSchema.optional() },
  startSampling: { request: StartSamplingRequestSchema },
  cancelJob: { jobId },
  pauseJob: { jobId },
  resumeJob: { jobId },
  tag: { runId, tag },
  untag: { runId, tag },
  addNote: { runId, text: z.string().trim().min(1).max(100_000) },
  deleteRun: { runId, options: DeleteRunOptionsSchema.optional() },
  startEvaluation: { request: StartEvaluationRequestSchema },
  evaluationKeys: { query: EvaluationKeysRequestSchema },
  evaluationCurves: { query: EvaluationCurvesRequestSchema },
  compareExperiment: { experimentId: z.number().int().positive(), options: CompareExperimentOptionsSchema.optional() },
  startAnalysis: { request: StartAnalysisRequestSchema },
  listAnalyses: { query: ListAnalysesRequestSchema.optional() },
  compareSamples: { request: CompareSamplesRequestSchema },
  estimateTraining: { config: TrainConfigSchema },
} as const satisfies { [M in LabMethod]: Record<(typeof LAB_METHOD_PARAMS)[M][number], z.ZodType> };

// ---------------------------------------------------------------------------------------------
// The contract

export interface LabApi {
  // --- queries
  /** Newest first by default; omit limit for every match. */
  listRuns(query?: ListRunsRequest): Promise<RunPage>;
  /** null when there is no such run. */
  getRun(runId: string): Promise<RunDetail | null>;
  metricSeries(query: MetricSeriesRequest): Promise<MetricSeriesData>;
  listCheckpoints(runId: string): Promise<CheckpointInfo[]>;
  listSampleSets(runId: string): Promise<SampleSetInfo[]>;
  listEvaluations(query?: ListEvaluationsRequest): Promise<EvaluationInfo[]>;
  listExperiments(): Promise<ExperimentInfo[]>;
  /** Oldest first (queue order). */
  listJobs(query?: ListJobsRequest): Promise<JobInfo[]>;
  /** Every tag in use, sorted. */
  listTags(): Promise<string[]>;
  /** Where this transport serves the artifact (an <img src>), or null for an unknown id. */
  artifactUrl(artifactId: string): Promise<string | null>;

  // --- commands
  createExperiment(input: NewExperimentRequest): Promise<ExperimentInfo>;
  /** Records a run and queues its training job. */
  startTraining(config: TrainConfigInput, options?: StartTrainingOptions): Promise<StartedJob>;
  /** Records a sampling run (child of the training run) and queues its job. */
  startSampling(request: StartSamplingRequest): Promise<StartedJob>;
  /** Stops a job: it writes a checkpoint and exits (killed after a grace period). */
  cancelJob(jobId: number): Promise<JobInfo>;
  /** Like cancel, but the run shows as paused, waiting for resumeJob. */
  pauseJob(jobId: number): Promise<JobInfo>;
  /** Re-queues an interrupted, failed, cancelled or paused job; training continues from the last checkpoint. */
  resumeJob(jobId: number): Promise<JobInfo>;
  /** Returns the run's tags afterwards. */
  tag(runId: string, tag: string): Promise<string[]>;
  untag(runId: string, tag: string): Promise<string[]>;
  addNote(runId: string, text: string): Promise<NoteInfo>;
  /** Removes the run, everything recorded about it and (unless keepFiles) its folder. */
  deleteRun(runId: string, options?: DeleteRunOptions): Promise<{ deleted: boolean }>;

  // --- evaluation
  /** Records an evaluation run (child of the training run) and queues its job. */
  startEvaluation(request: StartEvaluationRequest): Promise<StartedJob>;
  /** The comparability keys the given runs' scores were measured under. */
  evaluationKeys(query: EvaluationKeysRequest): Promise<EvaluationKeyInfo[]>;
  /**
   * A metric against training iterations or against T', per run. Rejects with CONFLICT, naming the
   * keys and how they differ, when the scores span several keys and neither `key` nor
   * `allowMixedKeys` was given.
   */
  evaluationCurves(query: EvaluationCurvesRequest): Promise<EvaluationCurves>;
  /** The paper's tables for an experiment's runs (CONFLICT when keys are mixed and none chosen). */
  compareExperiment(experimentId: number, options?: CompareExperimentOptions): Promise<ComparisonReport>;
  /** Queues an exposure-bias analysis of a run's checkpoint. */
  startAnalysis(request: StartAnalysisRequest): Promise<StartedJob>;
  listAnalyses(query?: ListAnalysesRequest): Promise<AnalysisInfo[]>;
  /**
   * One-click paired samples: for each run, the sample set drawn from the same seeds with these
   * settings, queuing a sampling job for each run that does not have it yet.
   */
  compareSamples(request: CompareSamplesRequest): Promise<SampleComparisonEntry[]>;
  /** Time estimate for a training config from this machine's measured throughput. */
  estimateTraining(config: TrainConfigInput): Promise<TrainingEstimate>;

  // --- events
  /** Returns the unsubscribe function. */
  subscribe(listener: LabEventListener): () => void;
}

/** The request/response methods (everything but subscribe). */
export type LabCallable = Omit<LabApi, 'subscribe'>;

// Each method's parameters must be what its schemas accept (checked here, at compile time).
type SchemaInputs<M extends LabMethod> = {
  [K in keyof (typeof LAB_REQUEST_SCHEMAS)[M]]: (typeof LAB_REQUEST_SCHEMAS)[M][K] extends z.ZodType
    ? z.input<(typeof LAB_REQUEST_SCHEMAS)[M][K]>
    : never;
};
type ParamsAsObject<P extends readonly unknown[], Names extends readonly string[]> = {
  [I in keyof Names & `${number}` as Names[I] & string]: I extends keyof P ? P[I] : never;
};
type Mismatch<M extends LabMethod> =
  ParamsAsObject<Required<Parameters<LabCallable[M]>>, (typeof LAB_METHOD_PARAMS)[M]> extends Required<SchemaInputs<M>>
    ? never
    : M;
type MismatchedMethods = { [M in LabMethod]: Mismatch<M> }[LabMethod];
/** Fails to compile, naming the method, when a signature and its schemas drift apart. */
export const PARAMS_MATCH_SCHEMAS: [MismatchedMethods] extends [never] ? true : MismatchedMethods = true;

// ---------------------------------------------------------------------------------------------
// Errors


function issuePath(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter((s) => s !== '').join('.');
}

/**
 * Validates a call's arguments, given by position (IPC) or as an object keyed by parameter name
 * (HTTP), and returns them by position, parsed (defaults applied). Throws INVALID with a message
 * naming each bad field, e.g. "startTraining: config.steps: Too small: expected number to be >0".
 */
export function parseLabArgs(method: LabMethod, input: unknown): unknown[] {
  const names = LAB_METHOD_PARAMS[method] as readonly string[];
  const schemas = LAB_REQUEST_SCHEMAS[method] as Record<string, z.ZodType>;
  let named: Record<string, unknown>;
  if (input === undefined || input === null) named = {};
  else if (Array.isArray(input)) {
    if (input.length > names.length) {
      throw new LabApiError('INVALID', `${method}: takes ${names.length} argument(s), got ${input.length}`);
    }
    named = {};
    input.forEach((v, i) => {
      if (v !== undefined) named[names[i]!] = v;
    });
  } else if (typeof input === 'object') {
    named = input as Record<string, unknown>;
    const unknown = Object.keys(named).filter((k) => !names.includes(k));
    if (unknown.length) {
      throw new LabApiError(
        'INVALID',
        `${method}: unknown parameter ${unknown.map((k) => JSON.stringify(k)).join(', ')}` +
          (names.length ? ` (expected ${names.join(', ')})` : ' (it takes none)'),
      );
    }
  } else {
    throw new LabApiError('INVALID', `${method}: arguments must be an object keyed by parameter name`);
  }
  const problems: string[] = [];
  const out = names.map((name) => {
    const r = schemas[name]!.safeParse(named[name]);
    if (!r.success) {
      for (const i of r.error.issues) problems.push(`${issuePath(name, i.path)}: ${i.message}`);
      return undefined;
    }
    return r.data;
  });
  if (problems.length) throw new LabApiError('INVALID', `${method}: ${problems.join('; ')}`);
  // Trailing undefined arguments are dropped so defaults in the implementation apply.
  while (out.length && out[out.length - 1] === undefined) out.pop();
  return out;
}

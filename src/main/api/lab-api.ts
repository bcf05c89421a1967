/**
 * The LabApi, implemented once over the store and (when this process runs one) the job
 * supervisor. Every transport — Electron IPC, HTTP + SSE, the CLI in process — calls this object;
 * each call's arguments are validated here against the schemas in src/shared/api.ts, so a bad
 * request is rejected before anything is written, whichever way it came in.
 *
 * Without a supervisor (the CLI) commands still work: a queued job waits for whichever
 * supervisor is running (`xlab serve`, the app, `xlab jobs run`), and a cancel reaches a job
 * running elsewhere through the store (its heartbeat fails and it stops).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CheckpointInfo,
  type EvaluationInfo,
  type ExperimentInfo,
  type JobInfo,
  type LabApi,
  type LabCallable,
  type LabEvent,
  type LabEventListener,
  type RunInfo,
  type RunSummary,
  type SampleSetInfo,
  type StartSamplingRequest,
  JOB_STATUSES as API_JOB_STATUSES,
  LAB_METHODS,
  LabApiError,
  RUN_KINDS as API_RUN_KINDS,
  RUN_STATUSES as API_RUN_STATUSES,
  isLabMethod,
  parseLabArgs,
} from '../../shared/api';
import { parseTrainConfig, type TrainConfigInput } from '../../shared/config';
import {
  type CheckpointRow,
  type EvaluationRow,
  type ExperimentRow,
  type JobRow,
  type RunRow,
  type RunStatus,
  type SampleSetRow,
  type Store,
  JOB_STATUSES,
  RUN_KINDS,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  StoreError,
} from '../store/store';
import { type Supervisor, isProcessAlive } from '../jobs/supervisor';
import { type SamplingArgs, createSamplingRun, createTrainingRun, rewindToResumePoint, runFolderOf } from '../jobs/run-records';
import { listCheckpoints } from '../training/checkpoint';
import type { ApiContext } from './context';
import { evaluationMethods } from './evaluation-api';
import { analysisMethods } from './analysis-api';

// The shared enumerations must stay the store's (a compile error here means they drifted).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const ENUMS_AGREE: [
  Same<(typeof RUN_STATUSES)[number], (typeof API_RUN_STATUSES)[number]>,
  Same<(typeof JOB_STATUSES)[number], (typeof API_JOB_STATUSES)[number]>,
  Same<(typeof RUN_KINDS)[number], (typeof API_RUN_KINDS)[number]>,
] = [true, true, true];
void ENUMS_AGREE;

export interface LabApiOptions {
  store: Store;
  /** Default: the store's data dir. */
  dataDir?: string;
  /** The supervisor running jobs in this process, if any. */
  supervisor?: Supervisor | null;
  /** How this transport addresses an artifact (`/artifacts/<id>`, `lab://artifact/<id>`). */
  artifactUrl?: (artifactId: string) => string;
}

/** The LabApi plus what its owner (a transport, the CLI) needs. */
export interface LabService extends LabApi {
  /** Detaches from the supervisor; the store stays open (its owner closes it). */
  close(): void;
}

// --- row -> wire mapping (no paths, no NaN) ----------------------------------------------------

// Store rows are the API's shapes plus file paths; the paths never leave the main process.
function toRunInfo({ dir: _dir, ...info }: RunRow): RunInfo {
  return info;
}

function toRunSummary({ dir: _dir, config: _config, machine: _machine, ...summary }: RunRow): RunSummary {
  return summary;
}

function toCheckpointInfo({ path: _path, ...info }: CheckpointRow): CheckpointInfo {
  return info;
}

function toSampleSetInfo({ npzPath: _npz, gridPath: _grid, ...info }: SampleSetRow): SampleSetInfo {
  return info;
}

function toEvaluationInfo(e: EvaluationRow): EvaluationInfo {
  return { ...e };
}

function toExperimentInfo(e: ExperimentRow): ExperimentInfo {
  return { ...e };
}

function finiteOrNull(values: number[]): (number | null)[] {
  const out = new Array<number | null>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = Number.isFinite(v) ? v : null;
  }
  return out;
}

/** Store errors keep their message; the code says what kind of failure it was. */
export function toLabError(err: unknown): LabApiError {
  if (err instanceof LabApiError) return err;
  if (err instanceof StoreError) {
    switch (err.code) {
      case 'INVALID':
        return new LabApiError('INVALID', err.message);
      case 'NOT_FOUND':
        return new LabApiError('NOT_FOUND', err.message);
      case 'CONFLICT':
        return new LabApiError('CONFLICT', err.message);
      case 'BUSY':
      case 'DISK_FULL':
      case 'NOT_WRITABLE':
      case 'IO':
      case 'CLOSED':
        return new LabApiError('UNAVAILABLE', err.message);
      default:
        return new LabApiError('INTERNAL', err.message);
    }
  }
  return new LabApiError('INTERNAL', err instanceof Error ? err.message : String(err));
}

export function createLabApi(opts: LabApiOptions): LabService {
  const { store } = opts;
  const dataDir = opts.dataDir ?? store.dataDir;
  const supervisor = opts.supervisor ?? null;
  const artifactUrl = opts.artifactUrl ?? ((id: string) => `/artifacts/${id}`);
  const listeners = new Set<LabEventListener>();

  const emit = (e: LabEvent): void => {
    for (const l of [...listeners]) {
      try {
        l(e);
      } catch {
        // one broken subscriber (a closed SSE socket) must not stop the others
      }
    }
  };
  const unsubscribeSupervisor = supervisor?.subscribe(emit);

  const requireRun = (runId: string): RunRow => {
    const run = store.getRun(runId);
    if (!run) throw new LabApiError('NOT_FOUND', `no run with id ${JSON.stringify(runId)}`);
    return run;
  };
  const requireJob = (jobId: number): JobRow => {
    const job = store.getJob(jobId);
    if (!job) throw new LabApiError('NOT_FOUND', `no job with id ${jobId}`);
    return job;
  };

  /** A paused job is a cancelled job whose run is paused (see JobStatusView). */
  const jobInfos = (jobs: JobRow[]): JobInfo[] => {
    const runStatus = new Map<string, RunStatus | undefined>();
    const latestJobOfRun = new Map<string, number>();
    return jobs.map((j) => {
      let status: JobInfo['status'] = j.status;
      if (j.status === 'cancelled') {
        if (!runStatus.has(j.runId)) runStatus.set(j.runId, store.getRun(j.runId)?.status);
        if (runStatus.get(j.runId) === 'paused') {
          if (!latestJobOfRun.has(j.runId)) {
            latestJobOfRun.set(j.runId, Math.max(...store.listJobs({ runId: j.runId }).map((x) => x.id)));
          }
          if (latestJobOfRun.get(j.runId) === j.id) status = 'paused';
        }
      }
      return { ...j, status };
    });
  };
  const jobInfo = (job: JobRow): JobInfo => jobInfos([job])[0]!;

  const announceJob = (job: JobRow): JobInfo => {
    const info = jobInfo(job);
    emit({ type: 'job-status', jobId: job.id, runId: job.runId, kind: job.kind, status: info.status, error: job.error, at: Date.now() });
    return info;
  };
  const announceRun = (runId: string): void => {
    const run = store.getRun(runId);
    emit({
      type: 'run-updated',
      runId,
      status: run?.status ?? null,
      stepsDone: run?.stepsDone ?? null,
      deleted: !run,
      at: Date.now(),
    });
  };

  /** A job's process is alive somewhere (this supervisor's or another's). */
  const jobProcessAlive = (job: JobRow): boolean =>
    job.pid !== null && (supervisor?.pidOf(job.id) === job.pid || (job.pid !== process.pid && isProcessAlive(job.pid)));

  const stop = (jobId: number, reason: 'cancel' | 'pause'): JobInfo => {
    const job = requireJob(jobId);
    if (job.status === 'queued') {
      if (reason === 'pause') {
        throw new LabApiError('CONFLICT', `job ${jobId} has not started yet; cancel it instead of pausing`);
      }
      store.transaction(() => {
        store.cancelJob(jobId);
        const run = store.getRun(job.runId);
        if (run && RUN_TRANSITIONS[run.status].includes('cancelled')) store.updateRun(job.runId, { status: 'cancelled' });
      });
    } else if (job.status === 'running') {
      store.transaction(() => {
        store.cancelJob(jobId);
        const run = store.getRun(job.runId);
        if (!run) return;
        const wanted: RunStatus = reason === 'pause' ? 'paused' : 'cancelled';
        const status = RUN_TRANSITIONS[run.status].includes(wanted) ? wanted : 'cancelled';
        if (run.status !== status && RUN_TRANSITIONS[run.status].includes(status)) store.updateRun(job.runId, { status });
      });
      // The job notices through its heartbeat anyway; telling it directly saves a poll, and the
      // supervisor kills it if it does not stop within the grace period.
      supervisor?.stopJob(jobId, reason);
    } else {
      throw new LabApiError('CONFLICT', `job ${jobId} is ${job.status}; there is nothing to ${reason}`);
    }
    announceRun(job.runId);
    return announceJob(requireJob(jobId));
  };

  const ctx: ApiContext = {
    store,
    dataDir,
    supervisor,
    requireRun,
    requireJob,
    jobInfo,
    announceJob,
    announceRun,
    emit,
    toRunInfo,
    toSampleSetInfo,
  };

  const impl: LabCallable = {
    ...evaluationMethods(ctx),
    ...analysisMethods(ctx),
    // --- queries ------------------------------------------------------------------------------
    async listRuns(query = {}) {
      const { limit, offset, orderBy, direction, ...filter } = query;
      const rows = store.listRuns(query, { columns: 'summary' });
      const total = limit === undefined && !offset ? rows.length : store.countRuns(filter);
      return { runs: rows.map(toRunSummary), total, offset: offset ?? 0, limit: limit ?? null };
    },
    async getRun(runId) {
      const run = store.getRun(runId);
      if (!run) return null;
      return {
        run: toRunInfo(run),
        notes: store.listNotes(runId),
        metricNames: store.metricNames(runId),
        jobs: jobInfos(store.listJobs({ runId })),
      };
    },
    async metricSeries(query) {
      requireRun(query.runId);
      const { runId, name, ...range } = query;
      const s = store.metricSeries(runId, name, range);
      return { runId, name, step: s.step, value: finiteOrNull(s.value), wallTime: s.wallTime, total: s.total };
    },
    async listCheckpoints(runId) {
      requireRun(runId);
      return store.listCheckpoints(runId).map(toCheckpointInfo);
    },
    async listSampleSets(runId) {
      requireRun(runId);
      return store.listSampleSets(runId).map(toSampleSetInfo);
    },
    async listEvaluations(query = {}) {
      return store.listEvaluations(query).map(toEvaluationInfo);
    },
    async listExperiments() {
      return store.listExperiments().map(toExperimentInfo);
    },
    async listJobs(query = {}) {
      return jobInfos(store.listJobs(query));
    },
    async listTags() {
      return store.listTags();
    },
    async artifactUrl(artifactId) {
      return store.getArtifact(artifactId) ? artifactUrl(artifactId) : null;
    },

    // --- commands -----------------------------------------------------------------------------
    async createExperiment(input) {
      return toExperimentInfo(store.createExperiment(input));
    },
    async startTraining(configInput: TrainConfigInput, options = {}) {
      const config = parseTrainConfig(configInput);
      if (options.experimentId != null && !store.getExperiment(options.experimentId)) {
        throw new LabApiError('NOT_FOUND', `options.experimentId: no experiment with id ${options.experimentId}`);
      }
      const { run, job } = store.transaction(() => {
        const run = createTrainingRun(store, config, {
          ...(options.name ? { name: options.name } : {}),
          experimentId: options.experimentId ?? null,
          status: 'queued',
        });
        const job = store.enqueueJob({ runId: run.id, kind: 'train', args: {}, priority: options.priority ?? 0 });
        return { run, job };
      });
      announceRun(run.id);
      const info = announceJob(job);
      supervisor?.poke();
      return { run: toRunInfo(run), job: info };
    },
    async startSampling(request: StartSamplingRequest) {
      // Already parsed by the validating wrapper below: defaults are filled in.
      const r = request as SamplingRequestParsed;
      const source = requireRun(r.runId);
      if (source.kind !== 'train') {
        throw new LabApiError('INVALID', `request.runId: run ${source.id} is a ${source.kind} run; sample from a training run`);
      }
      if (r.checkpointStep !== undefined) {
        const recorded = store.listCheckpoints(source.id).some((c) => c.step === r.checkpointStep);
        if (!recorded) throw new LabApiError('NOT_FOUND', `request.checkpointStep: run ${source.id} has no checkpoint at step ${r.checkpointStep}`);
      } else if (!store.latestCheckpoint(source.id) && listCheckpoints(path.join(runFolderOf(dataDir, source), 'checkpoints')).length === 0) {
        throw new LabApiError('CONFLICT', `run ${source.id} has no checkpoint yet; sample it once it has written one`);
      }
      const args: SamplingArgs = {
        sourceRunId: source.id,
        checkpointStep: r.checkpointStep ?? null,
        sampler: r.sampler,
        n: r.n,
        seed: r.seed,
        batchSize: r.batchSize,
        weights: r.weights,
      };
      const { run, job } = store.transaction(() => {
        const run = createSamplingRun(store, args, source, r.name ? { name: r.name } : {});
        const job = store.enqueueJob({ runId: run.id, kind: 'sample', args: { ...args }, priority: r.priority ?? 0 });
        return { run, job };
      });
      announceRun(run.id);
      const info = announceJob(job);
      supervisor?.poke();
      return { run: toRunInfo(run), job: info };
    },
    async cancelJob(jobId) {
      return stop(jobId, 'cancel');
    },
    async pauseJob(jobId) {
      return stop(jobId, 'pause');
    },
    async resumeJob(jobId) {
      const job = requireJob(jobId);
      if (!['interrupted', 'failed', 'cancelled'].includes(job.status)) {
        throw new LabApiError('CONFLICT', `job ${jobId} is ${job.status}; only an interrupted, failed, cancelled or paused job can be resumed`);
      }
      const newer = store.listJobs({ runId: job.runId }).filter((j) => j.id > job.id);
      if (newer.length) {
        throw new LabApiError('CONFLICT', `run ${job.runId} has a newer job (${newer.map((j) => j.id).join(', ')}); resume that one`);
      }
      if (jobProcessAlive(job)) {
        throw new LabApiError('CONFLICT', `job ${jobId} is still stopping (process ${job.pid}); try again in a moment`);
      }
      const run = requireRun(job.runId);
      store.transaction(() => {
        // Training continues from the newest checkpoint: metrics logged after it are dropped
        // now, so the continuation writes each step exactly once.
        if (job.kind === 'train') rewindToResumePoint(store, dataDir, run);
        const current = store.getRun(run.id)!;
        if (current.status !== 'queued') store.updateRun(run.id, { status: 'queued' });
        if (!store.requeueJob(jobId)) throw new LabApiError('CONFLICT', `job ${jobId} changed while resuming it; try again`);
      });
      announceRun(run.id);
      const info = announceJob(requireJob(jobId));
      supervisor?.poke();
      return info;
    },
    async tag(runId, tag) {
      store.tag(runId, tag);
      announceRun(runId);
      return store.listTags(runId);
    },
    async untag(runId, tag) {
      requireRun(runId);
      store.untag(runId, tag);
      announceRun(runId);
      return store.listTags(runId);
    },
    async addNote(runId, text) {
      const note = store.addNote(runId, text);
      announceRun(runId);
      return note;
    },
    async deleteRun(runId, options = {}) {
      const run = store.getRun(runId);
      if (!run) return { deleted: false };
      const live = store.listJobs({ runId, status: 'running' }).filter(jobProcessAlive);
      if (live.length) {
        throw new LabApiError('CONFLICT', `run ${runId} has a running job (${live.map((j) => j.id).join(', ')}); cancel it first`);
      }
      const removed = store.deleteRun(runId, { force: options.force === true });
      // Only folders the history owns are removed: a run trained with --out elsewhere keeps its files.
      if (removed && !options.keepFiles && runFolderOf(dataDir, run) === removed.absDir) {
        fs.rmSync(removed.absDir, { recursive: true, force: true });
      }
      announceRun(runId);
      return { deleted: removed !== undefined };
    },
  };

  // Every call: validated arguments in, LabApiError out.
  const service = {} as Record<string, unknown>;
  for (const method of LAB_METHODS) {
    const fn = impl[method] as (...args: unknown[]) => Promise<unknown>;
    service[method] = async (...args: unknown[]) => {
      try {
        return await fn(...parseLabArgs(method, args));
      } catch (err) {
        throw toLabError(err);
      }
    };
  }
  service['subscribe'] = (listener: LabEventListener) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  service['close'] = () => {
    unsubscribeSupervisor?.();
    listeners.clear();
  };
  return service as unknown as LabService;
}

type SamplingRequestParsed = {
  runId: string;
  checkpointStep?: number;
  sampler: SamplingArgs['sampler'];
  n: number;
  seed: number;
  batchSize: number;
  weights: 'ema' | 'raw';
  name?: string;
  priority?: number;
};

/**
 * What transports call: a method by name with its arguments by position (IPC) or by parameter
 * name (HTTP). Unknown methods are NOT_FOUND; everything else is the LabApi's own answer.
 */
export async function dispatchLabCall(api: LabCallable, method: string, args: unknown): Promise<unknown> {
  if (!isLabMethod(method)) throw new LabApiError('NOT_FOUND', `no such LabApi method: ${JSON.stringify(method)}`);
  // Named arguments become positions here (unknown names are rejected); values are validated by the api.
  const positional = Array.isArray(args) ? args : parseLabArgs(method, args);
  return (api[method] as (...a: unknown[]) => Promise<unknown>)(...positional);
}

/**
 * How a training or sampling run is described in the history: the row written when it is created
 * (full config, objective, gamma, dataset, preset, seed, machine, app version, git commit), where
 * its files live, and from which checkpoint it continues. Shared by the API (queued jobs), the job
 * process and the foreground `xlab train` / `xlab sample`, so all three record runs the same way.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainConfig } from '../../shared/config';
import { relativeToDataDir, resolveInDataDir } from '../store/artifacts';
import type { JobRow, JsonObject, RunRow, Store } from '../store/store';
import { listCheckpoints } from '../training/checkpoint';
import type { LogTail } from './protocol';
import type { SamplerChoice } from '../generation/generate';
import type { AnalysisKind } from '../../shared/api';

export interface AppInfo {
  version: string | null;
  gitCommit: string | null;
}

let cachedAppInfo: AppInfo | undefined;

/** The package.json of Exposure Lab above this module (sources, tsx, or the electron-vite bundle). */
function findAppRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'exposure-lab') return dir;
    } catch {
      // not here
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Reads .git directly: spawning git for every run would cost more than the run record itself. */
function gitCommitOf(root: string): string | null {
  try {
    let gitDir = path.join(root, '.git');
    const st = fs.statSync(gitDir);
    if (st.isFile()) {
      // a worktree: "gitdir: <path>"
      const m = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(gitDir, 'utf8'));
      if (!m) return null;
      gitDir = path.resolve(root, m[1]!.trim());
    }
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (!ref) return null;
    const commonDir = fs.existsSync(path.join(gitDir, 'commondir'))
      ? path.resolve(gitDir, fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim())
      : gitDir;
    for (const dir of [gitDir, commonDir]) {
      const file = path.join(dir, ref);
      if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
    }
    const packed = fs.readFileSync(path.join(commonDir, 'packed-refs'), 'utf8');
    const line = packed.split('\n').find((l) => l.endsWith(` ${ref}`));
    return line ? line.slice(0, 40) : null;
  } catch {
    return null;
  }
}

export function appInfo(): AppInfo {
  if (cachedAppInfo) return cachedAppInfo;
  const root = findAppRoot();
  let version: string | null = null;
  if (root) {
    try {
      version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
    } catch {
      version = null;
    }
  }
  cachedAppInfo = { version, gitCommit: root ? gitCommitOf(root) : null };
  return cachedAppInfo;
}

export function machineInfo(): JsonObject {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: process.platform,
    arch: process.arch,
    cpuModel: cpus[0]?.model ?? null,
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    node: process.versions.node,
    electron: process.versions['electron'] ?? null,
  };
}

/** The gamma a run is filed under: the constant, or the schedule's start value. */
export function gammaOf(config: TrainConfig): number | null {
  if (config.objective !== 'adm-ip' && config.objective !== 'adm-y') return null;
  const g = config.gamma;
  return g.kind === 'constant' ? g.gamma : g.start;
}

export function defaultRunName(config: TrainConfig): string {
  const g = gammaOf(config);
  return [config.objective + (g === null ? '' : ` g=${g}`), config.dataset, config.preset, `seed ${config.seed}`].join(' · ');
}

/**
 * The run config key that records a run folder outside the data dir (`xlab train --out`). Runs in
 * the data dir keep their files in runs/<id> and need no such key.
 */
export const OUT_DIR_KEY = 'outDir';

export interface NewTrainingRunOptions {
  name?: string;
  experimentId?: number | null;
  status?: 'queued' | 'running';
  /** Absolute run folder when it is not <data dir>/runs/<id>. */
  outDir?: string;
  backend?: string | null;
  parentRunId?: string | null;
}

export function createTrainingRun(store: Store, config: TrainConfig, opts: NewTrainingRunOptions = {}): RunRow {
  const info = appInfo();
  const stored: JsonObject = { ...config };
  if (opts.outDir !== undefined) stored[OUT_DIR_KEY] = path.resolve(opts.outDir);
  return store.createRun({
    name: opts.name ?? defaultRunName(config),
    kind: 'train',
    experimentId: opts.experimentId ?? null,
    objective: config.objective,
    gamma: gammaOf(config),
    dataset: config.dataset,
    preset: config.preset,
    config: stored,
    seed: config.seed,
    status: opts.status ?? 'queued',
    stepsPlanned: config.steps,
    backend: opts.backend ?? null,
    machine: machineInfo(),
    appVersion: info.version,
    gitCommit: info.gitCommit,
    parentRunId: opts.parentRunId ?? null,
  });
}

/** Absolute folder of a run's files. */
export function runFolderOf(dataDir: string, run: Pick<RunRow, 'config' | 'dir'>): string {
  const out = run.config[OUT_DIR_KEY];
  return typeof out === 'string' && path.isAbsolute(out) ? out : resolveInDataDir(dataDir, run.dir);
}

/** The data-dir-relative form of a file, or null when it lies outside the data dir. */
export function relativeIfInside(dataDir: string, file: string): string | null {
  try {
    return relativeToDataDir(dataDir, file);
  } catch {
    return null;
  }
}

export interface ResumePoint {
  /** The step training continues from (0: from scratch). */
  step: number;
  file: string | null;
}

/**
 * Where a training run continues: its newest checkpoint file on disk. The disk, not the database,
 * decides, because a job killed between writing a checkpoint and recording it leaves a newer file
 * than the newest row; that file is then recorded here.
 */
export function resumePoint(store: Store, dataDir: string, run: RunRow): ResumePoint {
  const folder = runFolderOf(dataDir, run);
  const latest = listCheckpoints(path.join(folder, 'checkpoints')).at(-1);
  if (!latest) return { step: 0, file: null };
  const recorded = store.latestCheckpoint(run.id);
  if (!recorded || recorded.step < latest.step) {
    const rel = relativeIfInside(dataDir, latest.file);
    if (rel) {
      store.addCheckpoint({
        runId: run.id,
        step: latest.step,
        path: rel,
        isEmaIncluded: true,
        bytes: fs.statSync(latest.file).size,
      });
    }
  }
  return { step: latest.step, file: latest.file };
}

/**
 * Makes a run ready to continue from its resume point: metric rows past it (logged by a process
 * that died before its next checkpoint) are dropped, so the continuation re-logs those steps
 * exactly once; steps_done goes back to the checkpoint.
 */
export function rewindToResumePoint(store: Store, dataDir: string, run: RunRow): ResumePoint {
  return store.transaction(() => {
    const point = resumePoint(store, dataDir, run);
    store.truncateMetricsAfter(run.id, point.step);
    store.updateRun(run.id, { stepsDone: point.step });
    return point;
  });
}

/**
 * A job row for work done in the foreground (`xlab train`, `xlab sample`): queued and claimed in
 * one write transaction, so no supervisor can take it, and its pid lets a later supervisor notice
 * when the terminal was killed.
 */
export function claimForegroundJob(store: Store, runId: string, kind: 'train' | 'sample' | 'evaluate', args: JsonObject = {}): JobRow {
  return store.transaction(() => {
    // An interrupted foreground job that was resumed into the queue keeps its priority: stay above it.
    const top = Math.max(0, ...store.listJobs({ status: 'queued' }).map((j) => j.priority));
    const priority = Math.max(FOREGROUND_PRIORITY, top + 1);
    const job = store.enqueueJob({ runId, kind, args: { ...args, foreground: true }, priority });
    const claimed = store.claimNextJob(process.pid, { kinds: [kind] });
    if (!claimed || claimed.id !== job.id) {
      throw new Error(`could not claim the foreground job ${job.id} (claimed ${claimed?.id ?? 'nothing'})`);
    }
    return claimed;
  });
}

/** Above anything a user can queue (the API allows -1000..1000), so the claim takes this job. */
const FOREGROUND_PRIORITY = 1_000_000_000;

/**
 * For a job process that is going away on purpose (app shutdown, lost supervisor, Ctrl-C): marks
 * its own job (and run) interrupted, so it can be resumed without waiting for a sweep.
 */
export function markOwnJobInterrupted(store: Store): void {
  store.markDeadJobsInterrupted((pid) => pid !== process.pid);
}

/**
 * Records why a job failed: the error and the last log lines on the job, the error on the run.
 * Returns the message. Never throws: failing to record a failure must not hide the failure.
 */
export function recordJobFailure(
  store: Store,
  jobId: number,
  runId: string,
  log: LogTail,
  err: unknown,
  onLog?: (line: string) => void,
): string {
  const message = err instanceof Error ? err.message : String(err);
  log.add(`error: ${message}`);
  if (err instanceof Error && err.stack) {
    for (const line of err.stack.split('\n').slice(1, 6)) log.add(line);
  }
  onLog?.(`error: ${message}`);
  try {
    store.transaction(() => {
      const failed = store.failJob(jobId, message, log.text());
      const run = store.getRun(runId);
      if (failed && run && (run.status === 'running' || run.status === 'queued' || run.status === 'interrupted')) {
        store.updateRun(runId, { status: 'failed', error: message });
      }
    });
  } catch (recordErr) {
    onLog?.(`could not record the failure: ${(recordErr as Error).message}`);
  }
  return message;
}

/**
 * The training run whose files are in `folder`: runs/<id> under the data dir, or a run recorded
 * with that folder as its --out. Undefined for a folder the history does not know (trained before
 * the history existed, or in another data dir).
 */
export function findRunByFolder(store: Store, dataDir: string, folder: string): RunRow | undefined {
  const abs = path.resolve(folder);
  const rel = relativeIfInside(dataDir, abs);
  const m = rel ? /^runs\/([0-9a-z][0-9a-z_-]{0,63})$/.exec(rel) : null;
  if (m) {
    const run = store.getRun(m[1]!);
    if (run && runFolderOf(dataDir, run) === abs) return run;
  }
  // Runs kept outside the data dir are few, but their folder is only in the config: scan.
  return store.listRuns({ kind: 'train' }).find((r) => r.config[OUT_DIR_KEY] === abs);
}

/**
 * Metric rows of a run folder's metrics.jsonl up to `step`, for bringing a folder trained before
 * the history existed into it. Torn or foreign lines are skipped.
 */
export function readMetricsFile(file: string, upToStep: number): { step: number; name: string; value: number; wallTime?: number }[] {
  if (!fs.existsSync(file)) return [];
  const rows: { step: number; name: string; value: number; wallTime?: number }[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { step?: unknown; name?: unknown; value?: unknown; wallTime?: unknown };
      if (!Number.isInteger(r.step) || (r.step as number) < 0 || (r.step as number) > upToStep) continue;
      if (typeof r.name !== 'string' || typeof r.value !== 'number') continue;
      rows.push({
        step: r.step as number,
        name: r.name,
        value: r.value,
        ...(typeof r.wallTime === 'number' && Number.isFinite(r.wallTime) ? { wallTime: r.wallTime } : {}),
      });
    } catch {
      // a torn last line
    }
  }
  return rows;
}

/** What a sampling job is asked to do (job args; also the sampling run's config). */
export interface SamplingArgs {
  /** The training run sampled from, when it is in the history. */
  sourceRunId?: string | null;
  /** A recorded checkpoint step of the source run; default its newest checkpoint. */
  checkpointStep?: number | null;
  /** A checkpoint file or run folder given by path (`xlab sample --checkpoint PATH`). */
  checkpointPath?: string | null;
  sampler: SamplerChoice;
  n: number;
  seed: number;
  batchSize: number;
  weights: 'ema' | 'raw';
  /** Folder for the files; default the samples/ folder of the checkpoint's run. */
  outDir?: string | null;
  /** Inference engine; default ONNX Runtime when it loads, else tfjs. */
  engine?: 'onnx' | 'tfjs';
}

/** Records a sampling run: a child of the training run it samples (when that run is in the history). */
export function createSamplingRun(
  store: Store,
  args: SamplingArgs,
  source: RunRow | null,
  opts: { name?: string; status?: 'queued' } = {},
): RunRow {
  const s = args.sampler;
  const what = `${s.kind} ${s.steps || 'all'} steps · n ${args.n} · seed ${args.seed}`;
  const info = appInfo();
  return store.createRun({
    name: opts.name ?? (source ? `${source.name} · ${what}` : `samples · ${what}`),
    kind: 'sample',
    experimentId: source?.experimentId ?? null,
    objective: source?.objective ?? null,
    gamma: source?.gamma ?? null,
    dataset: source?.dataset ?? null,
    preset: source?.preset ?? null,
    config: { ...args },
    seed: args.seed,
    status: opts.status ?? 'queued',
    parentRunId: source?.id ?? null,
    machine: machineInfo(),
    appVersion: info.version,
    gitCommit: info.gitCommit,
  });
}

/**
 * What an analysis job is asked to do (job args, kind 'evaluate'; also the analysis run's config).
 * `type` tells it apart from a score evaluation, the other kind of 'evaluate' job.
 */
export interface AnalysisArgs {
  type: 'analysis';
  kind: AnalysisKind;
  /** The analysed training run; the result is filed under it. */
  sourceRunId: string;
  /** A checkpoint step of the source run; null for its newest checkpoint. */
  checkpointStep: number | null;
  weights: 'ema' | 'raw';
  seed: number;
  n: number;
  /** Respacing spec of the sampling chain (delta-t, spectrum, chain-length). */
  steps: string;
  /** prediction-error. */
  timesteps?: number[];
  /** delta-t. */
  tStart?: number;
  /** chain-length. */
  tStarts?: number[];
}

export function isAnalysisArgs(args: JsonObject): boolean {
  return args['type'] === 'analysis';
}

/** Records an analysis run: a child of the training run it analyses. */
export function createAnalysisRun(store: Store, args: AnalysisArgs, source: RunRow, opts: { name?: string; status?: 'queued' | 'running' } = {}): RunRow {
  const info = appInfo();
  return store.createRun({
    name: opts.name ?? `${source.name} · ${args.kind} analysis`,
    kind: 'evaluate',
    experimentId: source.experimentId,
    objective: source.objective,
    gamma: source.gamma,
    dataset: source.dataset,
    preset: source.preset,
    config: { ...args },
    seed: args.seed,
    status: opts.status ?? 'queued',
    parentRunId: source.id,
    machine: machineInfo(),
    appVersion: info.version,
    gitCommit: info.gitCommit,
  });
}

/**
 * Records a score evaluation run (kind 'evaluate', job args of type 'evaluation'): a child of the
 * training run it evaluates, in the same experiment. Its scores and sample sets are stored under
 * the training run (see evaluation-run.ts).
 */
export function createEvaluationRun(
  store: Store,
  args: { type: 'evaluation'; sourceRunId: string; checkpointSteps: number[] | null; plan: { steps: string[]; n: number; seed: number; epsScales: number[] } },
  source: RunRow,
  opts: { name?: string; status?: 'queued' | 'running' } = {},
): RunRow {
  const p = args.plan;
  const at = args.checkpointSteps ? `step ${args.checkpointSteps.join(', ')}` : 'latest checkpoint';
  const lambdas = p.epsScales.some((l) => l !== 1) ? ` · lambda ${p.epsScales.join('/')}` : '';
  const info = appInfo();
  return store.createRun({
    name: opts.name ?? `${source.name} · eval ${at} · T' ${p.steps.map((s) => s || 'all').join('/')}${lambdas} · n ${p.n}`,
    kind: 'evaluate',
    experimentId: source.experimentId,
    objective: source.objective,
    gamma: source.gamma,
    dataset: source.dataset,
    preset: source.preset,
    config: { ...args },
    seed: p.seed,
    status: opts.status ?? 'queued',
    parentRunId: source.id,
    machine: machineInfo(),
    appVersion: info.version,
    gitCommit: info.gitCommit,
  });
}

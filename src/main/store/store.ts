/**
 * The run-history store: one typed interface over lab.sqlite, and the only file with query SQL
 * (migrations.ts holds the DDL).
 *
 * Concurrency model: the app (or `xlab serve`) and every job process open their own connection.
 * WAL lets readers proceed while one writer commits; every write runs in a BEGIN IMMEDIATE
 * transaction, which takes the write lock up front and waits (busy_timeout) for it. A deferred
 * transaction that reads and then writes can instead fail with SQLITE_BUSY at once, whatever the
 * timeout, when another process committed in between — so no write path here uses one.
 *
 * Failure model: each public write is one transaction, so a full disk, a read-only file system or
 * a crash leaves the database exactly as before the call; the error says which file and why.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertSafeRelativePath, resolveInDataDir, runDirRelative } from './artifacts';
import { ensureDataDir, layoutOf } from './data-dir';
import { newArtifactId, newRunId } from './ids';
import { APPLICATION_ID, SCHEMA_VERSION, migrate } from './migrations';
import {
  type AnalysisRow,
  type ArtifactKind,
  type ArtifactRow,
  type CheckpointRow,
  type EvaluationKeyRow,
  type EvaluationRow,
  type ExperimentRow,
  type JobKind,
  type JobRow,
  type JobStatus,
  type JsonObject,
  type ListAnalysesQuery,
  type ListJobsQuery,
  type ListRunsQuery,
  type MetricPoint,
  type MetricSeries,
  type NewAnalysis,
  type NewArtifact,
  type NewCheckpoint,
  type NewEvaluation,
  type NewExperiment,
  type NewJob,
  type NewRun,
  type NewSampleSet,
  type NoteRow,
  type RunKind,
  type RunOrderField,
  type RunPatch,
  type RunRow,
  type RunStatus,
  type SampleSetRow,
  NewAnalysisSchema,
  NewArtifactSchema,
  NewCheckpointSchema,
  NewEvaluationSchema,
  NewExperimentSchema,
  NewJobSchema,
  NewRunSchema,
  NewSampleSetSchema,
  RUN_ORDER_FIELDS,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  RunPatchSchema,
  StoreError,
  TERMINAL_RUN_STATUSES,
  parseInput,
} from './types';

export * from './types';
export { SCHEMA_VERSION } from './migrations';

export interface OpenStoreOptions {
  readonly?: boolean;
  /** How long a write waits for another process's write lock before giving up. Default 15 s. */
  busyTimeoutMs?: number;
  /**
   * Caps the database size in pages (PRAGMA max_page_count). A quota; tests also use it to make
   * "disk full" happen on demand.
   */
  maxPageCount?: number;
}

export interface MetricSeriesOptions {
  fromStep?: number;
  toStep?: number;
  /** Downsample (largest-triangle-three-buckets, first and last point kept) to at most this many. */
  maxPoints?: number;
}

export interface ListEvaluationsQuery {
  runId?: string;
  sampleSetId?: number;
  metric?: string;
  comparabilityKey?: string;
}

export interface Store {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly readonly: boolean;
  readonly schemaVersion: number;
  /** Runs fn in one IMMEDIATE transaction; store calls inside it join that transaction. */
  transaction<T>(fn: () => T): T;

  createExperiment(input: NewExperiment): ExperimentRow;
  getExperiment(id: number): ExperimentRow | undefined;
  listExperiments(): ExperimentRow[];

  createRun(input: NewRun): RunRow;
  getRun(id: string): RunRow | undefined;
  /** With columns 'summary', config is {} and machine null (much faster for long lists). */
  listRuns(query?: ListRunsQuery, opts?: { columns?: 'full' | 'summary' }): RunRow[];
  countRuns(query?: Omit<ListRunsQuery, 'limit' | 'offset' | 'orderBy' | 'direction'>): number;
  updateRun(id: string, patch: RunPatch, opts?: { expectStatus?: RunStatus | readonly RunStatus[] }): RunRow;
  /** Deletes the run and everything hanging off it; returns its artifact folder for the caller to remove. */
  deleteRun(id: string, opts?: { force?: boolean }): { dir: string; absDir: string } | undefined;

  appendMetrics(runId: string, rows: readonly MetricPoint[]): number;
  metricSeries(runId: string, name: string, opts?: MetricSeriesOptions): MetricSeries;
  metricNames(runId: string): string[];
  truncateMetricsAfter(runId: string, step: number): number;

  addCheckpoint(input: NewCheckpoint): CheckpointRow;
  listCheckpoints(runId: string): CheckpointRow[];
  latestCheckpoint(runId: string): CheckpointRow | undefined;

  addSampleSet(input: NewSampleSet): SampleSetRow;
  getSampleSet(id: number): SampleSetRow | undefined;
  listSampleSets(runId: string): SampleSetRow[];

  /**
   * Records a score. A 'fid' score also refreshes the run's cached best_fid: the lowest FID under
   * the run's most used FID key (most rows; ties: the most recently used key), so the runs list
   * never shows a minimum taken across incomparable settings (e.g. T' = 20 and T' = 1000).
   */
  addEvaluation(input: NewEvaluation): EvaluationRow;
  listEvaluations(query?: ListEvaluationsQuery): EvaluationRow[];
  /** The comparability keys of these runs' scores (one row per key and metric), by metric then key. */
  evaluationKeys(runIds: readonly string[], metric?: string): EvaluationKeyRow[];
  /** These runs' scores of one metric, for curves: by run, checkpoint step, T', id. */
  evaluationSeries(runIds: readonly string[], metric: string, opts?: { key?: string }): EvaluationRow[];

  /** Records an analysis of a training run (its result already checked by the caller). */
  addAnalysis(input: NewAnalysis): AnalysisRow;
  /** Oldest first. */
  listAnalyses(query?: ListAnalysesQuery): AnalysisRow[];

  tag(runId: string, tag: string): void;
  untag(runId: string, tag: string): boolean;
  /** Tags of one run, or every tag in use when runId is omitted; sorted. */
  listTags(runId?: string): string[];

  addNote(runId: string, text: string): NoteRow;
  listNotes(runId: string): NoteRow[];

  registerArtifact(input: NewArtifact): ArtifactRow;
  getArtifact(id: string): ArtifactRow | undefined;
  listArtifacts(runId: string): ArtifactRow[];

  enqueueJob(input: NewJob): JobRow;
  getJob(id: number): JobRow | undefined;
  /** Atomically moves the best queued job (priority, then age) to running under this pid. */
  claimNextJob(pid: number, opts?: { kinds?: readonly JobKind[] }): JobRow | undefined;
  /** False when the job is no longer running as this pid (cancelled, interrupted): the job should stop. */
  heartbeat(jobId: number, pid?: number): boolean;
  finishJob(jobId: number, logTail?: string): boolean;
  failJob(jobId: number, error: string, logTail?: string): boolean;
  cancelJob(jobId: number): boolean;
  /** interrupted / failed / cancelled -> queued, for resume. */
  requeueJob(jobId: number): boolean;
  listJobs(query?: ListJobsQuery): JobRow[];
  /**
   * For a restarted supervisor: running jobs whose pid is dead (or whose heartbeat is older than
   * staleAfterMs, which catches pid reuse) become 'interrupted', and so do their runs if running.
   */
  markDeadJobsInterrupted(isAlive: (pid: number) => boolean, opts?: { staleAfterMs?: number }): JobRow[];

  close(): void;
}

// ---------------------------------------------------------------------------------------------
// Raw rows, as SQLite returns them

interface RawExperiment {
  id: number;
  name: string;
  description: string | null;
  created_at: number;
  run_count: number;
}

interface RawRun {
  id: string;
  experiment_id: number | null;
  name: string;
  kind: RunKind;
  objective: string | null;
  gamma: number | null;
  dataset: string | null;
  preset: string | null;
  config_json: string;
  seed: number;
  status: RunStatus;
  steps_done: number;
  steps_planned: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  backend: string | null;
  machine_json: string | null;
  app_version: string | null;
  git_commit: string | null;
  error: string | null;
  dir: string;
  parent_run_id: string | null;
  best_fid: number | null;
}

interface RawCheckpoint {
  run_id: string;
  step: number;
  path: string;
  created_at: number;
  is_ema_included: number;
  bytes: number | null;
  artifact_id: string | null;
}

interface RawSampleSet {
  id: number;
  run_id: string;
  checkpoint_step: number | null;
  sampler_json: string;
  steps_spec: string | null;
  eps_scale: number | null;
  seed: number;
  count: number;
  npz_path: string | null;
  grid_path: string | null;
  npz_artifact_id: string | null;
  grid_artifact_id: string | null;
  created_at: number;
}

interface RawEvaluation {
  id: number;
  run_id: string;
  sample_set_id: number | null;
  metric: string;
  value: number;
  ci_low: number | null;
  ci_high: number | null;
  comparability_key: string;
  details_json: string | null;
  created_at: number;
  checkpoint_step: number | null;
  sampling_steps: number | null;
}

interface RawAnalysis {
  id: number;
  run_id: string;
  kind: AnalysisRow['kind'];
  checkpoint_step: number | null;
  params_json: string;
  result_json: string;
  created_at: number;
}

interface RawNote {
  id: number;
  run_id: string;
  text: string;
  created_at: number;
}

interface RawJob {
  id: number;
  run_id: string;
  kind: JobKind;
  status: JobStatus;
  args_json: string;
  pid: number | null;
  attempts: number;
  priority: number;
  created_at: number;
  started_at: number | null;
  heartbeat_at: number | null;
  finished_at: number | null;
  error: string | null;
  log_tail: string | null;
}

interface RawArtifact {
  id: string;
  run_id: string;
  rel_path: string;
  kind: ArtifactKind;
  bytes: number | null;
  created_at: number;
}

const TAG_SEPARATOR = '\u001f';

function parseJsonObject(text: string): JsonObject {
  return JSON.parse(text) as JsonObject;
}

function toExperiment(r: RawExperiment): ExperimentRow {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    createdAt: r.created_at,
    runCount: r.run_count,
  };
}

/** Column order of RUN_COLUMNS; listing reads rows as arrays (about 2x faster than row objects). */
const RUN_FIELDS = [
  'id',
  'experiment_id',
  'name',
  'kind',
  'objective',
  'gamma',
  'dataset',
  'preset',
  'config_json',
  'seed',
  'status',
  'steps_done',
  'steps_planned',
  'created_at',
  'started_at',
  'finished_at',
  'backend',
  'machine_json',
  'app_version',
  'git_commit',
  'error',
  'dir',
  'parent_run_id',
  'best_fid',
] as const;

function toRun(a: unknown[]): RunRow {
  const machine = a[17] as string | null;
  const tags = a[24] as string | null;
  return {
    id: a[0] as string,
    experimentId: a[1] as number | null,
    name: a[2] as string,
    kind: a[3] as RunKind,
    objective: a[4] as string | null,
    gamma: a[5] as number | null,
    dataset: a[6] as string | null,
    preset: a[7] as string | null,
    config: parseJsonObject(a[8] as string),
    seed: a[9] as number,
    status: a[10] as RunStatus,
    stepsDone: a[11] as number,
    stepsPlanned: a[12] as number | null,
    createdAt: a[13] as number,
    startedAt: a[14] as number | null,
    finishedAt: a[15] as number | null,
    backend: a[16] as string | null,
    machine: machine === null ? null : parseJsonObject(machine),
    appVersion: a[18] as string | null,
    gitCommit: a[19] as string | null,
    error: a[20] as string | null,
    dir: a[21] as string,
    parentRunId: a[22] as string | null,
    bestFid: a[23] as number | null,
    tags: tags ? tags.split(TAG_SEPARATOR).sort() : [],
    noteCount: a[25] as number,
    lastNote: a[26] as string | null,
  };
}

function toCheckpoint(r: RawCheckpoint): CheckpointRow {
  return {
    runId: r.run_id,
    step: r.step,
    path: r.path,
    createdAt: r.created_at,
    isEmaIncluded: r.is_ema_included === 1,
    bytes: r.bytes,
    artifactId: r.artifact_id,
  };
}

function toSampleSet(r: RawSampleSet): SampleSetRow {
  return {
    id: r.id,
    runId: r.run_id,
    checkpointStep: r.checkpoint_step,
    sampler: parseJsonObject(r.sampler_json),
    stepsSpec: r.steps_spec,
    epsScale: r.eps_scale,
    seed: r.seed,
    count: r.count,
    npzPath: r.npz_path,
    gridPath: r.grid_path,
    npzArtifactId: r.npz_artifact_id,
    gridArtifactId: r.grid_artifact_id,
    createdAt: r.created_at,
  };
}

function toEvaluation(r: RawEvaluation): EvaluationRow {
  return {
    id: r.id,
    runId: r.run_id,
    sampleSetId: r.sample_set_id,
    metric: r.metric,
    value: r.value,
    ciLow: r.ci_low,
    ciHigh: r.ci_high,
    comparabilityKey: r.comparability_key,
    details: r.details_json === null ? null : parseJsonObject(r.details_json),
    createdAt: r.created_at,
    checkpointStep: r.checkpoint_step,
    samplingSteps: r.sampling_steps,
  };
}

function toAnalysis(r: RawAnalysis): AnalysisRow {
  return {
    id: r.id,
    runId: r.run_id,
    kind: r.kind,
    checkpointStep: r.checkpoint_step,
    params: parseJsonObject(r.params_json),
    result: JSON.parse(r.result_json) as AnalysisRow['result'],
    createdAt: r.created_at,
  };
}

function toNote(r: RawNote): NoteRow {
  return { id: r.id, runId: r.run_id, text: r.text, createdAt: r.created_at };
}

function toJob(r: RawJob): JobRow {
  return {
    id: r.id,
    runId: r.run_id,
    kind: r.kind,
    status: r.status,
    args: parseJsonObject(r.args_json),
    pid: r.pid,
    attempts: r.attempts,
    priority: r.priority,
    createdAt: r.created_at,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    finishedAt: r.finished_at,
    error: r.error,
    logTail: r.log_tail,
  };
}

function toArtifact(r: RawArtifact): ArtifactRow {
  return { id: r.id, runId: r.run_id, relPath: r.rel_path, kind: r.kind, bytes: r.bytes, createdAt: r.created_at };
}

// ---------------------------------------------------------------------------------------------
// SQL

/** The newest note as the runs list shows it: its first characters. */
const LAST_NOTE_CHARS = 200;

const RUN_COLUMNS =
  RUN_FIELDS.map((c) => `r.${c}`).join(', ') +
  `, (SELECT group_concat(t.tag, char(31)) FROM tags t WHERE t.run_id = r.id) AS tags_concat` +
  // The runs list shows how many notes a run has and the newest one (both off notes_by_run).
  `, (SELECT count(*) FROM notes n WHERE n.run_id = r.id) AS note_count` +
  `, (SELECT substr(n.text, 1, ${LAST_NOTE_CHARS}) FROM notes n WHERE n.run_id = r.id ORDER BY n.created_at DESC, n.id DESC LIMIT 1) AS last_note`;

/**
 * The same columns with the JSON blobs left out: parsing 10,000 configs dominates a full listing,
 * and a list view shows none of them.
 */
const RUN_SUMMARY_COLUMNS = RUN_COLUMNS.replace('r.config_json', `'{}'`).replace('r.machine_json', 'NULL');

const EXPERIMENT_SELECT = `
  SELECT e.*, (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id) AS run_count
  FROM experiments e`;

const CHECKPOINT_SELECT = `
  SELECT c.*, a.id AS artifact_id
  FROM checkpoints c LEFT JOIN artifacts a ON a.rel_path = c.path`;

const SAMPLE_SET_SELECT = `
  SELECT s.*, an.id AS npz_artifact_id, ag.id AS grid_artifact_id
  FROM sample_sets s
  LEFT JOIN artifacts an ON an.rel_path = s.npz_path
  LEFT JOIN artifacts ag ON ag.rel_path = s.grid_path`;

const ARTIFACT_UPSERT = `
  INSERT INTO artifacts (id, run_id, rel_path, kind, bytes, created_at)
  VALUES (@id, @runId, @relPath, @kind, @bytes, @createdAt)
  ON CONFLICT (rel_path) DO UPDATE SET bytes = coalesce(excluded.bytes, artifacts.bytes)`;

/** SQL for each orderBy; whitelisted so no caller string ever reaches the query text. */
const RUN_ORDER: Record<RunOrderField, { sql: (dir: 'ASC' | 'DESC') => string; defaultDir: 'asc' | 'desc' }> = {
  createdAt: { sql: (d) => `r.created_at ${d}, r.id ${d}`, defaultDir: 'desc' },
  name: { sql: (d) => `r.name COLLATE NOCASE ${d}, r.id ${d}`, defaultDir: 'asc' },
  status: { sql: (d) => `r.status ${d}, r.created_at DESC, r.id DESC`, defaultDir: 'asc' },
  bestFid: { sql: (d) => `r.best_fid IS NULL, r.best_fid ${d}, r.created_at DESC, r.id DESC`, defaultDir: 'asc' },
  finishedAt: { sql: (d) => `r.finished_at IS NULL, r.finished_at ${d}, r.id ${d}`, defaultDir: 'desc' },
  stepsDone: { sql: (d) => `r.steps_done ${d}, r.created_at DESC, r.id DESC`, defaultDir: 'desc' },
};

// ---------------------------------------------------------------------------------------------
// Errors

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

function translateError(err: unknown, dbPath: string): unknown {
  if (err instanceof StoreError) return err;
  const code = sqliteCode(err);
  if (!code) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const unchanged = 'Nothing from this operation was saved.';
  if (code === 'SQLITE_FULL') {
    return new StoreError(
      'DISK_FULL',
      `cannot write to ${dbPath}: the disk is full (or the database reached its size limit). ${unchanged} ` +
        `Free some space, or move the data dir (--data-dir / XLAB_HOME).`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new StoreError(
      'NOT_WRITABLE',
      `cannot write to ${dbPath}: the database or its folder is read-only (${detail}). ${unchanged} ` +
        `Make it writable, or choose another data dir with --data-dir / XLAB_HOME.`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) {
    return new StoreError('IO', `I/O error on ${dbPath} (${code}: ${detail}). ${unchanged}`, { cause: err });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreError(
      'BUSY',
      `${dbPath} stayed locked by another process past the busy timeout (${code}). ${unchanged}`,
      { cause: err },
    );
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new StoreError('NOT_A_DATABASE', `${dbPath} is damaged (${detail}). ${unchanged}`, { cause: err });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new StoreError('NOT_FOUND', `refers to a run, experiment or sample set that does not exist (${detail})`, {
      cause: err,
    });
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new StoreError('CONFLICT', `already exists (${detail})`, { cause: err });
  }
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new StoreError('INVALID', `rejected by the schema (${detail})`, { cause: err });
  }
  return err;
}

// ---------------------------------------------------------------------------------------------
// Opening

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function notADatabase(dbPath: string, why: string, cause?: unknown): StoreError {
  return new StoreError(
    'NOT_A_DATABASE',
    `${dbPath} is not a usable Exposure Lab database: ${why}. It was left untouched; ` +
      `move it aside (or restore a backup), or use another --data-dir.`,
    cause === undefined ? undefined : { cause },
  );
}

function newerSchema(dbPath: string, version: number): StoreError {
  return new StoreError(
    'NEWER_SCHEMA',
    `${dbPath} was created by a newer Exposure Lab (schema ${version} > ${SCHEMA_VERSION}); ` +
      `upgrade the app or use another --data-dir. The file was not modified.`,
  );
}

function foreignDatabase(dbPath: string, appId: number, detail: string): StoreError {
  return new StoreError(
    'FOREIGN_DATABASE',
    `${dbPath} is an SQLite database that belongs to another program (application_id ${appId}${detail}). ` +
      `It was left untouched; use another --data-dir.`,
  );
}

interface Preflight {
  exists: boolean;
  version: number;
}

/**
 * Decides from the file alone (no SQLite connection, so not even a -wal/-shm file appears) whether
 * we may open it: missing or empty means new; a wrong magic, a foreign application_id or a newer
 * user_version is refused here. The header is authoritative unless a non-empty -wal exists (a
 * crashed or live writer may have committed newer pages there); then a read-only connection
 * looks, which reuses the existing sidecar files and never checkpoints.
 */
function preflight(dbPath: string, readonly: boolean): Preflight {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dbPath, { throwIfNoEntry: false });
  } catch (err) {
    // ENOTDIR and friends: there is no database; ensureDataDir explains what is wrong with the folder.
    if (!readonly) return { exists: false, version: 0 };
    throw new StoreError('NOT_FOUND', `cannot open ${dbPath}: ${(err as Error).message}`, { cause: err });
  }
  if (!st) {
    if (readonly) {
      throw new StoreError('NOT_FOUND', `no Exposure Lab database at ${dbPath} (nothing to open read-only)`);
    }
    return { exists: false, version: 0 };
  }
  if (!st.isFile()) throw notADatabase(dbPath, 'it is not a regular file');
  if (st.size === 0) {
    if (readonly) throw new StoreError('OLDER_SCHEMA', `${dbPath} is empty; open it once read-write to create it`);
    return { exists: false, version: 0 }; // SQLite's own meaning of an empty file: a new database
  }
  const header = Buffer.alloc(100);
  const fd = fs.openSync(dbPath, 'r');
  let got: number;
  try {
    got = fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (got < 100 || !header.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
    throw notADatabase(dbPath, 'it does not start with the SQLite header');
  }
  const version = header.readUInt32BE(60);
  const appId = header.readUInt32BE(68);
  if (appId !== 0 && appId !== APPLICATION_ID) throw foreignDatabase(dbPath, appId, '');

  const wal = fs.statSync(`${dbPath}-wal`, { throwIfNoEntry: false });
  if (!wal || wal.size === 0) {
    if (version > SCHEMA_VERSION) throw newerSchema(dbPath, version);
    return { exists: true, version };
  }
  let probe: Db | undefined;
  try {
    probe = new Database(dbPath, { readonly: true, fileMustExist: true });
    return { exists: true, version: inspect(probe, dbPath) };
  } catch (err) {
    throw translateOpenError(err, dbPath);
  } finally {
    probe?.close();
  }
}

/**
 * The checks that need SQLite, run before anything writes: identity, version, and PRAGMA
 * quick_check (page-level damage that a valid header cannot reveal). Returns user_version.
 */
function inspect(db: Db, dbPath: string): number {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = db
    .prepare(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
    .pluck()
    .get() as number;
  // Migration 1 sets application_id and user_version in its own transaction, so a file of ours
  // never has tables without both.
  if (appId !== APPLICATION_ID && (appId !== 0 || version !== 0 || tables > 0)) {
    throw foreignDatabase(dbPath, appId, `, ${tables} tables`);
  }
  if (version > SCHEMA_VERSION) throw newerSchema(dbPath, version);
  const check = db.pragma('quick_check') as { quick_check: string }[];
  if (check.length !== 1 || check[0]!.quick_check !== 'ok') {
    const problems = check
      .slice(0, 3)
      .map((r) => r.quick_check)
      .join('; ');
    throw notADatabase(dbPath, `its integrity check failed (${problems})`);
  }
  return version;
}

function translateOpenError(err: unknown, dbPath: string, readonly = false): unknown {
  if (err instanceof StoreError) return err;
  const code = sqliteCode(err);
  if (code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT')) {
    return notADatabase(dbPath, err instanceof Error ? err.message : String(err), err);
  }
  if (readonly && code?.startsWith('SQLITE_CANTOPEN') && !fs.existsSync(`${dbPath}-shm`)) {
    // SQLite can read a WAL-mode file only through its -shm index, which it must create.
    return new StoreError(
      'NOT_WRITABLE',
      `cannot open ${dbPath} read-only: SQLite needs to create ${path.basename(dbPath)}-shm beside it and ` +
        `the folder is not writable (read-only file system or media?). Copy the data dir to writable ` +
        `storage and point --data-dir / XLAB_HOME at the copy. The file was not modified.`,
      { cause: err },
    );
  }
  return translateError(err, dbPath);
}

function configure(db: Db, readonly: boolean, opts: OpenStoreOptions): void {
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL never corrupts; a power cut can only lose the last commits.
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  if (opts.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxPageCount))}`);
}

export function openStore(dataDir: string, opts: OpenStoreOptions = {}): Store {
  const readonly = opts.readonly === true;
  // Inspect before creating anything: a refused data dir must come out exactly as it went in.
  const pre = preflight(layoutOf(dataDir).dbPath, readonly);
  const layout = readonly ? layoutOf(dataDir) : ensureDataDir(dataDir);
  const dbPath = layout.dbPath;
  const busyTimeoutMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 15_000));

  let db: Db;
  try {
    // `timeout` is better-sqlite3's busy_timeout; it is in force before the first statement,
    // which matters because switching to WAL needs the lock another process may hold.
    db = new Database(dbPath, { readonly, fileMustExist: readonly, timeout: busyTimeoutMs });
  } catch (err) {
    throw translateError(err, dbPath);
  }
  let version: number;
  try {
    // Nothing before inspect() writes: a file that fails it is closed untouched (closing our own
    // connection to a WAL file with an empty WAL removes the sidecars and writes no pages).
    if (pre.exists) inspect(db, dbPath);
    configure(db, readonly, opts);
    if (!readonly) migrate(db);
    version = db.pragma('user_version', { simple: true }) as number;
    // Re-checked after migrate: another process may have upgraded the file in between.
    if (version > SCHEMA_VERSION) throw newerSchema(dbPath, version);
    if (readonly && version < SCHEMA_VERSION) {
      throw new StoreError(
        'OLDER_SCHEMA',
        `${dbPath} uses schema ${version}; this version needs ${SCHEMA_VERSION}. ` +
          `Open it once without read-only mode to upgrade it.`,
      );
    }
  } catch (err) {
    db.close();
    throw translateOpenError(err, dbPath, readonly);
  }
  return createStore(db, layout.root, dbPath, readonly, version);
}

// ---------------------------------------------------------------------------------------------
// Downsampling

/**
 * Largest-triangle-three-buckets: keeps the points that carry the curve's visible shape (spikes
 * survive, unlike striding). Non-finite points win their bucket, so a divergence stays visible.
 */
function lttb(x: readonly number[], y: readonly number[], threshold: number): number[] {
  const n = x.length;
  if (threshold >= n || threshold < 3) {
    if (threshold >= n) return Array.from({ length: n }, (_, i) => i);
    return threshold <= 1 ? [n - 1] : [0, n - 1];
  }
  const out: number[] = [0];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let i = 0; i < threshold - 2; i++) {
    const avgStart = Math.floor((i + 1) * every) + 1;
    const avgEnd = Math.min(Math.floor((i + 2) * every) + 1, n);
    let avgX = 0;
    let avgY = 0;
    let m = 0;
    for (let j = avgStart; j < avgEnd; j++) {
      if (Number.isFinite(y[j]!)) {
        avgX += x[j]!;
        avgY += y[j]!;
        m++;
      }
    }
    if (m > 0) {
      avgX /= m;
      avgY /= m;
    } else {
      avgX = x[Math.min(avgStart, n - 1)]!;
      avgY = y[a]!;
    }
    const rangeStart = Math.floor(i * every) + 1;
    const rangeEnd = Math.floor((i + 1) * every) + 1;
    const ax = x[a]!;
    const ay = Number.isFinite(y[a]!) ? y[a]! : avgY;
    let best = rangeStart;
    let bestArea = -1;
    for (let j = rangeStart; j < rangeEnd; j++) {
      const yj = y[j]!;
      const area = Number.isFinite(yj)
        ? Math.abs((ax - avgX) * (yj - ay) - (ax - x[j]!) * (avgY - ay))
        : Number.POSITIVE_INFINITY;
      if (area > bestArea) {
        bestArea = area;
        best = j;
      }
    }
    out.push(best);
    a = best;
  }
  out.push(n - 1);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The store

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

function asArray<T>(v: T | readonly T[] | undefined): readonly T[] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

function checkInt(v: number | undefined, what: string, min = 0): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) {
    throw new StoreError('INVALID', `${what} must be an integer >= ${min}, got ${v}`);
  }
}

const WRITE_METHODS = new Set<string>([
  'transaction',
  'createExperiment',
  'createRun',
  'updateRun',
  'deleteRun',
  'appendMetrics',
  'truncateMetricsAfter',
  'addCheckpoint',
  'addSampleSet',
  'addEvaluation',
  'addAnalysis',
  'tag',
  'untag',
  'addNote',
  'registerArtifact',
  'enqueueJob',
  'claimNextJob',
  'heartbeat',
  'finishJob',
  'failJob',
  'cancelJob',
  'requeueJob',
  'markDeadJobsInterrupted',
]);

function createStore(db: Db, dataDir: string, dbPath: string, isReadonly: boolean, version: number): Store {
  const cache = new Map<string, Statement>();
  const stmt = (sql: string): Statement => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  const now = (): number => Date.now();
  // One transaction wrapper for all writes (better-sqlite3 builds four wrappers per db.transaction
  // call, a measurable cost at 10k small writes); the work is passed in as the argument.
  const inTransaction = db.transaction((fn: () => unknown) => fn());
  /** Every write goes through here: one IMMEDIATE transaction (a savepoint when nested). */
  const write = <T>(fn: () => T): T => inTransaction.immediate(fn) as T;

  const runRaw = (id: string): RawRun | undefined =>
    stmt(`SELECT * FROM runs WHERE id = ?`).get(id) as RawRun | undefined;
  const requireRun = (id: string): RawRun => {
    const r = runRaw(id);
    if (!r) throw new StoreError('NOT_FOUND', `no run with id ${JSON.stringify(id)}`);
    return r;
  };
  const requireRunExists = (id: string): void => {
    if (stmt(`SELECT 1 FROM runs WHERE id = ?`).pluck().get(id) === undefined) {
      throw new StoreError('NOT_FOUND', `no run with id ${JSON.stringify(id)}`);
    }
  };
  const jobRaw = (id: number): RawJob | undefined => stmt(`SELECT * FROM jobs WHERE id = ?`).get(id) as RawJob | undefined;

  const upsertArtifact = (runId: string, relPath: string, kind: ArtifactKind, bytes: number | null): void => {
    stmt(ARTIFACT_UPSERT).run({ id: newArtifactId(), runId, relPath, kind, bytes, createdAt: now() });
  };

  function runFilter(q: Omit<ListRunsQuery, 'limit' | 'offset' | 'orderBy' | 'direction'>): {
    where: string;
    params: Record<string, unknown>;
  } {
    const clauses: string[] = [];
    const params: Record<string, unknown> = {};
    const statuses = asArray(q.status);
    if (statuses) {
      if (statuses.length === 0) clauses.push('0');
      else {
        for (const s of statuses) {
          if (!RUN_STATUSES.includes(s)) throw new StoreError('INVALID', `unknown run status ${JSON.stringify(s)}`);
        }
        clauses.push(`r.status IN (${statuses.map((_, i) => `@status${i}`).join(', ')})`);
        statuses.forEach((s, i) => (params[`status${i}`] = s));
      }
    }
    if (q.experimentId === null) clauses.push('r.experiment_id IS NULL');
    else if (q.experimentId !== undefined) {
      clauses.push('r.experiment_id = @experimentId');
      params.experimentId = q.experimentId;
    }
    if (q.kind !== undefined) {
      clauses.push('r.kind = @kind');
      params.kind = q.kind;
    }
    if (q.preset !== undefined) {
      clauses.push('r.preset = @preset');
      params.preset = q.preset;
    }
    if (q.objective !== undefined) {
      clauses.push('r.objective = @objective');
      params.objective = q.objective;
    }
    if (q.tag !== undefined) {
      clauses.push('EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag = @tag)');
      params.tag = q.tag;
    }
    const search = q.search?.trim();
    if (search) {
      params.search = `%${escapeLike(search)}%`;
      clauses.push(
        `(r.name LIKE @search ESCAPE '\\' OR r.id LIKE @search ESCAPE '\\' OR r.dataset LIKE @search ESCAPE '\\'` +
          ` OR r.preset LIKE @search ESCAPE '\\' OR r.objective LIKE @search ESCAPE '\\'` +
          ` OR EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag LIKE @search ESCAPE '\\'))`,
      );
    }
    return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
  }

  const getSampleSet = (id: number): SampleSetRow | undefined => {
    const r = stmt(`${SAMPLE_SET_SELECT} WHERE s.id = ?`).get(id) as RawSampleSet | undefined;
    return r && toSampleSet(r);
  };
  const getRun = (id: string): RunRow | undefined => {
    const r = stmt(`SELECT ${RUN_COLUMNS} FROM runs r WHERE r.id = ?`).raw(true).get(id) as unknown[] | undefined;
    return r && toRun(r);
  };
  const getExperiment = (id: number): ExperimentRow | undefined => {
    const r = stmt(`${EXPERIMENT_SELECT} WHERE e.id = ?`).get(id) as RawExperiment | undefined;
    return r && toExperiment(r);
  };
  const getJob = (id: number): JobRow | undefined => {
    const r = jobRaw(id);
    return r && toJob(r);
  };

  const impl: Store = {
    dataDir,
    dbPath,
    readonly: isReadonly,
    schemaVersion: version,

    transaction: (fn) => write(fn),

    // --- experiments ------------------------------------------------------------------------
    createExperiment(input) {
      const e = parseInput(NewExperimentSchema, input, 'experiment');
      return write(() => {
        if (stmt(`SELECT 1 FROM experiments WHERE name = ?`).pluck().get(e.name) !== undefined) {
          throw new StoreError('CONFLICT', `an experiment named ${JSON.stringify(e.name)} already exists`);
        }
        const id = stmt(`INSERT INTO experiments (name, description, created_at) VALUES (?, ?, ?)`).run(
          e.name,
          e.description ?? null,
          now(),
        ).lastInsertRowid;
        return getExperiment(Number(id))!;
      });
    },
    getExperiment,
    listExperiments() {
      return (stmt(`${EXPERIMENT_SELECT} ORDER BY e.created_at DESC, e.id DESC`).all() as RawExperiment[]).map(
        toExperiment,
      );
    },

    // --- runs -------------------------------------------------------------------------------
    createRun(input) {
      const r = parseInput(NewRunSchema, input, 'run');
      const createdAt = r.createdAt ?? now();
      const id = r.id ?? newRunId(createdAt);
      const row = {
        id,
        experimentId: r.experimentId ?? null,
        name: r.name,
        kind: r.kind,
        objective: r.objective ?? null,
        gamma: r.gamma ?? null,
        dataset: r.dataset ?? null,
        preset: r.preset ?? null,
        config: JSON.stringify(r.config),
        seed: r.seed,
        status: r.status ?? 'queued',
        stepsDone: r.stepsDone ?? 0,
        stepsPlanned: r.stepsPlanned ?? null,
        createdAt,
        backend: r.backend ?? null,
        machine: r.machine == null ? null : JSON.stringify(r.machine),
        appVersion: r.appVersion ?? null,
        gitCommit: r.gitCommit ?? null,
        dir: runDirRelative(id),
        parentRunId: r.parentRunId ?? null,
      };
      return write(() => {
        if (row.experimentId !== null && !getExperiment(row.experimentId)) {
          throw new StoreError('NOT_FOUND', `no experiment with id ${row.experimentId}`);
        }
        if (row.parentRunId !== null) requireRunExists(row.parentRunId);
        stmt(
          `INSERT INTO runs (id, experiment_id, name, kind, objective, gamma, dataset, preset, config_json, seed,
             status, steps_done, steps_planned, created_at, backend, machine_json, app_version, git_commit, dir,
             parent_run_id)
           VALUES (@id, @experimentId, @name, @kind, @objective, @gamma, @dataset, @preset, @config, @seed,
             @status, @stepsDone, @stepsPlanned, @createdAt, @backend, @machine, @appVersion, @gitCommit, @dir,
             @parentRunId)`,
        ).run(row);
        return getRun(id)!;
      });
    },
    getRun,
    listRuns(query = {}, opts = {}) {
      checkInt(query.limit, 'limit');
      checkInt(query.offset, 'offset');
      const orderBy = query.orderBy ?? 'createdAt';
      if (!RUN_ORDER_FIELDS.includes(orderBy)) throw new StoreError('INVALID', `cannot order runs by ${orderBy}`);
      const order = RUN_ORDER[orderBy];
      const dir = (query.direction ?? order.defaultDir) === 'asc' ? 'ASC' : 'DESC';
      const { where, params } = runFilter(query);
      const columns = opts.columns === 'summary' ? RUN_SUMMARY_COLUMNS : RUN_COLUMNS;
      const sql = `SELECT ${columns} FROM runs r ${where} ORDER BY ${order.sql(dir)} LIMIT @limit OFFSET @offset`;
      const rows = stmt(sql)
        .raw(true)
        .all({ ...params, limit: query.limit ?? -1, offset: query.offset ?? 0 }) as unknown[][];
      return rows.map(toRun);
    },
    countRuns(query = {}) {
      const { where, params } = runFilter(query);
      return stmt(`SELECT count(*) FROM runs r ${where}`).pluck().get(params) as number;
    },
    updateRun(id, patch, opts = {}) {
      const p = parseInput(RunPatchSchema, patch, 'run update');
      return write(() => {
        const cur = requireRun(id);
        const expect = asArray(opts.expectStatus);
        if (expect && !expect.includes(cur.status)) {
          throw new StoreError(
            'CONFLICT',
            `run ${id} is ${cur.status}, expected ${expect.join(' or ')}; it was changed by someone else`,
          );
        }
        const sets: Record<string, unknown> = {};
        if (p.status !== undefined && p.status !== cur.status) {
          if (!RUN_TRANSITIONS[cur.status].includes(p.status)) {
            throw new StoreError('CONFLICT', `run ${id} cannot go from ${cur.status} to ${p.status}`);
          }
          sets.status = p.status;
          const t = now();
          if (p.status === 'running') {
            if (cur.started_at === null) sets.started_at = t;
            sets.finished_at = null;
            sets.error = null;
          } else if (p.status === 'queued') {
            sets.finished_at = null;
            sets.error = null;
          } else if (TERMINAL_RUN_STATUSES.includes(p.status)) {
            sets.finished_at = t;
          }
        }
        // Explicit fields win over the automatic timestamps above.
        if (p.stepsDone !== undefined) sets.steps_done = p.stepsDone;
        if (p.stepsPlanned !== undefined) sets.steps_planned = p.stepsPlanned;
        if (p.startedAt !== undefined) sets.started_at = p.startedAt;
        if (p.finishedAt !== undefined) sets.finished_at = p.finishedAt;
        if (p.error !== undefined) sets.error = p.error;
        if (p.backend !== undefined) sets.backend = p.backend;
        if (p.machine !== undefined) sets.machine_json = p.machine === null ? null : JSON.stringify(p.machine);
        if (p.name !== undefined) sets.name = p.name;
        if (p.config !== undefined) sets.config_json = JSON.stringify(p.config);
        if (p.experimentId !== undefined) {
          if (p.experimentId !== null && !getExperiment(p.experimentId)) {
            throw new StoreError('NOT_FOUND', `no experiment with id ${p.experimentId}`);
          }
          sets.experiment_id = p.experimentId;
        }
        const cols = Object.keys(sets).sort(); // sorted: a stable SQL text per column set keeps the cache small
        if (cols.length > 0) {
          stmt(`UPDATE runs SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`).run({ ...sets, id });
        }
        return getRun(id)!;
      });
    },
    deleteRun(id, opts = {}) {
      return write(() => {
        const cur = runRaw(id);
        if (!cur) return undefined;
        if (!opts.force) {
          const live = stmt(`SELECT count(*) FROM jobs WHERE run_id = ? AND status = 'running'`).pluck().get(id) as number;
          if (live > 0 || cur.status === 'running') {
            throw new StoreError('CONFLICT', `run ${id} is running; cancel it first (or delete with force)`);
          }
        }
        stmt(`DELETE FROM runs WHERE id = ?`).run(id);
        return { dir: cur.dir, absDir: resolveInDataDir(dataDir, cur.dir) };
      });
    },

    // --- metrics ----------------------------------------------------------------------------
    appendMetrics(runId, rows) {
      // Hand-rolled checks rather than zod: this is the hot path (every logged step), and a
      // batch must be rejected whole before the transaction starts.
      const t = now();
      const params = new Array<[string, number, string, number | null, number]>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        if (!Number.isInteger(r.step) || r.step < 0) {
          throw new StoreError('INVALID', `metrics[${i}].step must be an integer >= 0, got ${r.step}`);
        }
        if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 200) {
          throw new StoreError('INVALID', `metrics[${i}].name must be a non-empty string`);
        }
        if (typeof r.value !== 'number') throw new StoreError('INVALID', `metrics[${i}].value must be a number`);
        if (r.wallTime !== undefined && !Number.isFinite(r.wallTime)) {
          throw new StoreError('INVALID', `metrics[${i}].wallTime must be finite`);
        }
        params[i] = [runId, r.step, r.name, Number.isNaN(r.value) ? null : r.value, r.wallTime ?? t];
      }
      if (rows.length === 0) return 0;
      return write(() => {
        requireRunExists(runId);
        const ins = stmt(
          `INSERT INTO metrics (run_id, step, name, value, wall_time) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, wall_time = excluded.wall_time`,
        );
        for (const p of params) ins.run(p);
        return params.length;
      });
    },
    metricSeries(runId, name, opts = {}) {
      checkInt(opts.fromStep, 'fromStep');
      checkInt(opts.toStep, 'toStep');
      checkInt(opts.maxPoints, 'maxPoints', 1);
      // One statement building three JSON arrays in SQLite: about 2-3x faster than materialising
      // a JS row object per point, and a single consistent read. SQLite prints doubles with
      // round-trip precision; NaN was stored as NULL and comes back as null; +-Inf as 9e999.
      const r = stmt(
        `SELECT count(*) AS n, json_group_array(step) AS s, json_group_array(value) AS v,
                json_group_array(wall_time) AS w
         FROM (SELECT step, value, wall_time FROM metrics
               WHERE run_id = @runId AND name = @name AND step >= @from AND step <= @to ORDER BY step)`,
      ).get({ runId, name, from: opts.fromStep ?? 0, to: opts.toStep ?? Number.MAX_SAFE_INTEGER }) as {
        n: number;
        s: string;
        v: string;
        w: string;
      };
      const step = JSON.parse(r.s) as number[];
      const value = JSON.parse(r.v) as (number | null)[];
      const wall = JSON.parse(r.w) as (number | null)[];
      for (let i = 0; i < value.length; i++) if (value[i] === null) value[i] = Number.NaN;
      for (let i = 0; i < wall.length; i++) if (wall[i] === null) wall[i] = Number.NaN;
      const total = r.n;
      if (opts.maxPoints === undefined || total <= opts.maxPoints) {
        return { step, value: value as number[], wallTime: wall as number[], total };
      }
      const keep = lttb(step, value as number[], opts.maxPoints);
      return {
        step: keep.map((i) => step[i]!),
        value: keep.map((i) => value[i] as number),
        wallTime: keep.map((i) => wall[i] as number),
        total,
      };
    },
    metricNames(runId) {
      // Skip-scan over the (run_id, name, step) key: one probe per distinct name, not per point.
      const names: string[] = [];
      let last: string | undefined = stmt(`SELECT min(name) FROM metrics WHERE run_id = ?`).pluck().get(runId) as
        | string
        | undefined;
      const next = stmt(`SELECT min(name) FROM metrics WHERE run_id = ? AND name > ?`).pluck();
      while (last !== undefined && last !== null) {
        names.push(last);
        last = next.get(runId, last) as string | undefined;
      }
      return names;
    },
    truncateMetricsAfter(runId, step) {
      checkInt(step, 'step');
      return write(() => {
        requireRunExists(runId);
        return stmt(`DELETE FROM metrics WHERE run_id = ? AND step > ?`).run(runId, step).changes;
      });
    },

    // --- checkpoints ------------------------------------------------------------------------
    addCheckpoint(input) {
      const c = parseInput(NewCheckpointSchema, input, 'checkpoint');
      assertSafeRelativePath(c.path);
      return write(() => {
        requireRunExists(c.runId);
        stmt(
          `INSERT INTO checkpoints (run_id, step, path, created_at, is_ema_included, bytes)
           VALUES (@runId, @step, @path, @createdAt, @ema, @bytes)
           ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, created_at = excluded.created_at,
             is_ema_included = excluded.is_ema_included, bytes = excluded.bytes`,
        ).run({
          runId: c.runId,
          step: c.step,
          path: c.path,
          createdAt: c.createdAt ?? now(),
          ema: c.isEmaIncluded ? 1 : 0,
          bytes: c.bytes ?? null,
        });
        upsertArtifact(c.runId, c.path, 'checkpoint', c.bytes ?? null);
        return toCheckpoint(
          stmt(`${CHECKPOINT_SELECT} WHERE c.run_id = ? AND c.step = ?`).get(c.runId, c.step) as RawCheckpoint,
        );
      });
    },
    listCheckpoints(runId) {
      return (stmt(`${CHECKPOINT_SELECT} WHERE c.run_id = ? ORDER BY c.step`).all(runId) as RawCheckpoint[]).map(
        toCheckpoint,
      );
    },
    latestCheckpoint(runId) {
      const r = stmt(`${CHECKPOINT_SELECT} WHERE c.run_id = ? ORDER BY c.step DESC LIMIT 1`).get(runId) as
        | RawCheckpoint
        | undefined;
      return r && toCheckpoint(r);
    },

    // --- sample sets ------------------------------------------------------------------------
    addSampleSet(input) {
      const s = parseInput(NewSampleSetSchema, input, 'sample set');
      if (s.npzPath != null) assertSafeRelativePath(s.npzPath);
      if (s.gridPath != null) assertSafeRelativePath(s.gridPath);
      return write(() => {
        requireRunExists(s.runId);
        const createdAt = s.createdAt ?? now();
        const id = stmt(
          `INSERT INTO sample_sets (run_id, checkpoint_step, sampler_json, steps_spec, eps_scale, seed, count,
             npz_path, grid_path, created_at)
           VALUES (@runId, @checkpointStep, @sampler, @stepsSpec, @epsScale, @seed, @count, @npzPath, @gridPath,
             @createdAt)`,
        ).run({
          runId: s.runId,
          checkpointStep: s.checkpointStep ?? null,
          sampler: JSON.stringify(s.sampler),
          stepsSpec: s.stepsSpec ?? null,
          epsScale: s.epsScale ?? null,
          seed: s.seed,
          count: s.count,
          npzPath: s.npzPath ?? null,
          gridPath: s.gridPath ?? null,
          createdAt,
        }).lastInsertRowid;
        if (s.npzPath != null) upsertArtifact(s.runId, s.npzPath, 'samples', null);
        if (s.gridPath != null) upsertArtifact(s.runId, s.gridPath, 'grid', null);
        return getSampleSet(Number(id))!;
      });
    },
    getSampleSet,
    listSampleSets(runId) {
      return (stmt(`${SAMPLE_SET_SELECT} WHERE s.run_id = ? ORDER BY s.id`).all(runId) as RawSampleSet[]).map(
        toSampleSet,
      );
    },

    // --- evaluations ------------------------------------------------------------------------
    addEvaluation(input) {
      const e = parseInput(NewEvaluationSchema, input, 'evaluation');
      return write(() => {
        requireRunExists(e.runId);
        if (e.sampleSetId != null && !getSampleSet(e.sampleSetId)) {
          throw new StoreError('NOT_FOUND', `no sample set with id ${e.sampleSetId}`);
        }
        const id = stmt(
          `INSERT INTO evaluations (run_id, sample_set_id, metric, value, ci_low, ci_high, comparability_key,
             details_json, created_at, checkpoint_step, sampling_steps)
           VALUES (@runId, @sampleSetId, @metric, @value, @ciLow, @ciHigh, @key, @details, @createdAt,
             @checkpointStep, @samplingSteps)`,
        ).run({
          runId: e.runId,
          sampleSetId: e.sampleSetId ?? null,
          metric: e.metric,
          value: e.value,
          ciLow: e.ciLow ?? null,
          ciHigh: e.ciHigh ?? null,
          key: e.comparabilityKey,
          details: e.details == null ? null : JSON.stringify(e.details),
          createdAt: e.createdAt ?? now(),
          checkpointStep: e.checkpointStep ?? null,
          samplingSteps: e.samplingSteps ?? null,
        }).lastInsertRowid;
        if (e.metric === 'fid') {
          stmt(
            `UPDATE runs SET best_fid = (
               SELECT min(value) FROM evaluations
               WHERE run_id = @id AND metric = 'fid' AND comparability_key = (
                 SELECT comparability_key FROM evaluations WHERE run_id = @id AND metric = 'fid'
                 GROUP BY comparability_key ORDER BY count(*) DESC, max(id) DESC LIMIT 1))
             WHERE id = @id`,
          ).run({ id: e.runId });
        }
        return toEvaluation(stmt(`SELECT * FROM evaluations WHERE id = ?`).get(id) as RawEvaluation);
      });
    },
    listEvaluations(query = {}) {
      const clauses: string[] = [];
      const params: Record<string, unknown> = {};
      if (query.runId !== undefined) {
        clauses.push('run_id = @runId');
        params.runId = query.runId;
      }
      if (query.sampleSetId !== undefined) {
        clauses.push('sample_set_id = @sampleSetId');
        params.sampleSetId = query.sampleSetId;
      }
      if (query.metric !== undefined) {
        clauses.push('metric = @metric');
        params.metric = query.metric;
      }
      if (query.comparabilityKey !== undefined) {
        clauses.push('comparability_key = @comparabilityKey');
        params.comparabilityKey = query.comparabilityKey;
      }
      const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
      return (stmt(`SELECT * FROM evaluations ${where} ORDER BY created_at, id`).all(params) as RawEvaluation[]).map(
        toEvaluation,
      );
    },
    evaluationKeys(runIds, metric) {
      if (runIds.length === 0) return [];
      // The run ids travel as one JSON array parameter: one statement text whatever their number.
      const rows = stmt(
        `SELECT comparability_key AS key, metric, count(*) AS count, json_group_array(DISTINCT run_id) AS run_ids
         FROM evaluations
         WHERE run_id IN (SELECT value FROM json_each(@runIds)) AND (@metric IS NULL OR metric = @metric)
         GROUP BY metric, comparability_key ORDER BY metric, comparability_key`,
      ).all({ runIds: JSON.stringify(runIds), metric: metric ?? null }) as {
        key: string;
        metric: string;
        count: number;
        run_ids: string;
      }[];
      return rows.map((r) => ({
        key: r.key,
        metric: r.metric,
        count: r.count,
        runIds: (JSON.parse(r.run_ids) as string[]).sort(),
      }));
    },
    evaluationSeries(runIds, metric, opts = {}) {
      if (runIds.length === 0) return [];
      return (
        stmt(
          `SELECT * FROM evaluations
           WHERE run_id IN (SELECT value FROM json_each(@runIds)) AND metric = @metric
             AND (@key IS NULL OR comparability_key = @key)
           ORDER BY run_id, checkpoint_step, sampling_steps, id`,
        ).all({ runIds: JSON.stringify(runIds), metric, key: opts.key ?? null }) as RawEvaluation[]
      ).map(toEvaluation);
    },

    // --- analyses ---------------------------------------------------------------------------
    addAnalysis(input) {
      const a = parseInput(NewAnalysisSchema, input, 'analysis');
      if (a.result.kind !== a.kind) {
        throw new StoreError('INVALID', `invalid analysis: result.kind '${a.result.kind}' does not match kind '${a.kind}'`);
      }
      return write(() => {
        requireRunExists(a.runId);
        const id = stmt(
          `INSERT INTO analyses (run_id, kind, checkpoint_step, params_json, result_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        ).run(a.runId, a.kind, a.checkpointStep ?? null, JSON.stringify(a.params), JSON.stringify(a.result), a.createdAt ?? now())
          .lastInsertRowid;
        return toAnalysis(stmt(`SELECT * FROM analyses WHERE id = ?`).get(id) as RawAnalysis);
      });
    },
    listAnalyses(query = {}) {
      return (
        stmt(
          `SELECT * FROM analyses WHERE (@runId IS NULL OR run_id = @runId) AND (@kind IS NULL OR kind = @kind)
           ORDER BY created_at, id`,
        ).all({ runId: query.runId ?? null, kind: query.kind ?? null }) as RawAnalysis[]
      ).map(toAnalysis);
    },

    // --- tags & notes -----------------------------------------------------------------------
    tag(runId, tag) {
      const t = typeof tag === 'string' ? tag.trim() : '';
      if (t.length === 0 || t.length > 100 || t.includes(TAG_SEPARATOR)) {
        throw new StoreError('INVALID', `invalid tag ${JSON.stringify(tag)}`);
      }
      write(() => {
        requireRunExists(runId);
        stmt(`INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?, ?)`).run(runId, t);
      });
    },
    untag(runId, tag) {
      return write(() => stmt(`DELETE FROM tags WHERE run_id = ? AND tag = ?`).run(runId, tag.trim()).changes > 0);
    },
    listTags(runId) {
      if (runId === undefined) return stmt(`SELECT DISTINCT tag FROM tags ORDER BY tag`).pluck().all() as string[];
      return stmt(`SELECT tag FROM tags WHERE run_id = ? ORDER BY tag`).pluck().all(runId) as string[];
    },
    addNote(runId, text) {
      if (typeof text !== 'string' || text.trim() === '') throw new StoreError('INVALID', 'a note needs text');
      return write(() => {
        requireRunExists(runId);
        const id = stmt(`INSERT INTO notes (run_id, text, created_at) VALUES (?, ?, ?)`).run(runId, text, now())
          .lastInsertRowid;
        return toNote(stmt(`SELECT * FROM notes WHERE id = ?`).get(id) as RawNote);
      });
    },
    listNotes(runId) {
      return (stmt(`SELECT * FROM notes WHERE run_id = ? ORDER BY created_at, id`).all(runId) as RawNote[]).map(toNote);
    },

    // --- artifacts --------------------------------------------------------------------------
    registerArtifact(input) {
      const a = parseInput(NewArtifactSchema, input, 'artifact');
      assertSafeRelativePath(a.relPath);
      return write(() => {
        requireRunExists(a.runId);
        upsertArtifact(a.runId, a.relPath, a.kind, a.bytes ?? null);
        return toArtifact(stmt(`SELECT * FROM artifacts WHERE rel_path = ?`).get(a.relPath) as RawArtifact);
      });
    },
    getArtifact(id) {
      const r = stmt(`SELECT * FROM artifacts WHERE id = ?`).get(id) as RawArtifact | undefined;
      return r && toArtifact(r);
    },
    listArtifacts(runId) {
      return (stmt(`SELECT * FROM artifacts WHERE run_id = ? ORDER BY created_at, rel_path`).all(runId) as RawArtifact[]).map(
        toArtifact,
      );
    },

    // --- jobs -------------------------------------------------------------------------------
    enqueueJob(input) {
      const j = parseInput(NewJobSchema, input, 'job');
      return write(() => {
        requireRunExists(j.runId);
        const id = stmt(
          `INSERT INTO jobs (run_id, kind, status, args_json, priority, created_at)
           VALUES (?, ?, 'queued', ?, ?, ?)`,
        ).run(j.runId, j.kind, JSON.stringify(j.args), j.priority, now()).lastInsertRowid;
        return getJob(Number(id))!;
      });
    },
    getJob,
    claimNextJob(pid, opts = {}) {
      checkInt(pid, 'pid', 1);
      const kinds = opts.kinds;
      const kindClause = kinds && kinds.length ? `AND kind IN (${kinds.map(() => '?').join(', ')})` : '';
      return write(() => {
        const id = stmt(
          `SELECT id FROM jobs WHERE status = 'queued' ${kindClause} ORDER BY priority DESC, id LIMIT 1`,
        )
          .pluck()
          .get(...(kinds ?? [])) as number | undefined;
        if (id === undefined) return undefined;
        const t = now();
        stmt(
          `UPDATE jobs SET status = 'running', pid = ?, attempts = attempts + 1, started_at = ?, heartbeat_at = ?,
             finished_at = NULL, error = NULL
           WHERE id = ? AND status = 'queued'`,
        ).run(pid, t, t, id);
        return getJob(id);
      });
    },
    heartbeat(jobId, pid) {
      return write(
        () =>
          stmt(
            `UPDATE jobs SET heartbeat_at = @t WHERE id = @id AND status = 'running' AND (@pid IS NULL OR pid = @pid)`,
          ).run({ t: now(), id: jobId, pid: pid ?? null }).changes > 0,
      );
    },
    finishJob(jobId, logTail) {
      return write(
        () =>
          stmt(
            `UPDATE jobs SET status = 'done', finished_at = ?, log_tail = coalesce(?, log_tail)
             WHERE id = ? AND status = 'running'`,
          ).run(now(), logTail ?? null, jobId).changes > 0,
      );
    },
    failJob(jobId, error, logTail) {
      return write(
        () =>
          stmt(
            `UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, log_tail = coalesce(?, log_tail)
             WHERE id = ? AND status IN ('queued', 'running')`,
          ).run(now(), String(error), logTail ?? null, jobId).changes > 0,
      );
    },
    cancelJob(jobId) {
      return write(
        () =>
          stmt(
            `UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status IN ('queued', 'running')`,
          ).run(now(), jobId).changes > 0,
      );
    },
    requeueJob(jobId) {
      return write(
        () =>
          stmt(
            `UPDATE jobs SET status = 'queued', pid = NULL, started_at = NULL, heartbeat_at = NULL, finished_at = NULL
             WHERE id = ? AND status IN ('interrupted', 'failed', 'cancelled')`,
          ).run(jobId).changes > 0,
      );
    },
    listJobs(query = {}) {
      checkInt(query.limit, 'limit');
      const clauses: string[] = [];
      const params: Record<string, unknown> = { limit: query.limit ?? -1 };
      const statuses = asArray(query.status);
      if (statuses) {
        clauses.push(statuses.length ? `status IN (${statuses.map((_, i) => `@s${i}`).join(', ')})` : '0');
        statuses.forEach((s, i) => (params[`s${i}`] = s));
      }
      if (query.runId !== undefined) {
        clauses.push('run_id = @runId');
        params.runId = query.runId;
      }
      const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
      return (stmt(`SELECT * FROM jobs ${where} ORDER BY id LIMIT @limit`).all(params) as RawJob[]).map(toJob);
    },
    markDeadJobsInterrupted(isAlive, opts = {}) {
      // isAlive runs outside the transaction (it may be slow, e.g. signalling a process), so the
      // update re-checks that each job is still running under the same pid before touching it.
      const running = stmt(`SELECT * FROM jobs WHERE status = 'running' ORDER BY id`).all() as RawJob[];
      const t = now();
      const dead = running.filter((j) => {
        if (j.pid === null || !isAlive(j.pid)) return true;
        const last = j.heartbeat_at ?? j.started_at ?? j.created_at;
        return opts.staleAfterMs !== undefined && t - last > opts.staleAfterMs;
      });
      if (dead.length === 0) return [];
      return write(() => {
        const out: JobRow[] = [];
        for (const j of dead) {
          const changed = stmt(
            `UPDATE jobs SET status = 'interrupted', finished_at = @t,
               error = coalesce(error, 'the job process disappeared (crash, kill or app exit)')
             WHERE id = @id AND status = 'running' AND pid IS @pid`,
          ).run({ t, id: j.id, pid: j.pid }).changes;
          if (changed === 0) continue;
          stmt(`UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'`).run(j.run_id);
          out.push(getJob(j.id)!);
        }
        return out;
      });
    },

    close() {
      if (!isReadonly) {
        try {
          // Cheap; keeps the planner's statistics current for long-lived data dirs.
          db.pragma('optimize');
        } catch {
          // a read-only or full disk must not turn close() into an error
        }
      }
      db.close();
    },
  };

  // Every method: refuse writes on a read-only store, refuse use after close, and turn raw SQLite
  // errors into StoreErrors that name the file.
  let closed = false;
  const wrapped = { ...impl } as Record<string, unknown>;
  for (const [key, value] of Object.entries(impl)) {
    if (typeof value !== 'function') continue;
    const fn = value as (...args: unknown[]) => unknown;
    wrapped[key] = (...args: unknown[]) => {
      if (closed) {
        if (key === 'close') return undefined;
        throw new StoreError('CLOSED', `the store for ${dbPath} is closed`);
      }
      if (isReadonly && WRITE_METHODS.has(key)) {
        throw new StoreError('NOT_WRITABLE', `the store for ${dbPath} was opened read-only; ${key} needs to write`);
      }
      try {
        return fn(...args);
      } catch (err) {
        throw translateError(err, dbPath);
      } finally {
        if (key === 'close') closed = true;
      }
    };
  }
  return wrapped as unknown as Store;
}

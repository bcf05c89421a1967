/**
 * Numbered schema migrations. The applied version lives in PRAGMA user_version (in the database
 * header, so it commits or rolls back with the migration's own transaction); PRAGMA application_id
 * marks the file as ours so we never "migrate" some other program's database.
 *
 * Rules for adding one: append, never edit or reorder a released migration; the version is its
 * index + 1; a migration must leave existing rows meaningful (backfill new columns). Timestamps
 * are integer milliseconds since the epoch throughout. This file holds only DDL and backfills;
 * every query the app runs lives in store.ts.
 */
import type { Database } from 'better-sqlite3';

/** "XLAB" in ASCII. */
export const APPLICATION_ID = 0x584c4142;

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database): void;
}

const RUN_STATUS_CHECK = `('queued','running','paused','done','failed','cancelled','interrupted')`;
const KIND_CHECK = `('train','sample','evaluate')`;
const JOB_STATUS_CHECK = `('queued','running','done','failed','cancelled','interrupted')`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    up(db) {
      db.exec(`
        CREATE TABLE experiments (
          id          INTEGER PRIMARY KEY,
          name        TEXT NOT NULL UNIQUE,
          description TEXT,
          created_at  INTEGER NOT NULL
        );

        CREATE TABLE runs (
          id            TEXT PRIMARY KEY NOT NULL,
          experiment_id INTEGER REFERENCES experiments(id) ON DELETE SET NULL,
          name          TEXT NOT NULL,
          kind          TEXT NOT NULL CHECK (kind IN ${KIND_CHECK}),
          objective     TEXT,
          gamma         REAL,
          dataset       TEXT,
          preset        TEXT,
          config_json   TEXT NOT NULL CHECK (json_valid(config_json)),
          seed          INTEGER NOT NULL,
          status        TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ${RUN_STATUS_CHECK}),
          steps_done    INTEGER NOT NULL DEFAULT 0,
          steps_planned INTEGER,
          created_at    INTEGER NOT NULL,
          started_at    INTEGER,
          finished_at   INTEGER,
          backend       TEXT,
          machine_json  TEXT CHECK (machine_json IS NULL OR json_valid(machine_json)),
          app_version   TEXT,
          git_commit    TEXT,
          error         TEXT,
          dir           TEXT NOT NULL UNIQUE,
          parent_run_id TEXT REFERENCES runs(id) ON DELETE SET NULL
        );
        -- The runs list is always newest first, optionally narrowed by status or experiment.
        CREATE INDEX runs_by_created    ON runs(created_at, id);
        CREATE INDEX runs_by_status     ON runs(status, created_at);
        CREATE INDEX runs_by_experiment ON runs(experiment_id, created_at);
        -- Without it, deleting a run scans every run to null out parent_run_id.
        CREATE INDEX runs_by_parent     ON runs(parent_run_id);

        -- The primary key is the series index (run, name, step), and makes a re-logged step on
        -- resume an upsert instead of a duplicate. WITHOUT ROWID stores the points in key order,
        -- so a series read is one contiguous range scan.
        CREATE TABLE metrics (
          run_id    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          step      INTEGER NOT NULL,
          name      TEXT NOT NULL,
          value     REAL,
          wall_time REAL,
          PRIMARY KEY (run_id, name, step)
        ) WITHOUT ROWID;

        CREATE TABLE checkpoints (
          run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          step            INTEGER NOT NULL,
          path            TEXT NOT NULL,
          created_at      INTEGER NOT NULL,
          is_ema_included INTEGER NOT NULL DEFAULT 0 CHECK (is_ema_included IN (0, 1)),
          bytes           INTEGER,
          PRIMARY KEY (run_id, step)
        );

        CREATE TABLE sample_sets (
          id              INTEGER PRIMARY KEY,
          run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          checkpoint_step INTEGER,
          sampler_json    TEXT NOT NULL CHECK (json_valid(sampler_json)),
          steps_spec      TEXT,
          eps_scale       REAL,
          seed            INTEGER NOT NULL,
          count           INTEGER NOT NULL,
          npz_path        TEXT,
          grid_path       TEXT,
          created_at      INTEGER NOT NULL
        );
        CREATE INDEX sample_sets_by_run ON sample_sets(run_id, id);

        CREATE TABLE evaluations (
          id                INTEGER PRIMARY KEY,
          run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          sample_set_id     INTEGER REFERENCES sample_sets(id) ON DELETE SET NULL,
          metric            TEXT NOT NULL,
          value             REAL NOT NULL,
          ci_low            REAL,
          ci_high           REAL,
          comparability_key TEXT NOT NULL,
          details_json      TEXT CHECK (details_json IS NULL OR json_valid(details_json)),
          created_at        INTEGER NOT NULL
        );
        CREATE INDEX evaluations_by_run        ON evaluations(run_id, metric);
        CREATE INDEX evaluations_by_key        ON evaluations(comparability_key, metric);
        CREATE INDEX evaluations_by_sample_set ON evaluations(sample_set_id);

        CREATE TABLE tags (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          tag    TEXT NOT NULL,
          PRIMARY KEY (run_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX tags_by_tag ON tags(tag);

        CREATE TABLE notes (
          id         INTEGER PRIMARY KEY,
          run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          text       TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX notes_by_run ON notes(run_id, created_at);

        -- AUTOINCREMENT: a job id is never reused, so a stale heartbeat from a dead process can
        -- never land on a newer job that happened to get the same id.
        CREATE TABLE jobs (
          id           INTEGER PRIMARY KEY AUTOINCREMENT,
          run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          kind         TEXT NOT NULL CHECK (kind IN ${KIND_CHECK}),
          status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ${JOB_STATUS_CHECK}),
          args_json    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(args_json)),
          pid          INTEGER,
          attempts     INTEGER NOT NULL DEFAULT 0,
          created_at   INTEGER NOT NULL,
          started_at   INTEGER,
          heartbeat_at INTEGER,
          finished_at  INTEGER,
          error        TEXT,
          log_tail     TEXT
        );
        CREATE INDEX jobs_by_status ON jobs(status, id);
        CREATE INDEX jobs_by_run    ON jobs(run_id);
      `);
    },
  },
  {
    version: 2,
    name: 'job priority; cached best FID per run',
    up(db) {
      db.exec(`
        ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        DROP INDEX jobs_by_status;
        -- Matches claimNextJob's ORDER BY, so claiming never sorts the queue.
        CREATE INDEX jobs_claim_order ON jobs(status, priority DESC, id);

        -- Sorting the runs list by FID would otherwise aggregate evaluations for every run.
        ALTER TABLE runs ADD COLUMN best_fid REAL;
        UPDATE runs SET best_fid =
          (SELECT min(e.value) FROM evaluations e WHERE e.run_id = runs.id AND e.metric = 'fid');
      `);
    },
  },
  {
    version: 3,
    name: 'artifacts: opaque ids for files under the data dir',
    up(db) {
      db.exec(`
        CREATE TABLE artifacts (
          id         TEXT PRIMARY KEY NOT NULL,
          run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          rel_path   TEXT NOT NULL UNIQUE,
          kind       TEXT NOT NULL CHECK (kind IN ('checkpoint','samples','grid','log','other')),
          bytes      INTEGER,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX artifacts_by_run ON artifacts(run_id);

        -- Files recorded before this version get ids too, so old runs stay viewable.
        INSERT OR IGNORE INTO artifacts (id, run_id, rel_path, kind, bytes, created_at)
          SELECT 'a' || lower(hex(randomblob(12))), run_id, path, 'checkpoint', bytes, created_at
          FROM checkpoints;
        INSERT OR IGNORE INTO artifacts (id, run_id, rel_path, kind, bytes, created_at)
          SELECT 'a' || lower(hex(randomblob(12))), run_id, npz_path, 'samples', NULL, created_at
          FROM sample_sets WHERE npz_path IS NOT NULL;
        INSERT OR IGNORE INTO artifacts (id, run_id, rel_path, kind, bytes, created_at)
          SELECT 'a' || lower(hex(randomblob(12))), run_id, grid_path, 'grid', NULL, created_at
          FROM sample_sets WHERE grid_path IS NOT NULL;
      `);
    },
  },
  {
    version: 4,
    name: 'evaluations: checkpoint step and sampling steps; index for curves',
    up(db) {
      db.exec(`
        ALTER TABLE evaluations ADD COLUMN checkpoint_step INTEGER;
        ALTER TABLE evaluations ADD COLUMN sampling_steps INTEGER;

        -- Older scores know both only through their sample set: the checkpoint it was drawn from,
        -- and its respacing spec ('100' -> 100, '10,15,20' -> 45 in all, 'ddim50' -> 50, '' -> the
        -- T of the training run, found on the set's run or, for a sampling run, its parent).
        UPDATE evaluations SET checkpoint_step =
          (SELECT s.checkpoint_step FROM sample_sets s WHERE s.id = evaluations.sample_set_id)
        WHERE sample_set_id IS NOT NULL;
        UPDATE evaluations SET sampling_steps = (
          SELECT CASE
            WHEN s.steps_spec GLOB 'ddim[0-9]*' THEN CAST(substr(s.steps_spec, 5) AS INTEGER)
            WHEN s.steps_spec GLOB '[0-9]*' AND s.steps_spec NOT GLOB '*[^0-9,]*'
              THEN (SELECT sum(j.value) FROM json_each('[' || s.steps_spec || ']') j)
            WHEN s.steps_spec = '' THEN (
              SELECT coalesce(json_extract(r.config_json, '$.T'), json_extract(p.config_json, '$.T'))
              FROM runs r LEFT JOIN runs p ON p.id = r.parent_run_id WHERE r.id = s.run_id)
            ELSE NULL END
          FROM sample_sets s WHERE s.id = evaluations.sample_set_id)
        WHERE sample_set_id IS NOT NULL;

        -- FID-vs-iterations and FID-vs-T' curves: one range scan per (run, metric, key).
        CREATE INDEX evaluations_for_curves ON evaluations(run_id, metric, comparability_key, checkpoint_step);

        -- The cached best FID follows the store's rule from now on: the lowest FID under the run's
        -- most used FID key (ties: the most recently used), never a minimum across keys.
        UPDATE runs SET best_fid = (
          SELECT min(e.value) FROM evaluations e
          WHERE e.run_id = runs.id AND e.metric = 'fid' AND e.comparability_key = (
            SELECT k.comparability_key FROM evaluations k WHERE k.run_id = runs.id AND k.metric = 'fid'
            GROUP BY k.comparability_key ORDER BY count(*) DESC, max(k.id) DESC LIMIT 1));
      `);
    },
  },
  {
    version: 5,
    name: 'analyses: exposure-bias measurements of a training run',
    up(db) {
      db.exec(`
        -- run_id is the ANALYSED training run (not the analysis job's own child run), so a run's
        -- page lists its measurements and deleting the run deletes them.
        CREATE TABLE analyses (
          id              INTEGER PRIMARY KEY,
          run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          kind            TEXT NOT NULL CHECK (kind IN ('prediction-error','delta-t','spectrum','chain-length')),
          checkpoint_step INTEGER,
          params_json     TEXT NOT NULL CHECK (json_valid(params_json)),
          result_json     TEXT NOT NULL CHECK (json_valid(result_json)),
          created_at      INTEGER NOT NULL
        );
        CREATE INDEX analyses_by_run ON analyses(run_id, kind, id);
      `);
    },
  },
];

export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export interface MigrationResult {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

/**
 * Brings the schema up to `target` (default: latest). Each migration runs in its own BEGIN
 * IMMEDIATE transaction and re-reads user_version inside it, so two processes opening a fresh data
 * dir at once apply each migration exactly once. Foreign keys are switched off around migrations
 * (they cannot be toggled inside a transaction) so a future table rebuild does not cascade-delete;
 * foreign_key_check then verifies the result before the commit.
 */
export function migrate(db: Database, target: number = SCHEMA_VERSION): MigrationResult {
  for (let i = 0; i < MIGRATIONS.length; i++) {
    if (MIGRATIONS[i]!.version !== i + 1) {
      throw new Error(`migration list is malformed: entry ${i} has version ${MIGRATIONS[i]!.version}`);
    }
  }
  if (target > SCHEMA_VERSION) throw new Error(`no migration to version ${target}`);
  const from = schemaVersion(db);
  const applied: MigrationResult['applied'] = [];
  if (from >= target) return { from, to: from, applied };

  const fkWasOn = db.pragma('foreign_keys', { simple: true }) === 1;
  if (fkWasOn) db.pragma('foreign_keys = OFF');
  try {
    for (const m of MIGRATIONS) {
      if (m.version > target) break;
      const ran = db
        .transaction(() => {
          if (schemaVersion(db) >= m.version) return false;
          m.up(db);
          const broken = db.pragma('foreign_key_check') as unknown[];
          if (broken.length > 0) {
            throw new Error(`migration ${m.version} (${m.name}) left ${broken.length} broken foreign keys`);
          }
          if (m.version === 1) db.pragma(`application_id = ${APPLICATION_ID}`);
          db.pragma(`user_version = ${m.version}`);
          return true;
        })
        .immediate();
      if (ran) applied.push({ version: m.version, name: m.name });
    }
  } finally {
    if (fkWasOn) db.pragma('foreign_keys = ON');
  }
  return { from, to: schemaVersion(db), applied };
}

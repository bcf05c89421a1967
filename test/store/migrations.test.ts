/**
 * Schema upgrades and refusals. Old databases are built the way an older app would have left them:
 * the migrations up to version N applied through the same runner, then rows inserted with that
 * version's columns (raw SQL here on purpose: the current Store cannot write an old schema).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion } from '../../src/main/store/migrations';
import { StoreError, openStore } from '../../src/main/store/store';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-migrate-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;

/** A data dir holding a database at exactly `version`, with rows in every version-1 table. */
function makeOldDataDir(version: number): string {
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'runs'));
  const db = new Database(path.join(dir, 'lab.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  migrate(db, version);
  expect(schemaVersion(db)).toBe(version);
  db.exec(`
    INSERT INTO experiments (id, name, description, created_at) VALUES (1, 'exposure', 'ADM vs ADM-IP', ${T0});
    INSERT INTO runs (id, experiment_id, name, kind, objective, gamma, dataset, preset, config_json, seed, status,
      steps_done, steps_planned, created_at, started_at, finished_at, backend, machine_json, app_version, git_commit,
      error, dir, parent_run_id)
    VALUES
      ('r1', 1, 'adm-ip g=0.1', 'train', 'adm-ip', 0.1, 'mnist', 'bench-s-mnist16', '{"lr":0.0002}', 7, 'done',
        1000, 1000, ${T0}, ${T0 + 1}, ${T0 + 2}, 'wasm', '{"cpus":2}', '0.1.0', 'abc123', NULL, 'runs/r1', NULL),
      ('r2', NULL, 'sample r1', 'sample', NULL, NULL, 'mnist', NULL, '{}', 8, 'interrupted',
        0, NULL, ${T0 + 10}, NULL, NULL, NULL, NULL, NULL, NULL, 'boom', 'runs/r2', 'r1');
    INSERT INTO metrics (run_id, step, name, value, wall_time) VALUES
      ('r1', 0, 'loss', 1.5, ${T0}), ('r1', 1, 'loss', 1.25, ${T0 + 1}), ('r1', 1, 'lr', 0.0002, ${T0 + 1});
    INSERT INTO checkpoints (run_id, step, path, created_at, is_ema_included, bytes) VALUES
      ('r1', 500, 'runs/r1/ckpt-500.xlck', ${T0}, 1, 1234), ('r1', 1000, 'runs/r1/ckpt-1000.xlck', ${T0}, 1, 1234);
    INSERT INTO sample_sets (id, run_id, checkpoint_step, sampler_json, steps_spec, eps_scale, seed, count, npz_path,
      grid_path, created_at)
    VALUES (1, 'r2', 1000, '{"name":"ddim","eta":0}', '20', 1.0, 3, 64, 'runs/r2/s.npz', 'runs/r2/grid.png', ${T0});
    INSERT INTO evaluations (id, run_id, sample_set_id, metric, value, ci_low, ci_high, comparability_key,
      details_json, created_at)
    VALUES
      (1, 'r1', 1, 'fid', 12.5, 12.0, 13.0, 'mnist-test/10k/lenet', '{"n":10000}', ${T0}),
      (2, 'r1', 1, 'fid', 9.75, NULL, NULL, 'mnist-test/10k/lenet', NULL, ${T0 + 1}),
      (3, 'r1', NULL, 'precision', 0.8, NULL, NULL, 'k', NULL, ${T0 + 2});
    INSERT INTO tags (run_id, tag) VALUES ('r1', 'baseline'), ('r1', 'paper');
    INSERT INTO notes (id, run_id, text, created_at) VALUES (1, 'r1', 'looks good', ${T0});
    INSERT INTO jobs (id, run_id, kind, status, args_json, pid, attempts, created_at, started_at, heartbeat_at,
      finished_at, error, log_tail)
    VALUES
      (1, 'r1', 'train', 'done', '{"resume":false}', 100, 1, ${T0}, ${T0}, ${T0}, ${T0}, NULL, 'ok'),
      (2, 'r2', 'sample', 'queued', '{}', NULL, 0, ${T0}, NULL, NULL, NULL, NULL, NULL);
  `);
  db.close();
  return dir;
}

/** Rows of every table as plain objects, for before/after comparison of the version-1 columns. */
function dumpV1(dbPath: string): Record<string, unknown[]> {
  const db = new Database(dbPath, { readonly: true });
  try {
    const cols: Record<string, string> = {
      experiments: 'id, name, description, created_at',
      runs: `id, experiment_id, name, kind, objective, gamma, dataset, preset, config_json, seed, status, steps_done,
        steps_planned, created_at, started_at, finished_at, backend, machine_json, app_version, git_commit, error, dir,
        parent_run_id`,
      metrics: 'run_id, step, name, value, wall_time',
      checkpoints: 'run_id, step, path, created_at, is_ema_included, bytes',
      sample_sets: '*',
      evaluations: 'id, run_id, sample_set_id, metric, value, ci_low, ci_high, comparability_key, details_json, created_at',
      tags: '*',
      notes: '*',
      jobs: `id, run_id, kind, status, args_json, pid, attempts, created_at, started_at, heartbeat_at, finished_at,
        error, log_tail`,
    };
    const out: Record<string, unknown[]> = {};
    for (const [t, c] of Object.entries(cols)) out[t] = db.prepare(`SELECT ${c} FROM ${t} ORDER BY 1, 2`).all();
    return out;
  } finally {
    db.close();
  }
}

function snapshot(dir: string): { files: string[]; bytes: Buffer } {
  return { files: fs.readdirSync(dir).sort(), bytes: fs.readFileSync(path.join(dir, 'lab.sqlite')) };
}

describe('migrations', () => {
  it('are numbered 1..N without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
  });

  it('a fresh data dir gets the latest schema and the application id', () => {
    const dir = tmp();
    const store = openStore(dir);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    store.close();
    const db = new Database(path.join(dir, 'lab.sqlite'), { readonly: true });
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  for (let v = 2; v <= SCHEMA_VERSION; v++) {
    it(`migration ${v} applies to a version ${v - 1} database and keeps its rows`, () => {
      const dir = makeOldDataDir(v - 1);
      const dbPath = path.join(dir, 'lab.sqlite');
      const before = dumpV1(dbPath);
      const db = new Database(dbPath);
      db.pragma('foreign_keys = ON');
      const result = migrate(db, v);
      expect(result).toEqual({ from: v - 1, to: v, applied: [{ version: v, name: MIGRATIONS[v - 1]!.name }] });
      // running it again is a no-op
      expect(migrate(db, v).applied).toEqual([]);
      db.close();
      expect(dumpV1(dbPath)).toEqual(before);

      const check = new Database(dbPath, { readonly: true });
      try {
        if (v === 2) {
          expect(check.prepare('SELECT id, priority FROM jobs ORDER BY id').all()).toEqual([
            { id: 1, priority: 0 },
            { id: 2, priority: 0 },
          ]);
          // backfilled from the existing 'fid' evaluations; a run without any stays NULL
          expect(check.prepare('SELECT id, best_fid FROM runs ORDER BY id').all()).toEqual([
            { id: 'r1', best_fid: 9.75 },
            { id: 'r2', best_fid: null },
          ]);
        }
        if (v === 3) {
          const rows = check.prepare('SELECT id, run_id, rel_path, kind, bytes FROM artifacts ORDER BY rel_path').all();
          expect(rows.map((r: any) => [r.run_id, r.rel_path, r.kind, r.bytes])).toEqual([
            ['r1', 'runs/r1/ckpt-1000.xlck', 'checkpoint', 1234],
            ['r1', 'runs/r1/ckpt-500.xlck', 'checkpoint', 1234],
            ['r2', 'runs/r2/grid.png', 'grid', null],
            ['r2', 'runs/r2/s.npz', 'samples', null],
          ]);
          for (const r of rows as { id: string }[]) expect(r.id).toMatch(/^a[0-9a-f]{24}$/);
        }
      } finally {
        check.close();
      }
    });
  }

  it('openStore upgrades a version 1 data dir end to end, data intact through the Store API', () => {
    const dir = makeOldDataDir(1);
    const store = openStore(dir);
    try {
      expect(store.schemaVersion).toBe(SCHEMA_VERSION);
      const r1 = store.getRun('r1')!;
      expect(r1).toMatchObject({
        experimentId: 1,
        name: 'adm-ip g=0.1',
        kind: 'train',
        objective: 'adm-ip',
        gamma: 0.1,
        config: { lr: 0.0002 },
        machine: { cpus: 2 },
        status: 'done',
        stepsDone: 1000,
        bestFid: 9.75,
        tags: ['baseline', 'paper'],
      });
      expect(store.getRun('r2')).toMatchObject({ parentRunId: 'r1', status: 'interrupted', error: 'boom' });
      expect(store.metricSeries('r1', 'loss')).toMatchObject({ step: [0, 1], value: [1.5, 1.25] });
      expect(store.latestCheckpoint('r1')).toMatchObject({ step: 1000, isEmaIncluded: true });
      expect(store.latestCheckpoint('r1')!.artifactId).toMatch(/^a/);
      const ss = store.listSampleSets('r2')[0]!;
      expect(ss.sampler).toEqual({ name: 'ddim', eta: 0 });
      expect(store.getArtifact(ss.gridArtifactId!)!.relPath).toBe('runs/r2/grid.png');
      expect(store.listEvaluations({ runId: 'r1', metric: 'fid' }).map((e) => e.value)).toEqual([12.5, 9.75]);
      expect(store.listNotes('r1')[0]!.text).toBe('looks good');
      expect(store.listJobs().map((j) => [j.id, j.status, j.priority])).toEqual([
        [1, 'done', 0],
        [2, 'queued', 0],
      ]);
      // the upgraded database is fully usable
      const claimed = store.claimNextJob(4242)!;
      expect(claimed.id).toBe(2);
      const r3 = store.createRun({ name: 'new', kind: 'train', config: {}, seed: 1, parentRunId: 'r1' });
      expect(store.getRun(r3.id)!.parentRunId).toBe('r1');
    } finally {
      store.close();
    }
  });

  it('two processes-worth of openers on an old database migrate it once', () => {
    const dir = makeOldDataDir(1);
    // Two connections racing through openStore: the second sees the work already done.
    const a = openStore(dir);
    const b = openStore(dir);
    expect(a.schemaVersion).toBe(SCHEMA_VERSION);
    expect(b.schemaVersion).toBe(SCHEMA_VERSION);
    expect(b.listJobs()).toHaveLength(2);
    a.close();
    b.close();
  });
});

describe('refusing databases we must not touch', () => {
  it('a database from a newer app is refused and left byte-identical', () => {
    const dir = tmp();
    const s = openStore(dir);
    s.createRun({ name: 'future', kind: 'train', config: {}, seed: 1 });
    s.close();
    const db = new Database(path.join(dir, 'lab.sqlite'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();

    const before = snapshot(dir);
    for (const readonly of [false, true]) {
      let err: unknown;
      try {
        openStore(dir, { readonly });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('NEWER_SCHEMA');
      expect((err as Error).message).toContain(
        `created by a newer Exposure Lab (schema ${SCHEMA_VERSION + 1} > ${SCHEMA_VERSION}); upgrade the app or use another --data-dir`,
      );
      expect((err as Error).message).toContain(path.join(dir, 'lab.sqlite'));
    }
    const after = snapshot(dir);
    expect(after.files).toEqual(before.files);
    expect(after.bytes.equals(before.bytes)).toBe(true);
  });

  it('a garbage file is refused, named, and left byte-identical', () => {
    const dir = tmp();
    const dbPath = path.join(dir, 'lab.sqlite');
    const garbage = Buffer.alloc(16384);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    fs.writeFileSync(dbPath, garbage);
    const before = snapshot(dir);
    let err: unknown;
    try {
      openStore(dir);
    } catch (e) {
      err = e;
    }
    expect((err as StoreError).code).toBe('NOT_A_DATABASE');
    expect((err as Error).message).toContain(dbPath);
    expect((err as Error).message).toMatch(/left untouched/);
    const after = snapshot(dir);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.files).toEqual(before.files);
  });

  it('a database with damaged pages fails the integrity check and is left byte-identical', () => {
    const dir = tmp();
    const s = openStore(dir);
    s.transaction(() => {
      for (let i = 0; i < 300; i++) {
        s.createRun({ name: `run ${i} ${'x'.repeat(200)}`, kind: 'train', config: { i }, seed: i });
      }
    });
    s.close();
    const dbPath = path.join(dir, 'lab.sqlite');
    const bytes = fs.readFileSync(dbPath);
    const pageSize = bytes.readUInt16BE(16);
    // Scribble over the middle of the file, leaving the header intact: the B-tree pages there
    // no longer parse, which only a real check (not the header sniff) can notice.
    const start = Math.floor(bytes.length / pageSize / 2) * pageSize;
    for (let i = start; i < Math.min(start + 3 * pageSize, bytes.length); i++) bytes[i] = 0x5a;
    fs.writeFileSync(dbPath, bytes);
    const before = snapshot(dir);
    let err: unknown;
    try {
      openStore(dir);
    } catch (e) {
      err = e;
    }
    expect((err as StoreError).code).toBe('NOT_A_DATABASE');
    expect((err as Error).message).toContain(dbPath);
    const after = snapshot(dir);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.files).toEqual(before.files);
  });

  it('a newer schema committed only to the WAL (writer still open) is refused too', () => {
    const dir = tmp();
    openStore(dir).close();
    const dbPath = path.join(dir, 'lab.sqlite');
    // A "newer app" holding the database open: its change sits in lab.sqlite-wal, the main
    // file's header still says the old version.
    const newer = new Database(dbPath);
    try {
      newer.pragma('wal_autocheckpoint = 0');
      newer.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
      expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
      const before = fs.readFileSync(dbPath);
      expect(() => openStore(dir)).toThrow(`schema ${SCHEMA_VERSION + 5} > ${SCHEMA_VERSION}`);
      expect(fs.readFileSync(dbPath).equals(before)).toBe(true);
    } finally {
      newer.close();
    }
  });

  it("another program's SQLite database is refused and left alone", () => {
    const dir = tmp();
    const dbPath = path.join(dir, 'lab.sqlite');
    const other = new Database(dbPath);
    other.exec(`CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT); INSERT INTO photos VALUES (1, 'a.jpg');`);
    other.close();
    const before = snapshot(dir);
    expect(() => openStore(dir)).toThrow(/belongs to another program/);
    expect(snapshot(dir).bytes.equals(before.bytes)).toBe(true);
  });

  it('read-only open of a database that needs migrating asks for a read-write open', () => {
    const dir = makeOldDataDir(1);
    expect(() => openStore(dir, { readonly: true })).toThrow(/Open it once without read-only mode/);
    expect(() => openStore(tmp(), { readonly: true })).toThrow(/no Exposure Lab database/);
  });
});

describe('migration 5: analyses', () => {
  it('adds the analyses table to a version 4 database, keyed to training runs and cascading with them', () => {
    const dir = makeOldDataDir(4);
    const dbPath = path.join(dir, 'lab.sqlite');
    const db = new Database(dbPath);
    db.pragma('foreign_keys = ON');
    expect(migrate(db, 5).applied).toEqual([{ version: 5, name: MIGRATIONS[4]!.name }]);
    const cols = (db.prepare(`PRAGMA table_info(analyses)`).all() as { name: string; notnull: number }[]).map((c) => [c.name, c.notnull]);
    expect(cols).toEqual([
      ['id', 0],
      ['run_id', 1],
      ['kind', 1],
      ['checkpoint_step', 0],
      ['params_json', 1],
      ['result_json', 1],
      ['created_at', 1],
    ]);
    const insert = db.prepare(
      `INSERT INTO analyses (run_id, kind, checkpoint_step, params_json, result_json, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    insert.run('r1', 'delta-t', 1000, '{"n":8}', '{"kind":"delta-t","tStart":999,"samplingSteps":10,"points":[]}', T0);
    // the schema refuses an unknown kind, invalid JSON and a run that does not exist
    expect(() => insert.run('r1', 'fid', 1000, '{}', '{}', T0)).toThrow(/CHECK constraint/);
    expect(() => insert.run('r1', 'spectrum', 1000, '{', '{}', T0)).toThrow(/CHECK constraint/);
    expect(() => insert.run('nope', 'spectrum', 1000, '{}', '{}', T0)).toThrow(/FOREIGN KEY/);
    expect(db.prepare(`EXPLAIN QUERY PLAN SELECT * FROM analyses WHERE run_id = 'r1' ORDER BY kind, id`).all()).toEqual(
      expect.arrayContaining([expect.objectContaining({ detail: expect.stringContaining('analyses_by_run') })]),
    );
    db.prepare(`DELETE FROM runs WHERE id = 'r1'`).run();
    expect(db.prepare(`SELECT count(*) AS n FROM analyses`).get()).toEqual({ n: 0 });
    db.close();
  });

  it('the Store records and lists analyses on an upgraded data dir', () => {
    const store = openStore(makeOldDataDir(4));
    try {
      const result = { kind: 'spectrum' as const, frequencies: [0, 0.25, 0.5], samples: [3, 2, 1], data: [3, 1.5, 0.5] };
      const a = store.addAnalysis({ runId: 'r1', kind: 'spectrum', checkpointStep: 1000, params: { n: 4 }, result });
      expect(a).toMatchObject({ runId: 'r1', kind: 'spectrum', checkpointStep: 1000, params: { n: 4 }, result });
      store.addAnalysis({ runId: 'r1', kind: 'delta-t', params: {}, result: { kind: 'delta-t', tStart: 9, samplingSteps: 10, points: [] } });
      expect(store.listAnalyses({ runId: 'r1' }).map((x) => x.kind)).toEqual(['spectrum', 'delta-t']);
      expect(store.listAnalyses({ runId: 'r1', kind: 'delta-t' })).toHaveLength(1);
      expect(store.listAnalyses({ runId: 'r2' })).toEqual([]);
      expect(() => store.addAnalysis({ runId: 'r1', kind: 'delta-t', params: {}, result })).toThrow(/does not match kind/);
      expect(() => store.addAnalysis({ runId: 'zz', kind: 'spectrum', params: {}, result })).toThrow(/no run/);
    } finally {
      store.close();
    }
  });
});

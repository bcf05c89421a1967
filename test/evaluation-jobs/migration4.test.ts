/**
 * Migration 4 from a version 3 database: evaluations gain checkpoint_step and sampling_steps,
 * backfilled from their sample sets (every respacing form, the T of the training run for '' even
 * through a sampling run's parent), and the index the curve queries use.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../src/main/store/migrations';
import { openStore } from '../../src/main/store/store';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;

function v3DataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-m4-'));
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'runs'));
  const db = new Database(path.join(dir, 'lab.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  migrate(db, 3);
  db.exec(`
    INSERT INTO runs (id, name, kind, config_json, seed, status, created_at, dir, parent_run_id) VALUES
      ('t1', 'train', 'train', '{"T":400,"objective":"adm"}', 1, 'done', ${T0}, 'runs/t1', NULL),
      ('s1', 'sample', 'sample', '{"n":64}', 1, 'done', ${T0}, 'runs/s1', 't1');
    INSERT INTO sample_sets (id, run_id, checkpoint_step, sampler_json, steps_spec, eps_scale, seed, count, created_at) VALUES
      (1, 't1', 500, '{"name":"ddpm"}', '20', 1, 0, 64, ${T0}),
      (2, 't1', 1000, '{"name":"ddpm"}', '10,15,20', 1, 0, 64, ${T0}),
      (3, 't1', 1000, '{"name":"ddim"}', 'ddim50', 1, 0, 64, ${T0}),
      (4, 's1', 1500, '{"name":"ddpm"}', '', 1, 0, 64, ${T0}),
      (5, 't1', 2000, '{"name":"ddpm"}', '', 1, 0, 64, ${T0}),
      (6, 't1', NULL, '{"name":"ddpm"}', NULL, 1, 0, 64, ${T0});
    INSERT INTO evaluations (id, run_id, sample_set_id, metric, value, comparability_key, created_at) VALUES
      (1, 't1', 1, 'fid', 10.5, 'k', ${T0}),
      (2, 't1', 2, 'fid', 11.5, 'k', ${T0}),
      (3, 't1', 3, 'sfid', 12.5, 'k', ${T0}),
      (4, 't1', 4, 'fid', 13.5, 'k', ${T0}),
      (5, 't1', 5, 'fid', 14.5, 'k', ${T0}),
      (6, 't1', 6, 'fid', 15.5, 'k', ${T0}),
      (7, 't1', NULL, 'fid', 16.5, 'k', ${T0}),
      (8, 't1', NULL, 'fid', 1.5, 'other-key', ${T0});
  `);
  db.close();
  return dir;
}

describe('migration 4', () => {
  it('is the fourth migration', () => {
    expect(MIGRATIONS[3]!.version).toBe(4);
  });

  it('adds checkpoint and sampling steps to evaluations, backfilled from their sample sets', () => {
    const dir = v3DataDir();
    const db = new Database(path.join(dir, 'lab.sqlite'));
    db.pragma('foreign_keys = ON');
    const before = db.prepare('SELECT id, run_id, sample_set_id, metric, value FROM evaluations ORDER BY id').all();
    expect(migrate(db, 4).applied).toEqual([{ version: 4, name: MIGRATIONS[3]!.name }]);
    expect(db.prepare('SELECT id, run_id, sample_set_id, metric, value FROM evaluations ORDER BY id').all()).toEqual(before);
    expect(db.prepare('SELECT id, checkpoint_step, sampling_steps FROM evaluations ORDER BY id').all()).toEqual([
      { id: 1, checkpoint_step: 500, sampling_steps: 20 },
      { id: 2, checkpoint_step: 1000, sampling_steps: 45 }, // sections 10 + 15 + 20
      { id: 3, checkpoint_step: 1000, sampling_steps: 50 }, // ddim50
      { id: 4, checkpoint_step: 1500, sampling_steps: 400 }, // '' on a sampling run: its parent's T
      { id: 5, checkpoint_step: 2000, sampling_steps: 400 }, // '' on the training run: its T
      { id: 6, checkpoint_step: null, sampling_steps: null }, // nothing known
      { id: 7, checkpoint_step: null, sampling_steps: null }, // no sample set
      { id: 8, checkpoint_step: null, sampling_steps: null },
    ]);
    // best FID recomputed by the store's rule: the lowest under the most used key, not 1.5 under another
    expect(db.prepare('SELECT id, best_fid FROM runs ORDER BY id').all()).toEqual([
      { id: 's1', best_fid: null },
      { id: 't1', best_fid: 10.5 },
    ]);
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN SELECT * FROM evaluations WHERE run_id = 't1' AND metric = 'fid' AND comparability_key = 'k' ORDER BY checkpoint_step`)
      .all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('evaluations_for_curves');
    db.close();
  });

  it('the Store reads the new columns and writes them', () => {
    const store = openStore(v3DataDir());
    try {
      expect(store.listEvaluations({ runId: 't1' }).map((e) => [e.id, e.checkpointStep, e.samplingSteps])).toEqual([
        [1, 500, 20],
        [2, 1000, 45],
        [3, 1000, 50],
        [4, 1500, 400],
        [5, 2000, 400],
        [6, null, null],
        [7, null, null],
        [8, null, null],
      ]);
      const e = store.addEvaluation({ runId: 't1', metric: 'fid', value: 3, comparabilityKey: 'k', checkpointStep: 2500, samplingSteps: 100 });
      expect([e.checkpointStep, e.samplingSteps]).toEqual([2500, 100]);
      expect(() => store.addEvaluation({ runId: 't1', metric: 'fid', value: 3, comparabilityKey: 'k', samplingSteps: 0 })).toThrow(/samplingSteps/);
    } finally {
      store.close();
    }
  });
});

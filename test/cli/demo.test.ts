/**
 * `xlab demo` as a user runs it (bin/xlab.mjs in a child process, XLAB_HOME on a temp dir): the
 * two training runs and their sample sets go through the job system into the history, in one
 * experiment, and a second invocation reuses them instead of creating new runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTmpDirs, runXlab, tmpDataDir, type XlabResult } from '../jobs/harness';

// A tiny MNIST classifier (seconds to train) stands in for the default feature network.
const TINY_CLASSIFIER = JSON.stringify({ steps: 40, trainCount: 600 });

function xlab(args: string[], home: string): Promise<XlabResult> {
  return runXlab(args, { env: { XLAB_HOME: home, XLAB_CLASSIFIER_TRAINING: TINY_CLASSIFIER } });
}

interface ListedRun {
  id: string;
  kind: string;
  objective: string | null;
  status: string;
  experimentId: number | null;
  parentRunId: string | null;
}

async function listRuns(home: string): Promise<ListedRun[]> {
  const r = await xlab(['runs', 'list', '--json'], home);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).runs;
}

afterAll(() => removeTmpDirs());

describe('xlab demo', () => {
  it('records both runs and their sample sets in the history, and a re-run reuses them', async () => {
    const home = tmpDataDir('xlab-demo-home-');
    const out = tmpDataDir('xlab-demo-out-');
    const args = ['demo', '--steps', '4', '--batch', '4', '--sample-steps', '5', '--n', '4', '--eval-n', '0', '--out', out];

    const first = await xlab(args, home);
    expect(first.code, first.stderr).toBe(0);
    expect(fs.existsSync(path.join(out, 'compare_T5.png'))).toBe(true);

    const runs = await listRuns(home);
    const train = runs.filter((r) => r.kind === 'train');
    expect(train.map((r) => r.objective).sort()).toEqual(['adm', 'adm-ip']);
    expect(train.every((r) => r.status === 'done')).toBe(true);
    expect(train[0]!.experimentId).not.toBeNull();
    expect(new Set(train.map((r) => r.experimentId)).size).toBe(1);
    // The sample sets were drawn by sampling jobs: one recorded sampling run per training run.
    const sample = runs.filter((r) => r.kind === 'sample');
    expect(sample.map((r) => r.parentRunId).sort()).toEqual(train.map((r) => r.id).sort());

    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(Object.values(summary.runIds).sort()).toEqual(train.map((r) => r.id).sort());

    fs.rmSync(path.join(out, 'compare_T5.png'));
    const second = await xlab(args, home);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/already trained/);
    expect(fs.existsSync(path.join(out, 'compare_T5.png'))).toBe(true);
    const again = await listRuns(home);
    expect(again.map((r) => r.id).sort()).toEqual(runs.map((r) => r.id).sort());
  }, 90_000);

  it('scores both runs during and after training and writes the comparison table', async () => {
    const home = tmpDataDir('xlab-demo-home-');
    const out = tmpDataDir('xlab-demo-out-');
    const args = ['demo', '--steps', '6', '--batch', '4', '--eval-n', '12', '--eval-every', '3', '--eval-steps', '5,10', '--sample-steps', '5', '--out', out, '--json'];
    const r = await xlab(args, home);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    // Table 3 layout: one row per variant, one column per T', a FID in every cell.
    const fid = summary.comparison.bySteps.find((t: { metric: string }) => t.metric === 'fid');
    expect(fid.steps).toEqual(expect.arrayContaining([5, 10]));
    expect(fid.rows.map((row: { variant: string }) => row.variant).join(' | ')).toMatch(/ADM.*\|.*ADM-IP/);
    for (const row of fid.rows) for (const cell of row.cells) expect(cell.mean).toBeGreaterThan(0);
    // FID during training at steps 3 and 6 (T'=20 by default), for both runs.
    const runs = await listRuns(home);
    const train = runs.filter((x) => x.kind === 'train');
    expect(train).toHaveLength(2);
    // Table 4 from the FID-vs-iterations curves (scheduled at T'=20 during training).
    const toTarget = summary.comparison.iterationsToTarget;
    expect(toTarget.samplingSteps).toBe(20);
    expect(toTarget.rows).toHaveLength(2);
    const md = fs.readFileSync(path.join(out, 'comparison.md'), 'utf8');
    expect(md).toMatch(/FID/);
    expect(fs.readFileSync(path.join(out, 'comparison.csv'), 'utf8').split('\n').length).toBeGreaterThan(2);
    // The grid is the scored sample set itself: no separate sampling run was needed.
    expect(runs.filter((x) => x.kind === 'sample')).toHaveLength(0);
  }, 240_000);
});

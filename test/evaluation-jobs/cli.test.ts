/**
 * `xlab compare` and `xlab eval` as a user runs them (bin/xlab.mjs in a child process), on a data
 * dir with hand-written scores: the report in each format, the refusal to mix keys naming the fix,
 * an experiment looked up by name, and eval's request checks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { comparabilityKey } from '../../src/shared/comparability';
import { parseTrainConfig } from '../../src/shared/config';
import { createTrainingRun } from '../../src/main/jobs/run-records';
import { openStore } from '../../src/main/store/store';
import { removeTmpDirs, runXlab, tinyConfig, tmpDataDir } from '../jobs/harness';

afterAll(() => removeTmpDirs());

function key(n: number): string {
  return comparabilityKey({ featureNetwork: 'mnist-classifier-v1-0123abcd', sampleCount: n, reference: 'mnist:train:500:16x16x1', sampler: 'ddpm/fixed-large/clip', steps: '20', weights: 'ema' });
}

function dataDir() {
  const dir = tmpDataDir('xlab-compare-cli-');
  const store = openStore(dir);
  const exp = store.createExperiment({ name: 'ip sweep' });
  const runs = ['adm', 'adm-ip'].map((objective) => createTrainingRun(store, parseTrainConfig(tinyConfig({ objective: objective as 'adm' })), { experimentId: exp.id }));
  runs.forEach((r, i) => store.addEvaluation({ runId: r.id, metric: 'fid', value: 30 - 4 * i, comparabilityKey: key(100), checkpointStep: 8, samplingSteps: 20 }));
  const unevaluated = createTrainingRun(store, parseTrainConfig(tinyConfig()), {});
  store.close();
  return { dir, exp, runs, unevaluated };
}

describe('xlab compare and xlab eval', () => {
  it('prints the report as Markdown, CSV or JSON, and refuses mixed keys until --key', async () => {
    const { dir, exp, runs } = dataDir();
    const md = await runXlab(['compare', 'ip sweep', '--data-dir', dir]);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain('# Comparison: ip sweep');
    expect(md.stdout).toContain('| ADM-IP γ=0.1 | **26.00** (1 seed) |');

    const csv = await runXlab(['compare', String(exp.id), '--csv', '--data-dir', dir]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.split('\n')[0]).toMatch(/^section,variant,metric,sampling_steps,value/);
    expect(csv.stdout).toContain('by-steps,ADM,fid,20,30,');

    const store = openStore(dir);
    store.addEvaluation({ runId: runs[0]!.id, metric: 'fid', value: 29, comparabilityKey: key(1000), checkpointStep: 8, samplingSteps: 20 });
    store.close();
    const refused = await runXlab(['compare', 'ip sweep', '--data-dir', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/span 2 comparability keys/);
    expect(refused.stderr).toMatch(/differ in sample count/);
    expect(refused.stderr).toContain('--key');

    const chosen = await runXlab(['compare', 'ip sweep', '--json', '--key', key(1000), '--data-dir', dir]);
    expect(chosen.code, chosen.stderr).toBe(0);
    const report = JSON.parse(chosen.stdout);
    expect(report.key).toContain('n=1000');
    expect(report.bySteps[0].rows[0].cells[0].mean).toBe(29);

    const unknown = await runXlab(['compare', 'nope', '--data-dir', dir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`experiments: ${exp.id} 'ip sweep'`);
  }, 120_000);

  it('eval checks the request before doing anything', async () => {
    const { dir, unevaluated, runs } = dataDir();
    const none = await runXlab(['eval', unevaluated.id, '--queue', '--data-dir', dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/has no checkpoint yet/);
    const bad = await runXlab(['eval', runs[0]!.id, '--eps-scale', '1,-2', '--data-dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--eps-scale: expected a positive number, got '-2'/);
  }, 120_000);
});

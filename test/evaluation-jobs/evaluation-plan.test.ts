/**
 * The parts of an evaluation that need no model: canonical sampler key parts, the combinations of a
 * plan with their keys and work, when a combination counts as done, and the scheduled evaluation's
 * checkpoint steps and its failure handling (training goes on, the run gets a note).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EvaluationInfo } from '../../src/shared/api';
import { parseComparabilityKey } from '../../src/shared/comparability';
import { EvaluationPlanSchema, parseTrainConfig } from '../../src/shared/config';
import { isCombinationDone, planCombinations, samplerKeyPart, scheduledEvaluation, type Evaluator } from '../../src/main/jobs/evaluation-run';
import { claimForegroundJob, createTrainingRun } from '../../src/main/jobs/run-records';
import { openStore, type Store } from '../../src/main/store/store';
import { removeTmpDirs, tinyConfig, tmpDataDir } from '../jobs/harness';

const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  removeTmpDirs();
});

/** planCombinations only reads the ids. */
const ids = { network: { id: 'net-v1-00000000' }, reference: { id: 'mnist:train:100:16x16x1' } } as unknown as Evaluator;

describe('evaluation plans', () => {
  it('sampler key parts are canonical: defaults resolved, lambda 1 omitted', () => {
    expect(samplerKeyPart({ kind: 'ddpm', steps: '20' }, false)).toBe('ddpm/fixed-large/clip');
    expect(samplerKeyPart({ kind: 'ddpm', steps: '20' }, true)).toBe('ddpm/learned/clip');
    expect(samplerKeyPart({ kind: 'ddpm', steps: '20', variance: 'fixed-small', clipX0: false }, false)).toBe('ddpm/fixed-small/noclip');
    expect(samplerKeyPart({ kind: 'ddpm', steps: '20', epsScale: { kind: 'constant', lambda: 1 } }, false)).toBe('ddpm/fixed-large/clip');
    expect(samplerKeyPart({ kind: 'ddim', steps: '20', epsScale: { kind: 'constant', lambda: 1.005 } }, false)).toBe('ddim/eta0/es1.005/clip');
    expect(samplerKeyPart({ kind: 'ddim', steps: '20', eta: 0.5, epsScale: { kind: 'linear', start: 1, end: 1.02 }, timeShift: { cutoff: 200, window: 5 } }, false)).toBe(
      'ddim/eta0.5/es1-1.02/ts200w5/clip',
    );
  });

  it('plans every checkpoint x T\' x lambda with its key, T\' and sampler work', () => {
    const plan = EvaluationPlanSchema.parse({ steps: ['10,15,20', 'ddim50'], epsScales: [1, 1.01], n: 250, batchSize: 100, weights: 'raw' });
    const config = parseTrainConfig(tinyConfig({ T: 1000 }));
    const combos = planCombinations(plan, config, [{ step: 10, file: 'a' }, { step: 20, file: 'b' }], ids);
    expect(combos).toHaveLength(8);
    expect(combos.map((c) => [c.checkpointStep, c.steps, c.epsScale, c.samplingSteps, c.work])).toEqual([
      [10, '10,15,20', 1, 45, 3 * 45],
      [10, '10,15,20', 1.01, 45, 3 * 45],
      [10, 'ddim50', 1, 50, 3 * 50],
      [10, 'ddim50', 1.01, 50, 3 * 50],
      [20, '10,15,20', 1, 45, 3 * 45],
      [20, '10,15,20', 1.01, 45, 3 * 45],
      [20, 'ddim50', 1, 50, 3 * 50],
      [20, 'ddim50', 1.01, 50, 3 * 50],
    ]);
    expect(parseComparabilityKey(combos[1]!.key)).toEqual({
      featureNetwork: 'net-v1-00000000',
      sampleCount: 250,
      reference: 'mnist:train:100:16x16x1',
      sampler: 'ddpm/fixed-large/es1.01/clip',
      steps: '10,15,20',
      weights: 'raw',
    });
    expect(combos[0]!.key).toBe(combos[4]!.key); // the checkpoint is not part of the key
  });

  it('a combination is done when every metric is stored or was unavailable', () => {
    const plan = EvaluationPlanSchema.parse({ steps: ['20'], metrics: ['fid', 'sfid', 'kid'] });
    const [c] = planCombinations(plan, parseTrainConfig(tinyConfig()), [{ step: 8, file: 'x' }], ids);
    let id = 0;
    const row = (metric: string, over: Partial<EvaluationInfo> = {}): EvaluationInfo => ({
      id: ++id, runId: 'r', sampleSetId: null, metric, value: 1, ciLow: null, ciHigh: null, comparabilityKey: c!.key,
      details: null, createdAt: 0, checkpointStep: 8, samplingSteps: 20, ...over,
    });
    expect(isCombinationDone([], c!, plan)).toBe(false);
    expect(isCombinationDone([row('fid'), row('kid')], c!, plan)).toBe(false);
    expect(isCombinationDone([row('fid'), row('kid'), row('sfid')], c!, plan)).toBe(true);
    expect(isCombinationDone([row('fid', { details: { unavailable: [{ metric: 'sfid', reason: 'no spatial features' }] } }), row('kid')], c!, plan)).toBe(true);
    expect(isCombinationDone([row('fid', { checkpointStep: 4 }), row('kid'), row('sfid')], c!, plan)).toBe(false);
    expect(isCombinationDone([row('fid', { comparabilityKey: 'other' }), row('kid'), row('sfid')], c!, plan)).toBe(false);
  });

  it('a scheduled evaluation asks for a checkpoint every `every` steps; when it cannot run, training goes on and the run gets a note', async () => {
    const dir = tmpDataDir('xlab-sched-');
    const store = openStore(dir);
    stores.push(store);
    const env = process.env['XLAB_INCEPTION'];
    delete process.env['XLAB_INCEPTION'];
    try {
      const config = parseTrainConfig(tinyConfig({ steps: 7, evaluation: { every: 3, featureNetwork: 'inception' } }));
      const run = createTrainingRun(store, config, {});
      const job = claimForegroundJob(store, run.id, 'train'); // its heartbeat must succeed
      const lines: string[] = [];
      const s = scheduledEvaluation({ store, dataDir: dir, runId: run.id, jobId: job.id, config, say: (l) => lines.push(l), heartbeatMs: 0 });
      expect([1, 2, 3, 4, 5, 6, 7].filter((step) => s.hooks.checkpointAt!(step))).toEqual([3, 6]);
      await s.hooks.afterCheckpoint!(2, 'unused'); // not an evaluation step: nothing happens
      expect(lines).toEqual([]);
      await s.hooks.afterCheckpoint!(3, 'unused');
      expect(lines[0]).toMatch(/scheduled evaluation at step 3 failed, training continues without it: .*'inception' is not configured/);
      expect(store.listNotes(run.id)[0]!.text).toMatch(/xlab eval/);
      await s.hooks.afterCheckpoint!(6, 'unused'); // off for the rest of the job: one note, one line
      expect(lines).toHaveLength(1);
      expect(store.listNotes(run.id)).toHaveLength(1);
      s.dispose();
      expect(scheduledEvaluation({ store, dataDir: dir, runId: run.id, jobId: 1, config: parseTrainConfig(tinyConfig()), say: () => undefined }).hooks).toEqual({});
    } finally {
      if (env !== undefined) process.env['XLAB_INCEPTION'] = env;
    }
  });
});

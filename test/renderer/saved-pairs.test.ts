import { describe, expect, it } from 'vitest';
import type { SampleSetInfo } from '../../src/shared/api';
import { latestPairedSets } from '../../src/renderer/src/screens/compare/saved-pairs';
import { DEFAULT_SAMPLE_FORM, sampleRequest } from '../../src/renderer/src/screens/compare/sample-request';

let nextId = 1;
function set(runId: string, over: Partial<SampleSetInfo> = {}): SampleSetInfo {
  const id = nextId++;
  return {
    id,
    runId,
    checkpointStep: 30,
    sampler: { name: 'ddpm', kind: 'ddpm', steps: '20' },
    stepsSpec: '20',
    epsScale: 1,
    seed: 0,
    count: 64,
    npzArtifactId: null,
    gridArtifactId: `a${String(id).padStart(24, '0')}`,
    createdAt: 1000 * id,
    ...over,
  };
}

describe('latestPairedSets', () => {
  it('pairs the newest set of the first run with the matching set of the other, and fills the form to ask for them', () => {
    const a1 = set('a', { seed: 0 });
    const b1 = set('b', { seed: 0 });
    const a2 = set('a', { seed: 1 });
    const b2 = set('b', { seed: 1 });
    const pair = latestPairedSets([[a1, a2], [b1, b2]], [30, 30]);
    expect(pair?.sets.map((s) => s.id)).toEqual([a2.id, b2.id]);
    expect(pair?.form).toEqual({ checkpoint: '', sampler: 'ddpm', steps: '20', n: '64', seed: '1' });
    expect(pair?.customSteps).toBe(false);
    // The form as filled in is a valid request for the same settings.
    const request = sampleRequest(['a', 'b'], { ...DEFAULT_SAMPLE_FORM, ...pair!.form }).request;
    expect(request).toEqual({ runIds: ['a', 'b'], sampler: { kind: 'ddpm', steps: '20' }, n: 64, seed: 1, weights: 'ema' });
  });

  it('skips a newer set the other run has no match for', () => {
    const a1 = set('a', { count: 32 });
    const b1 = set('b', { count: 32 });
    const aNewer = set('a', { count: 16 });
    const pair = latestPairedSets([[a1, aNewer], [b1]], [30, 30]);
    expect(pair?.sets.map((s) => s.id)).toEqual([a1.id, b1.id]);
  });

  it('requires the same seed, count, sampler and respacing', () => {
    const a = set('a');
    for (const other of [
      set('b', { seed: 2 }),
      set('b', { count: 32 }),
      set('b', { stepsSpec: '50', sampler: { kind: 'ddpm', steps: '50' } }),
      set('b', { stepsSpec: 'ddim20', sampler: { kind: 'ddim', steps: 'ddim20' } }),
    ]) {
      expect(latestPairedSets([[a], [other]], [30, 30])).toBeNull();
    }
  });

  it('names a shared checkpoint that is not the latest, and pairs each run at its own latest as "latest"', () => {
    const older = latestPairedSets([[set('a', { checkpointStep: 10 })], [set('b', { checkpointStep: 10 })]], [30, 30]);
    expect(older?.form.checkpoint).toBe('10');
    const atLatest = latestPairedSets([[set('a', { checkpointStep: 30 })], [set('b', { checkpointStep: 40 })]], [30, 40]);
    expect(atLatest?.form.checkpoint).toBe('');
    // Different checkpoints that are not each run's latest do not pair.
    expect(latestPairedSets([[set('a', { checkpointStep: 30 })], [set('b', { checkpointStep: 20 })]], [30, 40])).toBeNull();
  });

  it('leaves out sets the form cannot ask for again, and sets without a grid image', () => {
    const b = set('b');
    expect(latestPairedSets([[set('a', { epsScale: 1.01 })], [b]], [30, 30])).toBeNull();
    expect(latestPairedSets([[set('a', { stepsSpec: null })], [b]], [30, 30])).toBeNull();
    expect(latestPairedSets([[set('a', { stepsSpec: '10,10', sampler: { kind: 'ddpm' } })], [set('b', { stepsSpec: '10,10' })]], [30, 30])).toBeNull();
    expect(latestPairedSets([[set('a', { gridArtifactId: null })], [b]], [30, 30])).toBeNull();
    expect(latestPairedSets([[set('a')], [set('b', { gridArtifactId: null })]], [30, 30])).toBeNull();
  });

  it('reads DDIM respacing and steps off the menu', () => {
    const pair = latestPairedSets(
      [[set('a', { stepsSpec: 'ddim37', sampler: { kind: 'ddim', steps: 'ddim37' } })], [set('b', { stepsSpec: 'ddim37', sampler: { kind: 'ddim', steps: 'ddim37' } })]],
      [30, 30],
    );
    expect(pair?.form).toMatchObject({ sampler: 'ddim', steps: '37' });
    expect(pair?.customSteps).toBe(true);
  });

  it('takes, among equal candidates, the set made closest in time to the first run\'s', () => {
    const bEarly = set('b', { createdAt: 1_000 });
    const a = set('a', { createdAt: 50_000 });
    const bTogether = set('b', { createdAt: 50_400 });
    const bLate = set('b', { createdAt: 90_000 });
    expect(latestPairedSets([[a], [bEarly, bTogether, bLate]], [30, 30])?.sets[1]?.id).toBe(bTogether.id);
  });

  it('pairs across four runs, and needs at least two', () => {
    const runs = ['a', 'b', 'c', 'd'].map((r) => [set(r)]);
    expect(latestPairedSets(runs, [30, 30, 30, 30])?.sets.map((s) => s.runId)).toEqual(['a', 'b', 'c', 'd']);
    expect(latestPairedSets([[set('a')]], [30])).toBeNull();
    expect(latestPairedSets([[set('a')], [set('b')], []], [30, 30, 30])).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { TrainConfigSchema } from '../../src/shared/config';
import {
  cifarPaperPreset,
  formFromRunConfig,
  mnistAllObjectivesPreset,
  mnistPreset,
  parseSeeds,
  planRuns,
} from '../../src/renderer/src/screens/new-experiment/form-model';

describe('planRuns', () => {
  it('turns the default form into a valid ADM / ADM-IP pair (gamma 0.1)', () => {
    const { runs, issues } = planRuns(mnistPreset());
    expect(issues).toEqual({});
    expect(runs.map((r) => r.objective)).toEqual(['adm', 'adm-ip']);
    const [adm, ip] = runs.map((r) => TrainConfigSchema.parse(r.config));
    expect(ip!.gamma).toEqual({ kind: 'constant', gamma: 0.1 });
    // The pair differs in the objective only.
    expect({ ...adm, objective: 'x' }).toEqual({ ...ip, objective: 'x' });
    expect(adm!.evaluation).toMatchObject({ every: 500, steps: ['20', '100'], n: 1000 });
  });

  it('makes one run per objective and seed, seeds deduplicated', () => {
    const { runs, issues } = planRuns({ ...mnistAllObjectivesPreset(), seeds: '0, 1,1, 2' });
    expect(issues).toEqual({});
    expect(runs).toHaveLength(5 * 3);
    expect(new Set(runs.map((r) => `${r.objective}/${r.seed}`)).size).toBe(15);
    const wd = runs.find((r) => r.objective === 'adm-wd')!;
    expect(TrainConfigSchema.parse(wd.config).optimizer).toMatchObject({ kind: 'adamw', weightDecay: 0.01 });
    const gp = runs.find((r) => r.objective === 'adm-gp')!;
    expect(TrainConfigSchema.parse(gp.config).gpLambda).toBe(0.001);
  });

  it('files the schema’s and its own problems under the field to change', () => {
    const f = mnistAllObjectivesPreset();
    const { issues } = planRuns({
      ...f,
      batch: '0',
      lr: 'abc',
      steps: '',
      seeds: '1,x',
      objectives: { ...f.objectives, 'adm-wd': { on: true, param: '0' }, 'adm-ip': { on: true, param: '20' } },
      evalSteps: '20,1OO',
    });
    expect(issues.batch?.join()).toMatch(/>0|too small/i);
    expect(issues.lr).toEqual(["'abc' is not a number"]);
    expect(issues.steps).toEqual(['required']);
    expect(issues.seeds?.[0]).toMatch(/'x' is not a seed/);
    // adm-wd's superRefine (optimizer.weightDecay) and adm-ip's gamma range land on their objective's row.
    expect(issues['objective:adm-wd']?.join()).toMatch(/positive weight decay/);
    expect(issues['objective:adm-ip']?.join()).toMatch(/10/);
    expect(issues.evalSteps?.join()).toMatch(/expected/);
  });

  it('asks for an objective, a name and a dataset location', () => {
    const f = mnistPreset();
    const none = Object.fromEntries(Object.entries(f.objectives).map(([k, v]) => [k, { ...v, on: false }])) as typeof f.objectives;
    const { runs, issues } = planRuns({ ...f, objectives: none, experimentName: ' ', datasetChoice: 'path', datasetPath: '' });
    expect(runs).toEqual([]);
    expect(issues.objectives).toHaveLength(1);
    expect(issues.experimentName).toHaveLength(1);
    expect(issues.dataset).toHaveLength(1);
  });
});

describe('the paper preset (CIFAR-10, Table 3)', () => {
  it('needs the dataset path, then gives the paper’s settings', () => {
    const f = cifarPaperPreset();
    expect(planRuns(f).issues.dataset).toHaveLength(1);
    const { runs, issues } = planRuns({ ...f, datasetPath: 'cifar10:/data/cifar-10-batches-bin' });
    expect(issues).toEqual({});
    const ip = TrainConfigSchema.parse(runs.find((r) => r.objective === 'adm-ip')!.config);
    expect(ip).toMatchObject({
      preset: 'adm-cifar10',
      T: 1000,
      schedule: 'linear',
      batch: 128,
      learnSigma: true,
      emaRate: 0.9999,
      imageSize: 32,
      gamma: { kind: 'constant', gamma: 0.15 },
      dataset: 'cifar10:/data/cifar-10-batches-bin',
    });
    expect(ip.optimizer.lr).toBe(1e-4);
    expect(ip.evaluation).toMatchObject({ steps: ['1000', '100', '80'], n: 50_000, featureNetwork: 'inception' });
  });
});

describe('formFromRunConfig (Duplicate with changes)', () => {
  it('gives back the run’s own config, including settings the form does not show', () => {
    const original = TrainConfigSchema.parse({
      objective: 'adm-ip',
      gamma: { kind: 'constant', gamma: 0.2 },
      preset: 'tiny-test',
      model: { dropout: 0.1 },
      flip: 'off',
      timestepSampler: 'loss-second-moment',
      dataset: 'folder:/data/faces',
      imageSize: null,
      steps: 123,
      batch: 7,
      seed: 42,
      T: 500,
      schedule: 'cosine',
      optimizer: { lr: 2e-4, warmupSteps: 10, gradClip: null, beta2: 0.99 },
      emaRate: 0.999,
      checkpointEvery: 50,
      logEvery: 5,
      evaluation: { every: 100, steps: ['ddim10', '50'], n: 200, epsScales: [1, 1.01], metrics: ['fid'], seed: 9 },
    });
    const form = formFromRunConfig({ ...original, outDir: '/elsewhere' }, 'a run');
    expect(form.experimentName).toBe('a run (copy)');
    const { runs, issues } = planRuns(form);
    expect(issues).toEqual({});
    expect(runs).toHaveLength(1);
    expect(TrainConfigSchema.parse(runs[0]!.config)).toEqual(original);
    expect(runs[0]!.config).not.toHaveProperty('outDir');
  });

  it('keeps a gamma schedule it cannot show', () => {
    const original = TrainConfigSchema.parse({ objective: 'adm-ip', gamma: { kind: 'linear', start: 0.2, end: 0 } });
    const { runs } = planRuns(formFromRunConfig(original, 'r'));
    expect(TrainConfigSchema.parse(runs[0]!.config).gamma).toEqual({ kind: 'linear', start: 0.2, end: 0 });
  });
});

describe('parseSeeds', () => {
  it('reads a comma list of whole numbers', () => {
    expect(parseSeeds(' 3, 1 ,3')).toEqual({ seeds: [3, 1], error: null });
    expect(parseSeeds('').error).toMatch(/at least one/);
    expect(parseSeeds('1.5').error).toMatch(/whole numbers/);
    expect(parseSeeds('-1').error).toMatch(/whole numbers/);
  });
});

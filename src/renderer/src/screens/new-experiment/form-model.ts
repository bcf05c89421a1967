/**
 * The New experiment form as data: what the inputs hold (strings, as typed), the paper presets
 * that fill them, and the translation into one TrainConfig per (objective x seed). Validation is
 * TrainConfigSchema itself; its issues are mapped back onto the input they came from, so the
 * message appears next to the field the user has to change.
 */
import { TrainConfigSchema, type ObjectiveName, type TrainConfigInput } from '../../../../shared/config';

export const MODEL_PRESETS = [
  { name: 'tiny-test', imageSize: 16, label: 'tiny-test (tests only, 16 px grey)' },
  { name: 'bench-s-mnist16', imageSize: 16, label: 'bench-s-mnist16 (0.7 M params, 16 px)' },
  { name: 'bench-m-32', imageSize: 32, label: 'bench-m-32 (6.9 M params, 32 px)' },
  { name: 'adm-cifar10', imageSize: 32, label: "adm-cifar10 (the paper's 52.5 M params, 32 px)" },
] as const;

export const OBJECTIVE_CHOICES: { objective: ObjectiveName; label: string; param: 'gamma' | 'weightDecay' | 'gpLambda' | null; paramLabel: string; hint: string }[] = [
  { objective: 'adm', label: 'ADM', param: null, paramLabel: '', hint: 'the baseline' },
  { objective: 'adm-ip', label: 'ADM-IP', param: 'gamma', paramLabel: 'γ', hint: 'input perturbation (the paper’s method)' },
  { objective: 'adm-y', label: 'ADM-y', param: 'gamma', paramLabel: 'γ', hint: 'the paper’s control: target = perturbed noise' },
  { objective: 'adm-wd', label: 'ADM-WD', param: 'weightDecay', paramLabel: 'weight decay', hint: 'AdamW weight decay' },
  { objective: 'adm-gp', label: 'ADM-GP', param: 'gpLambda', paramLabel: 'λ', hint: 'gradient penalty' },
];

export interface ObjectiveField {
  on: boolean;
  /** gamma, weight decay or lambda, as typed. */
  param: string;
}

export interface FormState {
  experimentName: string;
  description: string;
  datasetChoice: 'mnist' | 'fashion-mnist' | 'path';
  datasetPath: string;
  preset: string;
  imageSize: string;
  steps: string;
  batch: string;
  lr: string;
  seeds: string;
  objectives: Record<ObjectiveName, ObjectiveField>;
  evalOn: boolean;
  evalEvery: string;
  evalSteps: string;
  evalN: string;
  evalSampler: 'ddpm' | 'ddim';
  /** 'auto' = the app's own classifier; 'inception' = the configured Inception file. */
  evalFeatures: string;
  evalReference: string;
  // More settings
  T: string;
  schedule: 'linear' | 'cosine';
  learnSigma: boolean;
  warmup: string;
  gradClip: string;
  emaRate: string;
  checkpointEvery: string;
  logEvery: string;
  /** Settings the form does not show, kept from a duplicated run (model overrides, flips, ...). */
  base: Record<string, unknown>;
  /** Likewise for the evaluation schedule (epsilon scales, seed, metrics, ...). */
  baseEvaluation: Record<string, unknown>;
  /** A gamma schedule over t from a duplicated run; null = the constant gamma typed per objective. */
  gammaSchedule: Record<string, unknown> | null;
  afterSubmit: 'runs' | 'compare';
}

const objectives = (on: ObjectiveName[], gamma = '0.1'): Record<ObjectiveName, ObjectiveField> => ({
  adm: { on: on.includes('adm'), param: '' },
  'adm-ip': { on: on.includes('adm-ip'), param: gamma },
  'adm-y': { on: on.includes('adm-y'), param: gamma },
  'adm-wd': { on: on.includes('adm-wd'), param: '0.01' },
  'adm-gp': { on: on.includes('adm-gp'), param: '0.001' },
});

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The common case: ADM vs ADM-IP on the bundled MNIST digits, the settings of `xlab demo`. */
export function mnistPreset(): FormState {
  return {
    experimentName: `mnist adm vs adm-ip ${today()}`,
    description: '',
    datasetChoice: 'mnist',
    datasetPath: '',
    preset: 'bench-s-mnist16',
    imageSize: '16',
    steps: '1000',
    batch: '32',
    // A short run: a higher learning rate with warm-up and a faster EMA than the paper's, the same for every objective.
    lr: '5e-4',
    seeds: '0',
    objectives: objectives(['adm', 'adm-ip']),
    evalOn: true,
    evalEvery: '500',
    evalSteps: '20,100',
    evalN: '1000',
    evalSampler: 'ddpm',
    evalFeatures: 'auto',
    evalReference: '10000',
    T: '1000',
    schedule: 'linear',
    learnSigma: false,
    warmup: '100',
    gradClip: '1',
    emaRate: '0.995',
    checkpointEvery: '200',
    logEvery: '10',
    base: {},
    baseEvaluation: {},
    gammaSchedule: null,
    afterSubmit: 'runs',
  };
}

/**
 * The paper's CIFAR-10 comparison (Table 3): ADM vs ADM-IP with the adm-cifar10 U-Net (learned
 * variance, dropout 0.3), T = 1000 linear, Adam lr 1e-4, batch 128, EMA 0.9999, scored with the
 * Inception network on 50k samples at T' = 1000, 100, 80. gamma is 0.15 for CIFAR-10 in the paper
 * (0.1 on the other datasets). The dataset path is the user's: CIFAR-10 is not bundled.
 */
export function cifarPaperPreset(): FormState {
  return {
    ...mnistPreset(),
    experimentName: `cifar10 paper table 3 ${today()}`,
    description: 'Reproduction of Ning et al. 2023, Table 3 (CIFAR-10, ADM vs ADM-IP).',
    datasetChoice: 'path',
    datasetPath: 'cifar10:',
    preset: 'adm-cifar10',
    imageSize: '32',
    steps: '500000',
    batch: '128',
    lr: '1e-4',
    seeds: '0',
    objectives: objectives(['adm', 'adm-ip'], '0.15'),
    evalOn: true,
    evalEvery: '50000',
    evalSteps: '1000,100,80',
    evalN: '50000',
    evalSampler: 'ddpm',
    evalFeatures: 'inception',
    evalReference: '50000',
    T: '1000',
    schedule: 'linear',
    learnSigma: true,
    warmup: '0',
    gradClip: '',
    emaRate: '0.9999',
    checkpointEvery: '5000',
    logEvery: '100',
  };
}

/** The paper's controls on the small setup: every objective of Table 1, on MNIST. */
export function mnistAllObjectivesPreset(): FormState {
  return {
    ...mnistPreset(),
    experimentName: `mnist all objectives ${today()}`,
    objectives: objectives(['adm', 'adm-ip', 'adm-y', 'adm-wd', 'adm-gp']),
  };
}

export const FORM_PRESETS: { id: string; label: string; make: () => FormState }[] = [
  { id: 'mnist', label: 'MNIST: ADM vs ADM-IP (small, minutes)', make: mnistPreset },
  { id: 'mnist-all', label: 'MNIST: every objective (ADM, -IP, -y, -WD, -GP)', make: mnistAllObjectivesPreset },
  { id: 'cifar10-table3', label: 'Paper Table 3: CIFAR-10 ADM vs ADM-IP', make: cifarPaperPreset },
];

/** Fills the form from a run's stored config (Duplicate with changes). */
export function formFromRunConfig(config: Record<string, unknown>, runName: string): FormState {
  const c = config as Partial<{
    objective: ObjectiveName;
    gamma: { kind: string; gamma?: number };
    preset: string;
    dataset: string;
    imageSize: number | null;
    steps: number;
    batch: number;
    seed: number;
    T: number;
    schedule: 'linear' | 'cosine';
    learnSigma: boolean;
    optimizer: { lr?: number; warmupSteps?: number; gradClip?: number | null; weightDecay?: number };
    emaRate: number;
    gpLambda: number;
    checkpointEvery: number;
    logEvery: number;
    evaluation: { every: number; steps: string[]; n: number; sampler: 'ddpm' | 'ddim'; featureNetwork: string; referenceCount: number } | null;
  }>;
  const f = mnistPreset();
  const str = (v: unknown, fallback: string) => (v === undefined || v === null ? fallback : String(v));
  const objective = c.objective ?? 'adm';
  const objs = objectives([objective], str(c.gamma?.gamma, '0.1'));
  if (objective === 'adm-wd') objs['adm-wd'].param = str(c.optimizer?.weightDecay, '0.01');
  if (objective === 'adm-gp') objs['adm-gp'].param = str(c.gpLambda, '0.001');
  const dataset = c.dataset ?? 'mnist';
  // What the form shows is set from its fields; everything else rides along unchanged.
  const {
    objective: _o, gamma, preset: _p, dataset: _d, imageSize: _i, steps: _s, batch: _b, seed: _seed, T: _T, schedule: _sc,
    learnSigma: _l, emaRate: _e, gpLambda: _g, checkpointEvery: _ce, logEvery: _le, evaluation: _ev, optimizer,
    // A copy trains in the data dir, never in the original's --out folder.
    outDir: _out, ...rest
  } = config as Record<string, unknown> & { optimizer?: Record<string, unknown> };
  const { lr: _lr, warmupSteps: _w, gradClip: _gc, weightDecay: _wd, kind: _k, ...optimizerRest } = optimizer ?? {};
  const base: Record<string, unknown> = { ...rest };
  const { every: _every, steps: _steps, n: _n, sampler: _sampler, featureNetwork: _fn, referenceCount: _rc, ...evaluationRest } =
    (c.evaluation ?? {}) as Record<string, unknown>;
  if (Object.keys(optimizerRest).length) base.optimizer = optimizerRest;
  return {
    ...f,
    experimentName: `${runName} (copy)`,
    description: '',
    datasetChoice: dataset === 'mnist' || dataset === 'fashion-mnist' ? dataset : 'path',
    datasetPath: dataset === 'mnist' || dataset === 'fashion-mnist' ? '' : dataset,
    preset: c.preset ?? f.preset,
    imageSize: c.imageSize === null ? '' : str(c.imageSize, f.imageSize),
    steps: str(c.steps, f.steps),
    batch: str(c.batch, f.batch),
    lr: str(c.optimizer?.lr, f.lr),
    seeds: str(c.seed, '0'),
    objectives: objs,
    evalOn: Boolean(c.evaluation),
    evalEvery: str(c.evaluation?.every, f.evalEvery),
    evalSteps: c.evaluation?.steps?.join(',') ?? f.evalSteps,
    evalN: str(c.evaluation?.n, f.evalN),
    evalSampler: c.evaluation?.sampler ?? f.evalSampler,
    evalFeatures: c.evaluation?.featureNetwork ?? f.evalFeatures,
    evalReference: str(c.evaluation?.referenceCount, f.evalReference),
    T: str(c.T, f.T),
    schedule: c.schedule ?? f.schedule,
    learnSigma: c.learnSigma ?? f.learnSigma,
    warmup: str(c.optimizer?.warmupSteps, '0'),
    gradClip: c.optimizer?.gradClip === null ? '' : str(c.optimizer?.gradClip, ''),
    emaRate: str(c.emaRate, f.emaRate),
    checkpointEvery: str(c.checkpointEvery, f.checkpointEvery),
    logEvery: str(c.logEvery, f.logEvery),
    base,
    baseEvaluation: evaluationRest,
    // A schedule over t is kept as it was (the form types only constants).
    gammaSchedule: gamma && (gamma as { kind?: string }).kind !== 'constant' ? (gamma as Record<string, unknown>) : null,
  };
}

/** The form's inputs, by the key their messages are filed under. */
export type FieldKey =
  | 'experimentName' | 'dataset' | 'preset' | 'imageSize' | 'steps' | 'batch' | 'lr' | 'seeds' | 'objectives'
  | `objective:${ObjectiveName}`
  | 'evalEvery' | 'evalSteps' | 'evalN' | 'evalReference' | 'evalFeatures'
  | 'T' | 'schedule' | 'warmup' | 'gradClip' | 'emaRate' | 'checkpointEvery' | 'logEvery' | 'form';

export type FieldIssues = Partial<Record<FieldKey, string[]>>;

export interface PlannedRun {
  objective: ObjectiveName;
  seed: number;
  name: string;
  config: TrainConfigInput;
}

export interface FormResult {
  runs: PlannedRun[];
  issues: FieldIssues;
}

function addIssue(issues: FieldIssues, key: FieldKey, message: string): void {
  const list = (issues[key] ??= []);
  if (!list.includes(message)) list.push(message);
}

/** Where a TrainConfigSchema issue belongs on the form. */
function fieldOf(path: readonly PropertyKey[], objective: ObjectiveName): FieldKey {
  const [a, b] = path.map(String);
  switch (a) {
    case 'gamma':
    case 'gpLambda':
      return `objective:${objective}`;
    case 'optimizer':
      if (b === 'lr') return 'lr';
      if (b === 'warmupSteps') return 'warmup';
      if (b === 'gradClip') return 'gradClip';
      return `objective:${objective}`;
    case 'evaluation':
      if (b === 'every') return 'evalEvery';
      if (b === 'steps') return 'evalSteps';
      if (b === 'n') return 'evalN';
      if (b === 'referenceCount') return 'evalReference';
      if (b === 'featureNetwork') return 'evalFeatures';
      return 'evalEvery';
    case 'dataset':
      return 'dataset';
    case 'seed':
      return 'seeds';
    case 'objective':
      return 'objectives';
    case 'preset':
    case 'imageSize':
    case 'steps':
    case 'batch':
    case 'T':
    case 'schedule':
    case 'emaRate':
    case 'checkpointEvery':
    case 'logEvery':
      return a;
    default:
      return 'form';
  }
}

const isBlank = (s: string) => s.trim() === '';

/**
 * Numbers as typed: a blank or malformed entry is reported against its field and left out of the
 * config (so the schema's own checks still run on everything else).
 */
function numberField(issues: FieldIssues, key: FieldKey, text: string, opts: { optional?: boolean } = {}): number | undefined {
  if (isBlank(text)) {
    if (!opts.optional) addIssue(issues, key, 'required');
    return undefined;
  }
  const v = Number(text.trim());
  if (!Number.isFinite(v)) {
    addIssue(issues, key, `'${text.trim()}' is not a number`);
    return undefined;
  }
  return v;
}

export function parseSeeds(text: string): { seeds: number[]; error: string | null } {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) return { seeds: [], error: 'enter at least one seed, e.g. 0 or 0,1,2' };
  const seeds: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) return { seeds: [], error: `'${p}' is not a seed: use whole numbers ≥ 0, separated by commas` };
    const n = Number(p);
    if (!seeds.includes(n)) seeds.push(n);
  }
  return { seeds, error: null };
}

export function objectiveRunLabel(objective: ObjectiveName, param: string): string {
  const choice = OBJECTIVE_CHOICES.find((c) => c.objective === objective)!;
  return choice.param ? `${choice.label} ${choice.paramLabel}=${param.trim()}` : choice.label;
}

/** One config per (objective x seed), with every problem filed under its field. */
export function planRuns(f: FormState): FormResult {
  const issues: FieldIssues = {};
  if (isBlank(f.experimentName)) addIssue(issues, 'experimentName', 'name the experiment (runs are grouped and compared by it)');
  const dataset = f.datasetChoice === 'path' ? f.datasetPath.trim() : f.datasetChoice;
  if (!dataset || dataset.endsWith(':')) {
    addIssue(issues, 'dataset', "enter the dataset's location, e.g. cifar10:/data/cifar-10-batches-bin or folder:/data/images");
  }
  const { seeds, error: seedError } = parseSeeds(f.seeds);
  if (seedError) addIssue(issues, 'seeds', seedError);
  const chosen = OBJECTIVE_CHOICES.filter((c) => f.objectives[c.objective].on);
  if (chosen.length === 0) addIssue(issues, 'objectives', 'choose at least one objective');

  const shared: Record<string, unknown> = { ...f.base, dataset, preset: f.preset, schedule: f.schedule, learnSigma: f.learnSigma };
  const put = (key: string, value: number | undefined) => {
    if (value !== undefined) shared[key] = value;
  };
  if (isBlank(f.imageSize)) shared.imageSize = null;
  else put('imageSize', numberField(issues, 'imageSize', f.imageSize));
  put('steps', numberField(issues, 'steps', f.steps));
  put('batch', numberField(issues, 'batch', f.batch));
  put('T', numberField(issues, 'T', f.T));
  put('emaRate', numberField(issues, 'emaRate', f.emaRate));
  put('checkpointEvery', numberField(issues, 'checkpointEvery', f.checkpointEvery));
  put('logEvery', numberField(issues, 'logEvery', f.logEvery));
  const optimizer: Record<string, unknown> = { ...((f.base.optimizer as Record<string, unknown> | undefined) ?? {}) };
  const lr = numberField(issues, 'lr', f.lr);
  if (lr !== undefined) optimizer.lr = lr;
  const warmup = numberField(issues, 'warmup', f.warmup, { optional: true });
  if (warmup !== undefined) optimizer.warmupSteps = warmup;
  const clip = numberField(issues, 'gradClip', f.gradClip, { optional: true });
  optimizer.gradClip = clip ?? null;

  if (f.evalOn) {
    const steps = f.evalSteps.split(',').map((s) => s.trim()).filter(Boolean);
    if (steps.length === 0) addIssue(issues, 'evalSteps', "list the sampling steps T' to score at, e.g. 20,100");
    const evaluation: Record<string, unknown> = {
      ...f.baseEvaluation,
      steps,
      sampler: f.evalSampler,
      featureNetwork: f.evalFeatures.trim() || 'auto',
    };
    const every = numberField(issues, 'evalEvery', f.evalEvery);
    if (every !== undefined) evaluation.every = every;
    else evaluation.every = 1; // reported above; a stand-in keeps the other checks running
    const n = numberField(issues, 'evalN', f.evalN);
    if (n !== undefined) evaluation.n = n;
    const ref = numberField(issues, 'evalReference', f.evalReference, { optional: true });
    if (ref !== undefined) evaluation.referenceCount = ref;
    shared.evaluation = evaluation;
  } else {
    shared.evaluation = null;
  }

  const runs: PlannedRun[] = [];
  for (const choice of chosen) {
    const field = f.objectives[choice.objective];
    const key: FieldKey = `objective:${choice.objective}`;
    const config: Record<string, unknown> = { ...shared, objective: choice.objective, optimizer: { ...optimizer } };
    if (choice.param === 'gamma' && f.gammaSchedule) {
      config.gamma = f.gammaSchedule;
    } else if (choice.param) {
      const v = numberField(issues, key, field.param);
      if (v !== undefined) {
        if (choice.param === 'gamma') config.gamma = { kind: 'constant', gamma: v };
        else if (choice.param === 'gpLambda') config.gpLambda = v;
        else config.optimizer = { ...optimizer, kind: 'adamw', weightDecay: v };
      }
    }
    for (const seed of seeds.length ? seeds : [0]) {
      const withSeed = { ...config, seed };
      const r = TrainConfigSchema.safeParse(withSeed);
      if (!r.success) {
        for (const i of r.error.issues) addIssue(issues, fieldOf(i.path, choice.objective), i.message);
      }
      runs.push({
        objective: choice.objective,
        seed,
        name: `${f.experimentName.trim()} · ${objectiveRunLabel(choice.objective, field.param)} · seed ${seed}`,
        config: withSeed as TrainConfigInput,
      });
    }
  }
  return { runs, issues };
}

export function hasIssues(issues: FieldIssues): boolean {
  return Object.values(issues).some((l) => l && l.length > 0);
}

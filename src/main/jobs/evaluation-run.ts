/**
 * Evaluation with the run history attached. For checkpoints of a training run, each T' of the plan
 * and each epsilon scale lambda: draw plan.n samples from paired noise (generateSampleSet: sample i
 * gets the noise of (plan.seed, i) whatever the model, so two runs are scored on the same noise),
 * record the sample set, extract features with the feature network, score them against the cached
 * reference set of the run's dataset (at the run's image size and channels), and store one row per
 * metric, each with its comparability key. Used by the job process ('evaluate' jobs: their own run,
 * a child of the training run) and, in process, by a training job with a scheduled evaluation
 * (TrainConfig.evaluation), so the FID-vs-iterations curve grows while the model trains.
 *
 * Scores and sample sets are stored under the TRAINING run: they measure its model, so curves, keys,
 * the cached best FID and the comparison report (all keyed by training run) find them directly; each
 * row's details name the evaluation run that produced it (null when scheduled in training).
 *
 * A combination (checkpoint, T', lambda) whose scores are already stored under the same key is
 * skipped: a resumed or repeated evaluation does only what is missing. Each combination commits on
 * its own; a stop (cancel, pause, shutdown) is noticed between sampler steps and loses at most the
 * combination in progress.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { JsonObject, RunStatus } from '../../shared/api';
import { comparabilityKey } from '../../shared/comparability';
import { EvaluationPlanSchema, formatIssues, parseTrainConfig, type EvaluationPlan, type ScoreMetric, type TrainConfig } from '../../shared/config';
import { resolveVariance } from '../diffusion/samplers';
import { spacedTimesteps } from '../diffusion/respacing';
import type { ClassifierTraining } from '../evaluation/classifier/classifier-network';
import type { FeatureNetwork } from '../evaluation/feature-network';
import { featureNetworkFor } from '../evaluation/network-catalog';
import { referenceSet, type ReferenceSet } from '../evaluation/reference-set';
import { scoreImages, type Scores } from '../evaluation/scoring';
import { generateSampleSet, type SamplerChoice } from '../generation/generate';
import { resolveInDataDir } from '../store/artifacts';
import type { EvaluationRow, NewEvaluation, RunRow, SampleSetRow, Store } from '../store/store';
import { checkpointFileName, listCheckpoints } from '../training/checkpoint';
import { runPaths } from '../training/trainer';
import type { JobProgress, LogTail } from './protocol';
import { markOwnJobInterrupted, recordJobFailure, relativeIfInside, runFolderOf } from './run-records';
import type { TrainingStop } from './training-run';

/** What an evaluation job is asked to do (job args; also the evaluation run's config). */
export interface EvaluationArgs {
  /** Tells these args apart from an analysis's (the other kind of 'evaluate' job). */
  type: 'evaluation';
  /** The training run evaluated. */
  sourceRunId: string;
  /** Checkpoint steps; null = the run's latest when the job starts. */
  checkpointSteps: number[] | null;
  plan: EvaluationPlan;
}

const EvaluationArgsSchema = z.object({
  type: z.literal('evaluation'),
  sourceRunId: z.string().min(1),
  checkpointSteps: z.array(z.number().int().nonnegative()).min(1).nullable(),
  plan: EvaluationPlanSchema,
});

export function parseEvaluationArgs(args: unknown): EvaluationArgs {
  const r = EvaluationArgsSchema.safeParse(args);
  if (!r.success) throw new Error(`invalid evaluation job arguments: ${formatIssues(r.error)}`);
  return r.data;
}

/**
 * Classifier training settings from $XLAB_CLASSIFIER_TRAINING (JSON, e.g. {"steps":60,"trainCount":600}):
 * the settings the app's classifier is trained (or looked up) with. The network's id names its
 * weights, so scores under other settings are never compared with the default ones by accident.
 */
export const CLASSIFIER_TRAINING_ENV = 'XLAB_CLASSIFIER_TRAINING';

export function classifierTrainingFromEnv(): Partial<ClassifierTraining> | undefined {
  const text = process.env[CLASSIFIER_TRAINING_ENV];
  if (!text || !text.trim()) return undefined;
  const r = z
    .object({
      steps: z.number().int().positive(),
      batchSize: z.number().int().positive(),
      lr: z.number().positive(),
      seed: z.number().int().nonnegative(),
      trainCount: z.number().int().min(10).nullable(),
    })
    .partial()
    .strict()
    .safeParse((() => {
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    })());
  if (!r.success) throw new Error(`$${CLASSIFIER_TRAINING_ENV} must be a JSON object of classifier settings: ${formatIssues(r.error)}`);
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Keys and combinations

/** The sampler of one combination: the plan's kind, this T', and lambda (none when 1). */
export function samplerFor(plan: Pick<EvaluationPlan, 'sampler'>, steps: string, epsScale: number): SamplerChoice {
  return { kind: plan.sampler, steps, ...(epsScale !== 1 ? { epsScale: { kind: 'constant' as const, lambda: epsScale } } : {}) };
}

/**
 * The sampler settings that change a score, T' excluded, in a canonical order with every default
 * resolved ("ddpm/fixed-large/clip", "ddim/eta0/es1.005/clip"), so two equal samplers always give
 * the same key.
 */
export function samplerKeyPart(s: SamplerChoice, learnSigma: boolean): string {
  const parts: string[] = [s.kind];
  if (s.kind === 'ddpm') parts.push(resolveVariance({ ...s, learnSigma }));
  else parts.push(`eta${s.eta ?? 0}`);
  const es = s.epsScale;
  if (es && es.kind === 'constant' && es.lambda !== 1) parts.push(`es${es.lambda}`);
  if (es && es.kind === 'linear') parts.push(`es${es.start}-${es.end}`);
  if (s.timeShift) parts.push(`ts${s.timeShift.cutoff}w${s.timeShift.window}`);
  parts.push(s.clipX0 === false ? 'noclip' : 'clip');
  return parts.join('/');
}

export interface Combination {
  checkpointStep: number;
  checkpointFile: string;
  steps: string;
  epsScale: number;
  sampler: SamplerChoice;
  /** T': steps of the respaced chain. */
  samplingSteps: number;
  key: string;
  /** Sampler steps over all batches (the progress unit). */
  work: number;
}

/** The network and reference set a run is scored with; loaded once per job. */
export interface Evaluator {
  network: FeatureNetwork;
  reference: ReferenceSet;
  dispose(): void;
}

export async function loadEvaluator(dataDir: string, config: TrainConfig, plan: EvaluationPlan, say: (line: string) => void): Promise<Evaluator> {
  const classifierTraining = classifierTrainingFromEnv();
  const network = await featureNetworkFor(plan.featureNetwork, {
    dataDir,
    dataset: config.dataset,
    ...(config.channels !== null ? { channels: config.channels } : {}),
    ...(classifierTraining ? { classifierTraining } : {}),
    onMessage: say,
  });
  try {
    const t0 = performance.now();
    const reference = await referenceSet(
      network,
      {
        dataset: config.dataset,
        count: plan.referenceCount,
        ...(config.imageSize !== null ? { imageSize: config.imageSize } : {}),
        ...(config.channels !== null ? { channels: config.channels } : {}),
      },
      { dataDir, batchSize: Math.max(plan.batchSize, 256) },
    );
    say(
      `feature network ${network.id}; reference ${reference.id} ` +
        (reference.fromCache ? '(cached)' : `(extracted in ${((performance.now() - t0) / 1000).toFixed(1)} s, cached)`),
    );
    return { network, reference, dispose: () => network.dispose() };
  } catch (err) {
    network.dispose();
    throw err;
  }
}

/** Every combination of the plan for these checkpoints, with its key. */
export function planCombinations(
  plan: EvaluationPlan,
  config: TrainConfig,
  checkpoints: readonly { step: number; file: string }[],
  evaluator: Pick<Evaluator, 'network' | 'reference'>,
): Combination[] {
  const out: Combination[] = [];
  const batches = Math.ceil(plan.n / plan.batchSize);
  for (const c of checkpoints) {
    for (const steps of plan.steps) {
      const samplingSteps = spacedTimesteps(config.T, steps).length;
      for (const epsScale of plan.epsScales) {
        const sampler = samplerFor(plan, steps, epsScale);
        const key = comparabilityKey({
          featureNetwork: evaluator.network.id,
          sampleCount: plan.n,
          reference: evaluator.reference.id,
          sampler: samplerKeyPart(sampler, config.learnSigma),
          steps,
          weights: plan.weights,
        });
        out.push({ checkpointStep: c.step, checkpointFile: c.file, steps, epsScale, sampler, samplingSteps, key, work: batches * samplingSteps });
      }
    }
  }
  return out;
}

/** Metrics stored for a plan: those asked for, and always FID (the curves, best FID and resume use it). */
function storedMetrics(plan: EvaluationPlan): ScoreMetric[] {
  return [...new Set<ScoreMetric>(['fid', ...plan.metrics])];
}

/** Done when every metric of the plan has a score under the key at that checkpoint, or was unavailable. */
export function isCombinationDone(existing: readonly EvaluationRow[], c: Combination, plan: EvaluationPlan): boolean {
  const here = existing.filter((e) => e.comparabilityKey === c.key && e.checkpointStep === c.checkpointStep);
  const fid = here.find((e) => e.metric === 'fid');
  if (!fid) return false;
  const unavailable = new Set(
    ((fid.details?.['unavailable'] as { metric?: string }[] | undefined) ?? []).map((u) => u.metric).filter(Boolean),
  );
  return storedMetrics(plan).every((m) => unavailable.has(m) || here.some((e) => e.metric === m));
}

/** The checkpoint file of a recorded (or on-disk) checkpoint step of a training run. */
export function checkpointOf(store: Store, dataDir: string, run: RunRow, step: number): { step: number; file: string } {
  const row = store.listCheckpoints(run.id).find((c) => c.step === step);
  const file = row ? resolveInDataDir(dataDir, row.path) : path.join(runPaths(runFolderOf(dataDir, run)).checkpoints, checkpointFileName(step));
  if (!fs.existsSync(file)) throw new Error(`run ${run.id} has no checkpoint at step ${step}`);
  return { step, file };
}

/** The newest checkpoint of a training run (recorded, else on disk), or null before its first. */
export function latestCheckpointStep(store: Store, dataDir: string, run: RunRow): number | null {
  const recorded = store.latestCheckpoint(run.id)?.step ?? null;
  const onDisk = listCheckpoints(runPaths(runFolderOf(dataDir, run)).checkpoints).at(-1)?.step ?? null;
  if (recorded === null) return onDisk;
  return onDisk === null ? recorded : Math.max(recorded, onDisk);
}

export class EvaluationStopped extends Error {
  constructor(readonly reason: TrainingStop | 'job-gone') {
    super(`evaluation stopped (${reason})`);
  }
}

export interface CombinationContext {
  store: Store;
  dataDir: string;
  trainingRun: RunRow;
  config: TrainConfig;
  plan: EvaluationPlan;
  evaluator: Evaluator;
  /** The evaluation run, or null for a scheduled evaluation inside a training job. */
  evaluationRunId: string | null;
  /** Polled between sampler steps: a reason stops the combination (EvaluationStopped). */
  stopCheck: () => TrainingStop | 'job-gone' | null;
  onSamplerStep?: (done: number, total: number) => void;
  say: (line: string) => void;
}

export interface CombinationResult {
  sampleSet: SampleSetRow;
  scores: Scores;
  rows: EvaluationRow[];
}

/** Samples, records and scores one combination; its rows commit together. */
export async function evaluateCombination(ctx: CombinationContext, c: Combination): Promise<CombinationResult> {
  const { store, dataDir, trainingRun, plan, evaluator } = ctx;
  const check = () => {
    const reason = ctx.stopCheck();
    if (reason) throw new EvaluationStopped(reason);
  };
  check();
  const t0 = performance.now();
  const set = await generateSampleSet({
    checkpoint: c.checkpointFile,
    weights: plan.weights,
    sampler: c.sampler,
    n: plan.n,
    seed: plan.seed,
    batchSize: plan.batchSize,
    onStep: (done, total) => {
      ctx.onSamplerStep?.(done, total);
      check();
    },
  });
  const samplingSeconds = (performance.now() - t0) / 1000;
  check();
  const t1 = performance.now();
  const scores = await scoreImages(evaluator.network, { data: set.uint8, shape: set.shape }, evaluator.reference, {
    metrics: storedMetrics(plan),
    bootstrap: plan.bootstrap,
    seed: plan.seed,
    batchSize: Math.max(plan.batchSize, 256),
    // feature batches and bootstrap replicates: an Inception-sized bootstrap takes minutes
    onProgress: check,
  });
  const scoringSeconds = (performance.now() - t1) / 1000;
  check();

  const details: JsonObject = {
    evaluationRunId: ctx.evaluationRunId,
    scheduled: ctx.evaluationRunId === null,
    featureNetwork: evaluator.network.id,
    network: evaluator.network.description,
    reference: evaluator.reference.id,
    referenceImages: evaluator.reference.features.pooled.rows,
    samples: scores.count,
    seed: plan.seed,
    sampler: { ...c.sampler },
    stepsSpec: c.steps,
    epsScale: c.epsScale,
    weights: plan.weights,
    bootstrapReplicates: plan.bootstrap,
    unavailable: scores.unavailable.map((u) => ({ ...u })),
    seconds: { sampling: round3(samplingSeconds), scoring: round3(scoringSeconds) },
  };
  const values: { metric: ScoreMetric; value: number | undefined; ci?: [number, number]; extra?: JsonObject }[] = [
    { metric: 'fid', value: scores.fid, ...(scores.fidCi ? { ci: scores.fidCi } : {}) },
    { metric: 'sfid', value: scores.sfid },
    { metric: 'kid', value: scores.kid, extra: { kidStd: scores.kidStd ?? null, kidStdErr: scores.kidStdErr ?? null } },
    { metric: 'precision', value: scores.precision },
    { metric: 'recall', value: scores.recall },
    { metric: 'is', value: scores.is, extra: { isStd: scores.isStd ?? null } },
  ];
  const wanted = new Set(storedMetrics(plan));
  const npz = relativeIfInside(dataDir, set.npzPath);
  const grid = relativeIfInside(dataDir, set.gridPath);
  const result = store.transaction(() => {
    const sampleSet = store.addSampleSet({
      runId: trainingRun.id,
      checkpointStep: set.checkpointStep,
      sampler: { name: c.sampler.kind, ...c.sampler },
      stepsSpec: c.steps,
      epsScale: c.epsScale,
      seed: plan.seed,
      count: plan.n,
      npzPath: npz,
      gridPath: grid,
    });
    const rows: EvaluationRow[] = [];
    for (const v of values) {
      if (!wanted.has(v.metric) || v.value === undefined || !Number.isFinite(v.value)) continue;
      const row: NewEvaluation = {
        runId: trainingRun.id,
        sampleSetId: sampleSet.id,
        metric: v.metric,
        value: v.value,
        ciLow: v.ci?.[0] ?? null,
        ciHigh: v.ci?.[1] ?? null,
        comparabilityKey: c.key,
        details: { ...details, ...(v.extra ?? {}) },
        checkpointStep: set.checkpointStep,
        samplingSteps: c.samplingSteps,
      };
      rows.push(store.addEvaluation(row));
    }
    return { sampleSet, rows };
  });
  const ci = scores.fidCi ? ` [${scores.fidCi[0].toFixed(2)}, ${scores.fidCi[1].toFixed(2)}]` : '';
  ctx.say(
    `step ${c.checkpointStep}, T'=${c.samplingSteps} ('${c.steps}'), lambda ${c.epsScale}: FID ${scores.fid.toFixed(3)}${ci}` +
      (scores.sfid !== undefined ? `, sFID ${scores.sfid.toFixed(3)}` : '') +
      ` (sampling ${samplingSeconds.toFixed(1)} s, scoring ${scoringSeconds.toFixed(1)} s)`,
  );
  return { ...result, scores };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// ---------------------------------------------------------------------------------------------
// The evaluation job

export interface EvaluationRunOptions {
  store: Store;
  dataDir: string;
  /** The evaluation run (kind 'evaluate'). */
  runId: string;
  jobId: number;
  args: EvaluationArgs;
  log: LogTail;
  stopRequested?: () => TrainingStop | null;
  onProgress?: (p: JobProgress) => void;
  onRunUpdated?: (runId: string, status: RunStatus, stepsDone: number) => void;
  /** Sampler steps over the whole job. */
  onStep?: (done: number, total: number) => void;
  onLog?: (line: string) => void;
  heartbeatMs?: number;
  progressMs?: number;
}

export type EvaluationOutcome =
  | { status: 'done'; evaluated: Combination[]; skipped: Combination[]; rows: EvaluationRow[] }
  | { status: 'stopped'; reason: TrainingStop | 'job-gone' }
  | { status: 'failed'; error: string };

export async function runEvaluation(o: EvaluationRunOptions): Promise<EvaluationOutcome> {
  const { store, dataDir, runId, jobId, args, log } = o;
  const heartbeatMs = o.heartbeatMs ?? 1000;
  const progressMs = o.progressMs ?? 250;
  const say = (line: string) => {
    log.add(line);
    o.onLog?.(line);
  };
  const announce = () => {
    const run = store.getRun(runId);
    if (run) o.onRunUpdated?.(runId, run.status, run.stepsDone);
  };
  const fail = (err: unknown): EvaluationOutcome => {
    const error = recordJobFailure(store, jobId, runId, log, err, o.onLog);
    announce();
    return { status: 'failed', error };
  };

  if (!store.heartbeat(jobId, process.pid)) return { status: 'stopped', reason: 'job-gone' };
  let lastBeat = Date.now();
  const stopCheck = (): TrainingStop | 'job-gone' | null => {
    const requested = o.stopRequested?.() ?? null;
    if (requested) return requested;
    const now = Date.now();
    if (now - lastBeat >= heartbeatMs) {
      lastBeat = now;
      if (!store.heartbeat(jobId, process.pid)) return 'job-gone';
    }
    return null;
  };

  let evaluator: Evaluator | null = null;
  try {
    let source: RunRow;
    let config: TrainConfig;
    let combos: Combination[];
    let pending: Combination[];
    try {
      const found = store.getRun(args.sourceRunId);
      if (!found) throw new Error(`training run ${args.sourceRunId} no longer exists`);
      if (found.kind !== 'train') throw new Error(`run ${found.id} is a ${found.kind} run; evaluate a training run`);
      source = found;
      config = parseTrainConfig(source.config);
      const steps = args.checkpointSteps ?? [latestCheckpointStep(store, dataDir, source) ?? -1];
      if (steps[0] === -1) throw new Error(`run ${source.id} has no checkpoint yet; evaluate it once it has written one`);
      const checkpoints = steps.map((s) => checkpointOf(store, dataDir, source, s));
      const run = store.updateRun(runId, { status: 'running' });
      o.onRunUpdated?.(runId, run.status, run.stepsDone);
      say(
        `evaluating run ${source.id} at step(s) ${steps.join(', ')}: T' ${args.plan.steps.map((s) => `'${s}'`).join(', ')}, ` +
          `lambda ${args.plan.epsScales.join(', ')}, n ${args.plan.n}, seed ${args.plan.seed}, ${args.plan.weights} weights`,
      );
      evaluator = await loadEvaluator(dataDir, config, args.plan, say);
      combos = planCombinations(args.plan, config, checkpoints, evaluator);
      const existing = store.listEvaluations({ runId: source.id });
      pending = combos.filter((c) => !isCombinationDone(existing, c, args.plan));
      if (pending.length < combos.length) say(`${combos.length - pending.length} of ${combos.length} combination(s) already scored; skipping them`);
    } catch (err) {
      return fail(err);
    }

    const total = pending.reduce((a, c) => a + c.work, 0);
    store.updateRun(runId, { stepsPlanned: total, stepsDone: 0 });
    const t0 = Date.now();
    let before = 0;
    let lastProgressAt = 0;
    let gridArtifactId: string | null = null;
    let current: Combination | null = null;
    const progress = (done: number, force: boolean) => {
      o.onStep?.(done, total);
      const now = Date.now();
      if (!o.onProgress || (!force && now - lastProgressAt < progressMs)) return;
      lastProgressAt = now;
      const rate = done / Math.max(1e-3, (now - t0) / 1000);
      o.onProgress({
        jobId,
        runId,
        kind: 'evaluate',
        step: done,
        stepsPlanned: total,
        loss: null,
        itPerSec: rate > 0 ? rate : null,
        etaSeconds: rate > 0 ? (total - done) / rate : null,
        checkpointStep: current?.checkpointStep ?? null,
        gridArtifactId,
      });
    };
    const ctx: CombinationContext = {
      store,
      dataDir,
      trainingRun: source,
      config,
      plan: args.plan,
      evaluator,
      evaluationRunId: runId,
      stopCheck,
      onSamplerStep: (done) => progress(before + done, false),
      say,
    };
    const rows: EvaluationRow[] = [];
    try {
      for (const c of pending) {
        current = c;
        const r = await evaluateCombination(ctx, c);
        rows.push(...r.rows);
        gridArtifactId = r.sampleSet.gridArtifactId;
        before += c.work;
        const run = store.updateRun(runId, { stepsDone: before });
        o.onRunUpdated?.(runId, run.status, run.stepsDone);
        progress(before, true);
      }
    } catch (err) {
      if (err instanceof EvaluationStopped) {
        say(`stopped (${err.reason}); ${rows.length ? 'the combinations finished so far are stored' : 'nothing new was stored'}; resuming skips them`);
        try {
          // A user's cancel or pause already settled the job; anything else leaves it resumable.
          if (store.getJob(jobId)?.status === 'running') markOwnJobInterrupted(store);
          announce();
        } catch {
          // the stop is what matters; the next sweep settles the record
        }
        return { status: 'stopped', reason: err.reason };
      }
      return fail(err);
    }

    try {
      const run = store.transaction(() => {
        const finished = store.finishJob(jobId, log.text());
        return store.updateRun(runId, finished ? { status: 'done', stepsDone: total } : { stepsDone: total });
      });
      o.onRunUpdated?.(runId, run.status, run.stepsDone);
      say(`done: ${pending.length} combination(s) scored, ${combos.length - pending.length} skipped`);
      return {
        status: 'done',
        evaluated: pending,
        skipped: combos.filter((c) => !pending.includes(c)),
        rows,
      };
    } catch (err) {
      return fail(err);
    }
  } finally {
    evaluator?.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Scheduled evaluation inside a training job

export interface ScheduledEvaluationOptions {
  store: Store;
  dataDir: string;
  /** The training run. */
  runId: string;
  jobId: number;
  config: TrainConfig;
  say: (line: string) => void;
  stopRequested?: () => TrainingStop | null;
  heartbeatMs?: number;
}

export interface ScheduledEvaluation {
  /** Trainer hooks: a checkpoint at every evaluation step, and the evaluation after it. */
  hooks: {
    checkpointAt?: (step: number) => boolean;
    afterCheckpoint?: (step: number, file: string) => Promise<void>;
  };
  dispose(): void;
}

/**
 * For TrainConfig.evaluation: evaluates every `every` iterations and at the last one, right after
 * the checkpoint of that step is recorded, on the training job's own backend. Evaluation steps that
 * an earlier (interrupted) job did not finish are caught up at the next one. A stop request ends the
 * evaluation in progress (its combination is not stored) and lets the trainer stop as usual.
 *
 * An evaluation that fails (no Inception file for a colour dataset, say) does not fail the training:
 * the model is the product and can be scored later with `xlab eval`. The error goes to the log and,
 * once, to a note on the run, and the schedule is off for the rest of this job.
 */
export function scheduledEvaluation(o: ScheduledEvaluationOptions): ScheduledEvaluation {
  const schedule = o.config.evaluation;
  if (!schedule) return { hooks: {}, dispose: () => undefined };
  const { every, ...planFields } = schedule;
  const plan: EvaluationPlan = planFields;
  const due = (step: number) => step > 0 && (step % every === 0 || step === o.config.steps);
  const heartbeatMs = o.heartbeatMs ?? 1000;
  let evaluator: Evaluator | null = null;
  let lastBeat = Date.now();
  let stopped: TrainingStop | 'job-gone' | null = null;
  let disabled = false;
  const stopCheck = (): TrainingStop | 'job-gone' | null => {
    if (stopped) return stopped;
    stopped = o.stopRequested?.() ?? null;
    const now = Date.now();
    if (!stopped && now - lastBeat >= heartbeatMs) {
      lastBeat = now;
      if (!o.store.heartbeat(o.jobId, process.pid)) stopped = 'job-gone';
    }
    return stopped;
  };

  return {
    hooks: {
      checkpointAt: (step) => step % every === 0,
      afterCheckpoint: async (step) => {
        if (disabled || !due(step) || stopCheck()) return;
        try {
          await evaluateAt(step);
        } catch (err) {
          disabled = true;
          const message = `scheduled evaluation at step ${step} failed, training continues without it: ${(err as Error).message}`;
          o.say(message);
          try {
            o.store.addNote(o.runId, `${message}. Score the checkpoints later with \`xlab eval ${o.runId}\`.`);
          } catch {
            // the log has it
          }
        }
      },
    },
    dispose() {
      evaluator?.dispose();
      evaluator = null;
    },
  };

  async function evaluateAt(step: number): Promise<void> {
    const run = o.store.getRun(o.runId);
    if (!run) return;
    evaluator ??= await loadEvaluator(o.dataDir, o.config, plan, o.say);
    // This step, and earlier evaluation steps whose scores an interrupted job did not store.
    const steps = o.store
      .listCheckpoints(run.id)
      .map((c) => c.step)
      .filter((s) => s <= step && due(s));
    if (!steps.includes(step)) steps.push(step);
    const checkpoints = steps.map((s) => checkpointOf(o.store, o.dataDir, run, s));
    const existing = o.store.listEvaluations({ runId: run.id });
    const pending = planCombinations(plan, o.config, checkpoints, evaluator).filter((c) => !isCombinationDone(existing, c, plan));
    if (pending.length === 0) return;
    o.say(`scheduled evaluation at step ${step}: ${pending.length} combination(s)`);
    const ctx: CombinationContext = {
      store: o.store,
      dataDir: o.dataDir,
      trainingRun: run,
      config: o.config,
      plan,
      evaluator,
      evaluationRunId: null,
      stopCheck,
      say: o.say,
    };
    try {
      for (const c of pending) await evaluateCombination(ctx, c);
    } catch (err) {
      if (err instanceof EvaluationStopped) {
        o.say(`scheduled evaluation at step ${step} stopped (${err.reason}); it is caught up at the next evaluation step`);
        return;
      }
      throw err;
    }
  }
}

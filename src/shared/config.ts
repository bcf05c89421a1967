/**
 * Run configurations, validated with zod at every boundary (CLI flags, config files, API requests,
 * checkpoints). The parsed config is stored whole with each run, so a number in the history can
 * always be traced to the exact settings that produced it.
 */
import { z } from 'zod';

import { OBJECTIVES } from './vocabulary';

export { OBJECTIVES, type ObjectiveName } from './vocabulary';

export const GammaScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant'), gamma: z.number().min(0).max(10) }),
  z.object({ kind: z.literal('linear'), start: z.number().min(0).max(10), end: z.number().min(0).max(10) }),
  z.object({ kind: z.literal('cosine'), start: z.number().min(0).max(10), end: z.number().min(0).max(10) }),
]);

export const ModelOverridesSchema = z
  .object({
    baseChannels: z.number().int().positive(),
    channelMult: z.array(z.number().int().positive()).min(1),
    numResBlocks: z.number().int().positive(),
    attentionResolutions: z.array(z.number().int().positive()),
    headChannels: z.number().int().positive(),
    dropout: z.number().min(0).lt(1),
  })
  .partial();

export const OptimizerSchema = z.object({
  kind: z.enum(['adam', 'adamw']).default('adam'),
  lr: z.number().positive().default(1e-4),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-8),
  /** Decoupled weight decay (AdamW); only used when kind = 'adamw'. */
  weightDecay: z.number().min(0).default(0),
  warmupSteps: z.number().int().min(0).default(0),
  /** Clip the global gradient norm to this value; null = no clipping. */
  gradClip: z.number().positive().nullable().default(null),
});

/** A respacing spec: "" (all T), "100", "10,15,20" or "ddim50". */
export const StepsSpecSchema = z
  .string()
  .max(200)
  .regex(/^(|ddim\d+|\d+(,\d+)*)$/, "expected '', '100', '10,15,20' or 'ddim50'");

export const SCORE_METRICS = ['fid', 'sfid', 'kid', 'precision', 'recall', 'is'] as const;
export type ScoreMetric = (typeof SCORE_METRICS)[number];

/**
 * What an evaluation measures: for each T' in `steps` and each epsilon scale lambda, n samples drawn
 * with fixed seeds (so two runs are scored on samples from the same noise), scored against
 * `referenceCount` images of the run's training data with `featureNetwork`.
 */
export const EvaluationPlanSchema = z
  .object({
    steps: z.array(StepsSpecSchema).min(1).max(32).default(['20', '100']),
    sampler: z.enum(['ddpm', 'ddim']).default('ddpm'),
    /** Epsilon scaling lambda (ADM-ES); 1 = none. */
    epsScales: z.array(z.number().positive().max(2)).min(1).max(16).default([1]),
    n: z.number().int().min(10).max(100_000).default(1000),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    batchSize: z.number().int().min(1).max(4096).default(100),
    weights: z.enum(['ema', 'raw']).default('ema'),
    /** 'auto' = the app's own classifier for the run's dataset; 'inception' = the configured Inception file; or a path. */
    featureNetwork: z.string().min(1).default('auto'),
    referenceCount: z.number().int().min(10).max(1_000_000).default(10_000),
    /** Bootstrap resamples for FID's confidence interval; 0 = none. */
    bootstrap: z.number().int().min(0).max(2000).default(100),
    metrics: z.array(z.enum(SCORE_METRICS)).min(1).default([...SCORE_METRICS]),
  })
  .strict();
export type EvaluationPlan = z.infer<typeof EvaluationPlanSchema>;
export type EvaluationPlanInput = z.input<typeof EvaluationPlanSchema>;

/** An evaluation every `every` training iterations (and at the end): the FID-vs-iterations curve. */
export const EvaluationScheduleSchema = EvaluationPlanSchema.extend({ every: z.number().int().positive() });
export type EvaluationSchedule = z.infer<typeof EvaluationScheduleSchema>;

export const TrainConfigSchema = z
  .object({
    objective: z.enum(OBJECTIVES).default('adm'),
    /** Perturbation strength over t (adm-ip, adm-y). Ignored by the other objectives. */
    gamma: GammaScheduleSchema.default({ kind: 'constant', gamma: 0.1 }),
    preset: z.string().default('bench-s-mnist16'),
    model: ModelOverridesSchema.default({}),
    learnSigma: z.boolean().default(false),
    dataset: z.string().default('mnist'),
    /** Resize images to this size; null keeps the dataset's own size. */
    imageSize: z.number().int().positive().nullable().default(16),
    /** Force grey (1) or RGB (3) images; null keeps the dataset's own channels. */
    channels: z.union([z.literal(1), z.literal(3)]).nullable().default(null),
    /** Horizontal flips; 'auto' flips natural images, never digits. */
    flip: z.enum(['auto', 'on', 'off']).default('auto'),
    T: z.number().int().min(2).max(100_000).default(1000),
    schedule: z.enum(['linear', 'cosine']).default('linear'),
    steps: z.number().int().positive().default(2000),
    batch: z.number().int().positive().default(64),
    seed: z.number().int().min(0).default(0),
    optimizer: OptimizerSchema.default(OptimizerSchema.parse({})),
    emaRate: z.number().min(0).lt(1).default(0.9999),
    timestepSampler: z.enum(['uniform', 'loss-second-moment']).default('uniform'),
    /** Gradient-penalty weight lambda_gp (adm-gp only). */
    gpLambda: z.number().min(0).default(1e-3),
    checkpointEvery: z.number().int().positive().default(500),
    logEvery: z.number().int().positive().default(10),
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /** Scheduled evaluation during training; null = none. */
    evaluation: EvaluationScheduleSchema.nullable().default(null),
  })
  .superRefine((c, ctx) => {
    if (c.objective === 'adm-wd' && c.optimizer.kind !== 'adamw') {
      ctx.addIssue({ code: 'custom', path: ['optimizer', 'kind'], message: "objective 'adm-wd' needs optimizer.kind 'adamw' (set --weight-decay)" });
    }
    if (c.objective === 'adm-wd' && !(c.optimizer.weightDecay > 0)) {
      ctx.addIssue({ code: 'custom', path: ['optimizer', 'weightDecay'], message: "objective 'adm-wd' needs a positive weight decay (--weight-decay, e.g. 0.01)" });
    }
  });

export type TrainConfig = z.infer<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Parses a config, turning zod's issues into one message that names each bad field. */
export function parseTrainConfig(input: unknown): TrainConfig {
  const r = TrainConfigSchema.safeParse(input);
  if (!r.success) throw new Error('invalid training config: ' + formatIssues(r.error));
  return r.data;
}

export function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * The shape every analysis result must have before it is stored: the shared result types
 * (src/shared/api.ts) as zod schemas, with finite numbers only (the API carries no NaN, and a NaN in
 * a stored analysis would mean a broken measurement, not a value). A compile error below means the
 * schemas and the shared types drifted apart.
 */
import { z } from 'zod';
import type { AnalysisResult, ChainLengthResult, DeltaTResult, PredictionErrorResult, SpectrumResult } from '../../shared/api';

const finite = z.number().finite();
const step = z.number().int().nonnegative();

const HistogramSchema = z
  .object({ edges: z.array(finite).min(2), counts: z.array(z.number().int().nonnegative()) })
  .refine((h) => h.counts.length === h.edges.length - 1, { message: 'a histogram needs one more edge than counts' });

export const PredictionErrorResultSchema = z.object({
  kind: z.literal('prediction-error'),
  perT: z
    .array(
      z.object({
        t: step,
        n: z.number().int().positive(),
        mean: finite,
        std: finite.nonnegative(),
        shapiroW: finite,
        shapiroP: finite.min(0).max(1),
        histogram: HistogramSchema,
      }),
    )
    .min(1),
});

export const DeltaTResultSchema = z.object({
  kind: z.literal('delta-t'),
  tStart: step,
  samplingSteps: z.number().int().positive(),
  points: z.array(z.object({ t: step, sigmaHat: finite.nonnegative(), sigmaTrue: finite.nonnegative(), delta: finite.nonnegative() })),
});

export const SpectrumResultSchema = z
  .object({
    kind: z.literal('spectrum'),
    frequencies: z.array(finite.nonnegative()).min(1),
    samples: z.array(finite.nonnegative()),
    data: z.array(finite.nonnegative()),
  })
  .refine((s) => s.samples.length === s.frequencies.length && s.data.length === s.frequencies.length, {
    message: 'samples and data need one power per frequency',
  });

export const ChainLengthResultSchema = z.object({
  kind: z.literal('chain-length'),
  tStarts: z.array(step).min(1),
  gridArtifactId: z.string().nullable(),
});

export const AnalysisResultSchema = z.union([PredictionErrorResultSchema, DeltaTResultSchema, SpectrumResultSchema, ChainLengthResultSchema]);

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const SCHEMAS_MATCH_TYPES: [
  Same<z.infer<typeof PredictionErrorResultSchema>, PredictionErrorResult>,
  Same<z.infer<typeof DeltaTResultSchema>, DeltaTResult>,
  Same<z.infer<typeof SpectrumResultSchema>, SpectrumResult>,
  Same<z.infer<typeof ChainLengthResultSchema>, ChainLengthResult>,
] = [true, true, true, true];
void SCHEMAS_MATCH_TYPES;

/** The result as the shared type, or an error naming each bad field. */
export function checkAnalysisResult(value: unknown): AnalysisResult {
  const r = AnalysisResultSchema.safeParse(value);
  if (r.success) return r.data;
  // A union's issues are unhelpful; re-check against the schema its kind names.
  const kind = (value as { kind?: unknown } | null)?.kind;
  const schema =
    kind === 'prediction-error'
      ? PredictionErrorResultSchema
      : kind === 'delta-t'
        ? DeltaTResultSchema
        : kind === 'spectrum'
          ? SpectrumResultSchema
          : kind === 'chain-length'
            ? ChainLengthResultSchema
            : null;
  if (!schema) throw new Error(`analysis result has unknown kind ${JSON.stringify(kind)}`);
  const issues = schema.safeParse(value).error?.issues ?? r.error.issues;
  throw new Error(
    `invalid ${String(kind)} result: ` + issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; '),
  );
}

/**
 * Noise schedules and the Gaussian diffusion process q(x_t | x_0) built from them.
 *
 * All tables are float64 JS arrays computed with the same operations, in the same order, as the
 * reference (openai/improved-diffusion gaussian_diffusion.py), so values agree with numpy to the
 * last bit wherever JS and numpy share the IEEE operation (they do for + - * / sqrt; Math.cos/log
 * may differ from libm by an ulp).
 *
 * Naming follows the paper: ab = alphas_cumprod ("alpha bar"), beta~ = posterior variance.
 */

export type ScheduleName = 'linear' | 'cosine';

/**
 * The diffusion process. Index i runs over the process's own steps 0..numTimesteps-1; for a
 * respaced process, timestepMap[i] is the ORIGINAL timestep the network must be called with.
 */
export interface Process {
  readonly numTimesteps: number;
  /** Original timestep of each step (identity for an unrespaced process). */
  readonly timestepMap: readonly number[];
  /** Length of the process the network was trained on (the range of timestepMap). */
  readonly originalNumTimesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly ab: Float64Array;
  /** ab_{i-1}, with 1 before the first step. */
  readonly abPrev: Float64Array;
  /** ab_{i+1}, with 0 after the last step. */
  readonly abNext: Float64Array;
  readonly sqrtAb: Float64Array;
  readonly sqrt1mAb: Float64Array;
  readonly log1mAb: Float64Array;
  readonly sqrtRecipAb: Float64Array;
  readonly sqrtRecipm1Ab: Float64Array;
  /** beta~_i = beta_i (1 - ab_{i-1}) / (1 - ab_i): variance of q(x_{i-1} | x_i, x_0). */
  readonly posteriorVariance: Float64Array;
  /** log beta~ with entry 0 replaced by beta~_1 (beta~_0 = 0 would give -inf), as the reference. */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** Posterior mean = coef1 * x_0 + coef2 * x_i. */
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
}

/**
 * numpy.linspace(start, stop, num) bit for bit: i * step + start with step = (stop - start) / (num - 1),
 * and the last entry set to stop exactly.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** Betas of the discretised alpha-bar function, each clipped at maxBeta (the reference's betas_for_alpha_bar). */
export function betasForAlphaBar(T: number, alphaBar: (s: number) => number, maxBeta = 0.999): Float64Array {
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const t1 = i / T;
    const t2 = (i + 1) / T;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** The cosine schedule's continuous alpha bar, s in [0, 1]. */
export function cosineAlphaBar(s: number): number {
  return Math.cos(((s + 0.008) / 1.008) * Math.PI / 2) ** 2;
}

export function namedBetaSchedule(name: ScheduleName, T: number): Float64Array {
  if (!Number.isInteger(T) || T < 2) throw new Error(`number of diffusion steps must be an integer >= 2, got ${T}`);
  switch (name) {
    case 'linear': {
      // Ho et al.'s 1e-4..0.02 for T = 1000, rescaled so the schedule stays similar for any T.
      const scale = 1000 / T;
      return linspace(scale * 0.0001, scale * 0.02, T);
    }
    case 'cosine':
      return betasForAlphaBar(T, cosineAlphaBar);
    default:
      throw new Error(`unknown beta schedule: ${String(name)}`);
  }
}

/**
 * Builds every table of the process from its betas. timestepMap defaults to the identity (an
 * unrespaced process); respace() passes the kept original timesteps.
 */
export function makeProcess(
  betasIn: ArrayLike<number>,
  timestepMap?: readonly number[],
  originalNumTimesteps?: number,
): Process {
  const T = betasIn.length;
  if (T < 2) throw new Error(`a process needs at least 2 steps (posterior_log_variance_clipped uses beta~_1), got ${T}`);
  const betas = Float64Array.from(betasIn);
  for (let i = 0; i < T; i++) {
    const b = betas[i]!;
    if (!(b > 0 && b <= 1)) throw new Error(`betas must lie in (0, 1], beta[${i}] = ${b}`);
  }
  const map = timestepMap ? [...timestepMap] : Array.from({ length: T }, (_, i) => i);
  if (map.length !== T) throw new Error(`timestepMap has ${map.length} entries for ${T} betas`);

  const alphas = new Float64Array(T);
  const ab = new Float64Array(T);
  const abPrev = new Float64Array(T);
  const abNext = new Float64Array(T);
  let cum = 1;
  for (let i = 0; i < T; i++) {
    alphas[i] = 1.0 - betas[i]!;
    // np.cumprod multiplies left to right: same order, same bits.
    cum = i === 0 ? alphas[0]! : cum * alphas[i]!;
    ab[i] = cum;
  }
  for (let i = 0; i < T; i++) {
    abPrev[i] = i === 0 ? 1.0 : ab[i - 1]!;
    abNext[i] = i === T - 1 ? 0.0 : ab[i + 1]!;
  }
  const sqrtAb = ab.map(Math.sqrt);
  const sqrt1mAb = ab.map((a) => Math.sqrt(1.0 - a));
  const log1mAb = ab.map((a) => Math.log(1.0 - a));
  const sqrtRecipAb = ab.map((a) => Math.sqrt(1.0 / a));
  const sqrtRecipm1Ab = ab.map((a) => Math.sqrt(1.0 / a - 1));

  const posteriorVariance = new Float64Array(T);
  const posteriorMeanCoef1 = new Float64Array(T);
  const posteriorMeanCoef2 = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const b = betas[i]!;
    posteriorVariance[i] = (b * (1.0 - abPrev[i]!)) / (1.0 - ab[i]!);
    posteriorMeanCoef1[i] = (b * Math.sqrt(abPrev[i]!)) / (1.0 - ab[i]!);
    posteriorMeanCoef2[i] = ((1.0 - abPrev[i]!) * Math.sqrt(alphas[i]!)) / (1.0 - ab[i]!);
  }
  const posteriorLogVarianceClipped = new Float64Array(T);
  for (let i = 0; i < T; i++) posteriorLogVarianceClipped[i] = Math.log(i === 0 ? posteriorVariance[1]! : posteriorVariance[i]!);

  return {
    numTimesteps: T,
    timestepMap: map,
    originalNumTimesteps: originalNumTimesteps ?? T,
    betas,
    alphas,
    ab,
    abPrev,
    abNext,
    sqrtAb,
    sqrt1mAb,
    log1mAb,
    sqrtRecipAb,
    sqrtRecipm1Ab,
    posteriorVariance,
    posteriorLogVarianceClipped,
    posteriorMeanCoef1,
    posteriorMeanCoef2,
  };
}

/** The training process for a named schedule with T steps. */
export function createProcess(schedule: ScheduleName, T: number): Process {
  return makeProcess(namedBetaSchedule(schedule, T));
}

/**
 * Variance used by the 'fixed-large' sampler at step i: beta_i, except beta~_1 at i = 0 (the
 * reference's choice, for a better decoder log-likelihood).
 */
export function fixedLargeVariance(p: Process, i: number): number {
  return i === 0 ? p.posteriorVariance[1]! : p.betas[i]!;
}

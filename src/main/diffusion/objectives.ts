/**
 * Training objectives: adm, adm-ip, adm-y, adm-wd, adm-gp (method.md section 1), with the
 * optional learned-variance VB term of improved DDPM.
 *
 * Every objective builds its network input with the same tensor ops in the same order,
 *   x_in = sqrt(ab_t) * x0 + sqrt(1 - ab_t) * (eps + gamma_t * xi),
 * with gamma_t = 0 for the objectives that do not perturb. So adm-ip with gamma = 0 is adm bit for
 * bit (0 * xi = 0 and eps + 0 = eps exactly in IEEE arithmetic), losses and gradients alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Process } from './schedule';

export type Objective = 'adm' | 'adm-ip' | 'adm-y' | 'adm-wd' | 'adm-gp';

export const OBJECTIVES: readonly Objective[] = ['adm', 'adm-ip', 'adm-y', 'adm-wd', 'adm-gp'];

/** What each objective means, exactly, for the run's config. */
export const OBJECTIVE_DEFINITIONS: Readonly<Record<Objective, string>> = {
  adm: 'input x_t = sqrt(ab_t) x0 + sqrt(1-ab_t) eps; target eps',
  'adm-ip':
    'input y_t = sqrt(ab_t) x0 + sqrt(1-ab_t) (eps + gamma_t xi), xi ~ N(0, I) fresh every step; target eps (not eps + gamma_t xi)',
  'adm-y':
    "input y_t built from eps' = eps + gamma_t xi (variance 1 + gamma_t^2); target eps' (the noise present in the input). " +
    "Not the rescaled variant (input noise sqrt(1+gamma^2) eps', target eps') that the paper's summary table suggests.",
  'adm-wd': 'as adm (input x_t, target eps); the weight decay lambda_wd lives in the optimiser (AdamW), not in this loss',
  'adm-gp':
    'as adm, plus lambda_gp * mean over pixels of (J^T v)^2 with J = d eps_theta(x_t, t) / d x_t and a random probe v ~ N(0, I): ' +
    'an unbiased estimate of lambda_gp * ||J||_F^2 / D (D = pixels x channels), the same per-pixel normalisation as the MSE',
};

/**
 * gamma as a function of the training timestep t in 0..T-1, with u = t / (T - 1):
 * - constant: gamma_t = gamma (the paper);
 * - linear:   gamma_t = start + (end - start) u;
 * - cosine:   gamma_t = end + (start - end) (1 + cos(pi u)) / 2 (start at t = 0, end at t = T-1,
 *             flat at both ends).
 * Both non-constant forms are written in the direction of increasing t (noise).
 */
export type GammaSchedule =
  | { kind: 'constant'; gamma: number }
  | { kind: 'linear'; start: number; end: number }
  | { kind: 'cosine'; start: number; end: number };

export function gammaAt(g: GammaSchedule, t: number, T: number): number {
  if (g.kind === 'constant') return g.gamma;
  const u = T > 1 ? t / (T - 1) : 0;
  if (g.kind === 'linear') return g.start + (g.end - g.start) * u;
  return g.end + ((g.start - g.end) * (1 + Math.cos(Math.PI * u))) / 2;
}

/** Whether the objective perturbs its input with gamma * xi (the others use gamma_t = 0). */
export function perturbsInput(objective: Objective): boolean {
  return objective === 'adm-ip' || objective === 'adm-y';
}

/**
 * The denoising network. x: NHWC; t: float32 tensor of ORIGINAL integer timesteps (float so the
 * sinusoidal embedding can multiply it directly; cast it if you need integers). Output: NHWC with
 * C channels (eps) or 2C (eps, then v) when the variance is learned.
 */
export type Model = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D;

/**
 * Estimators of the gradient penalty ||d eps_theta / d x||^2. Both are unbiased for ||J||_F^2 with
 * a probe v ~ N(0, I) (E||J^T v||^2 = E||J v||^2 = ||J||_F^2).
 */
export const GP_ESTIMATORS = {
  'hutchinson-vjp':
    'exact double backprop of ||J^T v||^2: the VJP J^T v = d/dx sum(v * eps_theta(x)) by a nested tf.grad, differentiated again by the outer gradient',
  'fd-jvp':
    '||(eps_theta(x + h v) - eps_theta(x - h v)) / (2h)||^2, a central finite-difference JVP needing only first-order gradients (for nets whose ops have wrong second derivatives in TF.js)',
} as const;
export type GpEstimator = keyof typeof GP_ESTIMATORS;
/** The default estimator; record it (and GP_ESTIMATORS[it]) in the run's config. */
export const GP_ESTIMATOR: GpEstimator = 'hutchinson-vjp';

export interface TrainingLossArgs {
  model: Model;
  /** The training process; t indexes it and the network receives process.timestepMap[t]. */
  process: Process;
  objective: Objective;
  /** Used by adm-ip and adm-y; ignored (gamma_t = 0) by adm, adm-wd and adm-gp. */
  gamma: GammaSchedule;
  learnSigma: boolean;
  /** Data in [-1, 1], NHWC. */
  x0: tf.Tensor4D;
  t: Int32Array;
  eps: tf.Tensor4D;
  /** The perturbation noise; pass it for every objective (it is multiplied by 0 where unused). */
  xi: tf.Tensor4D;
  /** Importance weights 1 / (T p_t) from the timestep sampler; all 1 when omitted. */
  weights?: Float32Array;
  /** lambda_gp, required for adm-gp. */
  gpLambda?: number;
  /** The random probe v ~ N(0, I) of the gradient penalty (shape of x0), required for adm-gp. */
  gpProbe?: tf.Tensor4D;
  gpEstimator?: GpEstimator;
  /** Step h of the 'fd-jvp' estimator (default 1e-2, in data units). */
  gpFdStep?: number;
}

/** A type alias (not an interface) so that it is a TensorContainer and can be returned from tf.tidy. */
export type TrainingLossResult = {
  /** mean_b(weights_b * perSample_b): what the optimiser minimises. */
  loss: tf.Scalar;
  /** Unweighted per-sample total loss (mse + vb + lambda_gp gp): feed it to the loss-aware timestep sampler. */
  perSample: tf.Tensor1D;
  /** The per-sample parts, for logging. */
  terms: { mse: tf.Tensor1D; vb?: tf.Tensor1D; gp?: tf.Tensor1D };
};

/** A per-sample float64 table gathered on the host and uploaded as [B, 1, 1, 1]. */
function perSample4d(table: ArrayLike<number>, t: Int32Array): tf.Tensor4D {
  const v = new Float32Array(t.length);
  for (let b = 0; b < t.length; b++) v[b] = table[t[b]!]!;
  return tf.tensor4d(v, [t.length, 1, 1, 1]);
}

/**
 * Identity forward, zero gradient: TF.js has no stopGradient. Used to detach the predicted mean in
 * the VB term so that only the variance head learns from it (the reference's model_output.detach()).
 */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = tf.customGrad((...inputs) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as <T extends tf.Tensor>(x: T) => T;

function meanFlat(x: tf.Tensor): tf.Tensor1D {
  const axes: number[] = [];
  for (let d = 1; d < x.rank; d++) axes.push(d);
  return tf.mean(x, axes) as tf.Tensor1D;
}

/** KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) elementwise, in nats. */
export function normalKl(mean1: tf.Tensor, logvar1: tf.Tensor, mean2: tf.Tensor, logvar2: tf.Tensor): tf.Tensor {
  return tf.mul(
    0.5,
    tf.add(
      tf.add(tf.sub(tf.add(-1.0, logvar2), logvar1), tf.exp(tf.sub(logvar1, logvar2))),
      tf.mul(tf.square(tf.sub(mean1, mean2)), tf.exp(tf.neg(logvar2))),
    ),
  );
}

/** The reference's tanh approximation of the standard normal CDF. */
export function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  return tf.mul(0.5, tf.add(1.0, tf.tanh(tf.mul(Math.sqrt(2.0 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x)))))));
}

/**
 * log-likelihood (nats) of 8-bit data rescaled to [-1, 1] under a Gaussian discretised into bins
 * of width 2/255, with the outermost bins extended to +-infinity (the reference's decoder NLL).
 */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, means: tf.Tensor, logScales: tf.Tensor): tf.Tensor {
  const centered = tf.sub(x, means);
  const invStdv = tf.exp(tf.neg(logScales));
  const cdfPlus = approxStandardNormalCdf(tf.mul(invStdv, tf.add(centered, 1.0 / 255.0)));
  const cdfMin = approxStandardNormalCdf(tf.mul(invStdv, tf.sub(centered, 1.0 / 255.0)));
  const logCdfPlus = tf.log(tf.maximum(cdfPlus, 1e-12));
  const logOneMinusCdfMin = tf.log(tf.maximum(tf.sub(1.0, cdfMin), 1e-12));
  const logCdfDelta = tf.log(tf.maximum(tf.sub(cdfPlus, cdfMin), 1e-12));
  return tf.where(tf.less(x, -0.999), logCdfPlus, tf.where(tf.greater(x, 0.999), logOneMinusCdfMin, logCdfDelta));
}

/**
 * The VB term of improved DDPM, per sample, in bits: KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t))
 * for t > 0 and the discretised decoder NLL of x0 at t = 0, averaged over pixels. p's mean comes from
 * epsPred (detach it to train only the variance), its log-variance interpolates
 * frac * log beta_t + (1 - frac) * log beta~_t (clipped) with frac = (v + 1) / 2. No x0 clipping.
 * Not yet scaled by T / 1000.
 */
export function vbTerm(args: {
  process: Process;
  x0: tf.Tensor4D;
  xt: tf.Tensor4D;
  t: Int32Array;
  epsPred: tf.Tensor4D;
  v: tf.Tensor4D;
}): tf.Tensor1D {
  const { process: p, x0, xt, t, epsPred, v } = args;
  const coef1 = perSample4d(p.posteriorMeanCoef1, t);
  const coef2 = perSample4d(p.posteriorMeanCoef2, t);
  const trueLogVar = perSample4d(p.posteriorLogVarianceClipped, t);
  const trueMean = tf.add(tf.mul(coef1, x0), tf.mul(coef2, xt));

  const predX0 = tf.sub(tf.mul(perSample4d(p.sqrtRecipAb, t), xt), tf.mul(perSample4d(p.sqrtRecipm1Ab, t), epsPred));
  const modelMean = tf.add(tf.mul(coef1, predX0), tf.mul(coef2, xt));
  const logBetas = new Float64Array(p.numTimesteps).map((_, i) => Math.log(p.betas[i]!));
  const maxLog = perSample4d(logBetas, t);
  const frac = tf.div(tf.add(v, 1), 2);
  const modelLogVar = tf.add(tf.mul(frac, maxLog), tf.mul(tf.sub(1, frac), trueLogVar));

  const kl = tf.div(meanFlat(normalKl(trueMean, trueLogVar, modelMean, modelLogVar)), Math.log(2.0));
  const nll = tf.div(meanFlat(tf.neg(discretizedGaussianLogLikelihood(x0, modelMean, tf.mul(0.5, modelLogVar)))), Math.log(2.0));
  const isFirst = tf.tensor1d(Array.from(t, (ti) => (ti === 0 ? 1 : 0)), 'bool');
  return tf.where(isFirst, nll, kl) as tf.Tensor1D;
}

export function splitModelOutput(out: tf.Tensor4D, C: number, learnSigma: boolean): { eps: tf.Tensor4D; v: tf.Tensor4D | null } {
  const [B, H, W, K] = out.shape;
  const expected = learnSigma ? 2 * C : C;
  if (K !== expected) {
    throw new Error(`model output has ${K} channels; expected ${expected} (${learnSigma ? 'eps and v' : 'eps'} for ${C} input channels)`);
  }
  if (!learnSigma) return { eps: out, v: null };
  return {
    eps: tf.slice(out, [0, 0, 0, 0], [B, H, W, C]),
    v: tf.slice(out, [0, 0, 0, C], [B, H, W, C]),
  };
}

/**
 * The per-sample gradient penalty: mean over pixels of (J^T v)^2 ('hutchinson-vjp') or (J v)^2
 * ('fd-jvp'), J = d eps_theta(x, t) / d x. Differentiable with respect to the model's variables.
 * Calls the model again (one extra forward, plus its backward for the VJP), so with dropout the
 * penalty sees a different mask than the MSE.
 */
export function gradientPenalty(args: {
  model: Model;
  x: tf.Tensor4D;
  tModel: tf.Tensor1D;
  probe: tf.Tensor4D;
  learnSigma: boolean;
  estimator?: GpEstimator;
  fdStep?: number;
}): tf.Tensor1D {
  const { model, x, tModel, probe, learnSigma } = args;
  const C = x.shape[3];
  const epsOf = (xx: tf.Tensor4D) => splitModelOutput(model(xx, tModel), C, learnSigma).eps;
  const estimator = args.estimator ?? GP_ESTIMATOR;
  if (estimator === 'hutchinson-vjp') {
    // Inside an outer tf.variableGrads the engine records this inner backward pass on the tape
    // (gradientDepth > 0), so the outer gradient differentiates through J^T v.
    const vjp = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(probe, epsOf(xx as tf.Tensor4D))))(x);
    return meanFlat(tf.square(vjp));
  }
  if (estimator === 'fd-jvp') {
    const h = args.fdStep ?? 1e-2;
    const hv = tf.mul(h, probe);
    const jvp = tf.div(tf.sub(epsOf(tf.add(x, hv) as tf.Tensor4D), epsOf(tf.sub(x, hv) as tf.Tensor4D)), 2 * h);
    return meanFlat(tf.square(jvp));
  }
  throw new Error(`unknown gradient-penalty estimator: ${String(estimator)}`);
}

/**
 * What the network sees and what it must predict for one batch: the input x_in (see the file
 * comment), the network's timesteps (process.timestepMap[t], float) and the target (eps, or for
 * adm-y the noise present in the input). The loss is the mean squared error between the network's
 * eps and the target, whichever engine computes it (trainingLoss here, or the ONNX training graph).
 */
export function objectiveBatch(args: Pick<TrainingLossArgs, 'process' | 'objective' | 'gamma' | 'x0' | 't' | 'eps' | 'xi' | 'weights'>): {
  xIn: tf.Tensor4D;
  tModel: tf.Tensor1D;
  target: tf.Tensor4D;
} {
  const { process: p, objective, x0, t, eps, xi } = args;
  const B = x0.shape[0];
  if (t.length !== B) throw new Error(`t has ${t.length} entries for a batch of ${B}`);
  for (const ti of t) {
    if (!Number.isInteger(ti) || ti < 0 || ti >= p.numTimesteps) throw new Error(`timestep ${ti} is outside 0..${p.numTimesteps - 1}`);
  }
  if (args.weights && args.weights.length !== B) throw new Error(`weights has ${args.weights.length} entries for a batch of ${B}`);

  const T = p.numTimesteps;
  const gammas = new Float32Array(B);
  if (perturbsInput(objective)) for (let b = 0; b < B; b++) gammas[b] = gammaAt(args.gamma, t[b]!, T);
  const gammaT = tf.tensor4d(gammas, [B, 1, 1, 1]);

  // The same ops in the same order for every objective (see the file comment).
  const inputNoise = tf.add(eps, tf.mul(gammaT, xi)) as tf.Tensor4D;
  const xIn = tf.add(tf.mul(perSample4d(p.sqrtAb, t), x0), tf.mul(perSample4d(p.sqrt1mAb, t), inputNoise)) as tf.Tensor4D;
  const tModel = tf.tensor1d(Array.from(t, (ti) => p.timestepMap[ti]!), 'float32');
  return { xIn, tModel, target: objective === 'adm-y' ? inputNoise : eps };
}

/**
 * The training loss for one batch. Call it inside the optimiser's gradient closure; everything it
 * returns is a function of the model's variables. To take perSample out of a closure such as
 * optimizer.minimize(), tf.keep() it there and dispose it after use.
 */
export function trainingLoss(args: TrainingLossArgs): TrainingLossResult {
  const { model, process: p, objective, learnSigma, x0, t } = args;
  const [, , , C] = x0.shape;
  const T = p.numTimesteps;
  const { xIn, tModel, target } = objectiveBatch(args);

  const { eps: epsPred, v } = splitModelOutput(model(xIn, tModel), C, learnSigma);
  const mse = meanFlat(tf.square(tf.sub(target, epsPred)));
  let perSample: tf.Tensor1D = mse;
  const terms: TrainingLossResult['terms'] = { mse };

  if (learnSigma) {
    // Rescaled as the reference (RESCALED_MSE): without the 1/1000 the VB term hurts the MSE term.
    const vb = tf.mul(vbTerm({ process: p, x0, xt: xIn, t, epsPred: stopGradient(epsPred), v: v! }), T / 1000.0) as tf.Tensor1D;
    terms.vb = vb;
    perSample = tf.add(perSample, vb);
  }

  if (objective === 'adm-gp') {
    if (args.gpLambda === undefined) throw new Error('adm-gp needs gpLambda');
    if (!args.gpProbe) throw new Error('adm-gp needs gpProbe (v ~ N(0, I), the shape of x0)');
    const gp = gradientPenalty({
      model,
      x: xIn,
      tModel,
      probe: args.gpProbe,
      learnSigma,
      estimator: args.gpEstimator,
      fdStep: args.gpFdStep,
    });
    terms.gp = gp;
    perSample = tf.add(perSample, tf.mul(args.gpLambda, gp));
  }

  const weighted = args.weights ? tf.mul(perSample, tf.tensor1d(args.weights, 'float32')) : perSample;
  return { loss: tf.mean(weighted) as tf.Scalar, perSample, terms };
}

/** q(x_t | x0) sample: sqrt(ab_t) x0 + sqrt(1 - ab_t) noise, t indexing `process`. */
export function qSample(process: Process, x0: tf.Tensor4D, t: Int32Array, noise: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(perSample4d(process.sqrtAb, t), x0), tf.mul(perSample4d(process.sqrt1mAb, t), noise)) as tf.Tensor4D);
}

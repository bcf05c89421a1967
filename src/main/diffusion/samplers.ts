/**
 * Samplers: DDPM ancestral (fixed-small / fixed-large / learned variance) and DDIM (eta) on any
 * respacing, with x0-hat clipping, epsilon scaling (ADM-ES) and the time-shift sampler.
 *
 * The chain runs over the respaced process (respaced index i = S'-1 .. 0) and calls the network
 * with the ORIGINAL timestep S_i. Coefficients are float64 on the host, uploaded as float32 scalars
 * (or per-sample [B,1,1,1] when the time shift picks a different timestep per sample); the state x
 * stays on the device between steps.
 *
 * Paired noise: x_T of global sample index n is row n of pairedNormal([seed, 'xT']), and the noise
 * added at respaced step i is pairedNormal([seed, 'z', i]); so sample n sees the same noise whatever
 * the model, the batch it lands in or the batch size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pairedNormal } from '../rng';
import { splitModelOutput, type Model } from './objectives';
import { respace, spacedTimesteps } from './respacing';
import type { Process } from './schedule';

export type VarianceKind = 'fixed-small' | 'fixed-large' | 'learned';

/**
 * lambda_i of epsilon scaling over the respaced steps i = 0..S'-1: constant, or linear
 * lambda_i = start + (end - start) * i / (S' - 1), i.e. `start` at the last (least noisy) step and
 * `end` at the first; written in the direction of increasing t like the paper's lambda(t) = k t + b.
 * lambda = 1 is the baseline; it must be positive.
 */
export type EpsScale = { kind: 'constant'; lambda: number } | { kind: 'linear'; start: number; end: number };

/**
 * Time-shift sampler (Li et al., ICLR 2024). At every step whose original timestep t = S_i exceeds
 * `cutoff`, each sample is treated as being at
 *   t_s = argmin_{tau} (Var_pixels(x) - (1 - ab_tau))^2,
 * Var_pixels the population variance over all H*W*C values of that sample, and tau ranging over
 * the ORIGINAL timesteps (the grid of the process passed to sample(), normally the full T-step
 * training process, not the respaced indices) in [t - window, t + window], restricted to
 * (S_{i-1}, T-1] so the step down to S_{i-1} stays a forward-process step. The network is called
 * at t_s and x0-hat (and DDIM's eps) use ab_{t_s}; the step then lands on the chain's S_{i-1} as
 * usual, with the posterior of the jump t_s -> S_{i-1}. Ties go to the smaller tau. The candidate
 * tau = S_i uses exactly the unshifted coefficients, so window 0 reproduces the plain sampler bit for bit.
 */
export interface TimeShift {
  cutoff: number;
  window: number;
}

export interface SamplerOptions {
  kind: 'ddpm' | 'ddim';
  /** Respacing spec: "" (all T), "100", "10,15,20" or "ddim50". */
  steps: string;
  /** DDPM only; default 'learned' when learnSigma, else 'fixed-large' (the reference's defaults). */
  variance?: VarianceKind;
  /** DDIM only; default 0. */
  eta?: number;
  epsScale?: EpsScale;
  timeShift?: TimeShift;
  /** Clip x0-hat to [-1, 1] before forming the mean (after eps scaling). Default true. */
  clipX0?: boolean;
  /** The model outputs 2C channels (eps, v). */
  learnSigma: boolean;
}

export function resolveVariance(o: SamplerOptions): VarianceKind {
  const v = o.variance ?? (o.learnSigma ? 'learned' : 'fixed-large');
  if (v === 'learned' && !o.learnSigma) throw new Error("variance 'learned' needs a model with learnSigma");
  return v;
}

export function epsScaleAt(s: EpsScale | undefined, i: number, numSteps: number): number {
  if (!s) return 1;
  const lambda = s.kind === 'constant' ? s.lambda : s.start + ((s.end - s.start) * (numSteps > 1 ? i / (numSteps - 1) : 0));
  if (!(lambda > 0) || !Number.isFinite(lambda)) throw new Error(`epsilon scale must be a positive finite number, got ${lambda} at step ${i}`);
  return lambda;
}

/** Float64 coefficients of one step, for the state treated as being at one (possibly shifted) timestep. */
interface StepCoefs {
  sqrtRecipAb: number;
  sqrtRecipm1Ab: number;
  coef1: number;
  coef2: number;
  /** log beta~ (clipped): fixed-small, and the learned range's lower end. */
  logVarSmall: number;
  logVarLarge: number;
  /** log beta: the learned range's upper end. */
  logBeta: number;
  sqrtAbPrev: number;
  ddimSigma: number;
  ddimDir: number;
}
const COEF_KEYS: readonly (keyof StepCoefs)[] = [
  'sqrtRecipAb',
  'sqrtRecipm1Ab',
  'coef1',
  'coef2',
  'logVarSmall',
  'logVarLarge',
  'logBeta',
  'sqrtAbPrev',
  'ddimSigma',
  'ddimDir',
];

function ddimCoefs(ab: number, abPrev: number, eta: number): { ddimSigma: number; ddimDir: number; sqrtAbPrev: number } {
  const ddimSigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
  return { ddimSigma, ddimDir: Math.sqrt(Math.max(0, 1 - abPrev - ddimSigma ** 2)), sqrtAbPrev: Math.sqrt(abPrev) };
}

/** The chain's own coefficients at respaced step i (the reference's tables). */
function chainCoefs(chain: Process, i: number, eta: number): StepCoefs {
  const varLarge = i === 0 ? chain.posteriorVariance[1]! : chain.betas[i]!;
  return {
    sqrtRecipAb: chain.sqrtRecipAb[i]!,
    sqrtRecipm1Ab: chain.sqrtRecipm1Ab[i]!,
    coef1: chain.posteriorMeanCoef1[i]!,
    coef2: chain.posteriorMeanCoef2[i]!,
    logVarSmall: chain.posteriorLogVarianceClipped[i]!,
    logVarLarge: Math.log(varLarge),
    logBeta: Math.log(chain.betas[i]!),
    ...ddimCoefs(chain.ab[i]!, chain.abPrev[i]!, eta),
  };
}

/**
 * Coefficients of the jump from base-grid timestep tau down to the chain's S_{i-1}: the step the
 * respaced process would have if S_i were tau (beta = 1 - ab_tau / ab_{S_{i-1}}), with the same
 * formulas as the process tables.
 */
function shiftedCoefs(base: Process, chain: Process, S: readonly number[], i: number, tau: number, eta: number): StepCoefs {
  if (tau === S[i]) return chainCoefs(chain, i, eta);
  const abPrev = chain.abPrev[i]!;
  const abPrevBase = i > 0 ? base.ab[S[i - 1]!]! : 1.0;
  const beta = 1 - base.ab[tau]! / abPrevBase;
  const alpha = 1.0 - beta;
  const ab = abPrev * alpha;
  const pv = (beta * (1.0 - abPrev)) / (1.0 - ab);
  return {
    sqrtRecipAb: Math.sqrt(1.0 / ab),
    sqrtRecipm1Ab: Math.sqrt(1.0 / ab - 1),
    coef1: (beta * Math.sqrt(abPrev)) / (1.0 - ab),
    coef2: ((1.0 - abPrev) * Math.sqrt(alpha)) / (1.0 - ab),
    logVarSmall: i === 0 ? chain.posteriorLogVarianceClipped[0]! : Math.log(pv),
    logVarLarge: Math.log(i === 0 ? chain.posteriorVariance[1]! : beta),
    logBeta: Math.log(beta),
    ...ddimCoefs(ab, abPrev, eta),
  };
}

type CoefTensors = Record<keyof StepCoefs, tf.Tensor>;

function scalarCoefs(c: StepCoefs): CoefTensors {
  const out = {} as CoefTensors;
  for (const k of COEF_KEYS) out[k] = tf.scalar(c[k], 'float32');
  return out;
}

interface StepConfig {
  kind: 'ddpm' | 'ddim';
  variance: VarianceKind;
  learnSigma: boolean;
  clipX0: boolean;
  eta: number;
}

/** x0-hat = sqrt(1/ab) x - sqrt(1/ab - 1) eps / lambda, clipped after scaling. */
function predX0(x: tf.Tensor4D, eps: tf.Tensor4D, c: CoefTensors, lambda: number | null, clip: boolean): tf.Tensor4D {
  const e = lambda === null ? eps : tf.div(eps, lambda);
  const x0 = tf.sub(tf.mul(c.sqrtRecipAb, x), tf.mul(c.sqrtRecipm1Ab, e));
  return (clip ? tf.clipByValue(x0, -1, 1) : x0) as tf.Tensor4D;
}

function logVariance(cfg: StepConfig, c: CoefTensors, v: tf.Tensor4D | null): tf.Tensor {
  if (cfg.variance === 'fixed-small') return c.logVarSmall;
  if (cfg.variance === 'fixed-large') return c.logVarLarge;
  if (!v) throw new Error("variance 'learned' needs the model's v channels");
  const frac = tf.div(tf.add(v, 1), 2);
  return tf.add(tf.mul(frac, c.logBeta), tf.mul(tf.sub(1, frac), c.logVarSmall));
}

/** One reverse step given the network output; noise null means the final (noise-free) step. */
function reverseStep(
  cfg: StepConfig,
  x: tf.Tensor4D,
  out: tf.Tensor4D,
  c: CoefTensors,
  lambda: number | null,
  noise: tf.Tensor4D | null,
): { next: tf.Tensor4D; predX0: tf.Tensor4D } {
  const { eps, v } = splitModelOutput(out, x.shape[3], cfg.learnSigma);
  const x0 = predX0(x, eps, c, lambda, cfg.clipX0);
  if (cfg.kind === 'ddim') {
    // eps re-derived from the (clipped) x0-hat, as the reference
    const epsRe = tf.div(tf.sub(tf.mul(c.sqrtRecipAb, x), x0), c.sqrtRecipm1Ab);
    const mean = tf.add(tf.mul(x0, c.sqrtAbPrev), tf.mul(c.ddimDir, epsRe)) as tf.Tensor4D;
    return { next: noise ? (tf.add(mean, tf.mul(c.ddimSigma, noise)) as tf.Tensor4D) : mean, predX0: x0 };
  }
  const mean = tf.add(tf.mul(c.coef1, x0), tf.mul(c.coef2, x)) as tf.Tensor4D;
  if (!noise) return { next: mean, predX0: x0 };
  const std = tf.exp(tf.mul(0.5, logVariance(cfg, c, v)));
  return { next: tf.add(mean, tf.mul(std, noise)) as tf.Tensor4D, predX0: x0 };
}

/**
 * p(x_{i-1} | x_i) at respaced step i of `chain` (an unshifted single step, for analyses): the
 * network's eps (and v), x0-hat (eps-scaled by lambda, then clipped if clipX0) and the posterior
 * mean and log-variance. The caller owns (and disposes) the returned tensors.
 */
export function pMeanVariance(args: {
  model: Model;
  chain: Process;
  x: tf.Tensor4D;
  i: number;
  learnSigma: boolean;
  variance?: VarianceKind;
  clipX0?: boolean;
  lambda?: number;
}): { eps: tf.Tensor4D; v: tf.Tensor4D | null; predX0: tf.Tensor4D; mean: tf.Tensor4D; logVariance: tf.Tensor } {
  const { model, chain, x, i } = args;
  if (!Number.isInteger(i) || i < 0 || i >= chain.numTimesteps) throw new Error(`step ${i} is outside 0..${chain.numTimesteps - 1}`);
  const cfg: StepConfig = {
    kind: 'ddpm',
    variance: args.variance ?? (args.learnSigma ? 'learned' : 'fixed-large'),
    learnSigma: args.learnSigma,
    clipX0: args.clipX0 ?? true,
    eta: 0,
  };
  if (cfg.variance === 'learned' && !cfg.learnSigma) throw new Error("variance 'learned' needs learnSigma");
  const r = tf.tidy(() => {
    const c = scalarCoefs(chainCoefs(chain, i, 0));
    const tModel = tf.fill([x.shape[0]], chain.timestepMap[i]!, 'float32') as tf.Tensor1D;
    const { eps, v } = splitModelOutput(model(x, tModel), x.shape[3], cfg.learnSigma);
    const x0 = predX0(x, eps, c, args.lambda ?? null, cfg.clipX0);
    const mean = tf.add(tf.mul(c.coef1, x0), tf.mul(c.coef2, x)) as tf.Tensor4D;
    const lv = tf.add(logVariance(cfg, c, v), tf.zerosLike(mean));
    const res: { eps: tf.Tensor4D; predX0: tf.Tensor4D; mean: tf.Tensor4D; logVariance: tf.Tensor; v?: tf.Tensor4D } = { eps, predX0: x0, mean, logVariance: lv };
    if (v) res.v = v;
    return res;
  });
  return { ...r, v: r.v ?? null };
}

/** x0-hat = sqrt(1/ab_i) x - sqrt(1/ab_i - 1) eps at step i of `process` (no clipping). */
export function predictX0FromEps(process: Process, x: tf.Tensor4D, i: number, eps: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.mul(process.sqrtRecipAb[i]!, x), tf.mul(process.sqrtRecipm1Ab[i]!, eps)) as tf.Tensor4D);
}

/** What onState sees after each step; the tensors are disposed when it returns (tf.clone to keep). */
export interface StepState {
  indices: readonly number[];
  /** Respaced step index, and its original timestep. */
  i: number;
  t: number;
  /** The state entering the step (at original timestep S_i), and the one it produced (at S_{i-1}). */
  x: tf.Tensor4D;
  next: tf.Tensor4D;
  predX0: tf.Tensor4D;
  /** The timesteps the network was called with (differ from t under the time shift). */
  tModel: tf.Tensor1D;
}

/**
 * The network as the sampler calls it: a tfjs Model, or an asynchronous one (ONNX Runtime) that
 * resolves to a tensor. Both are called inside the step's tf.tidy; an asynchronous one must
 * therefore not create tensors before its first await (they would be released when it yields),
 * and the sampler disposes the tensor it resolves to.
 */
export type SamplingModel = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D | Promise<tf.Tensor4D>;

export interface SampleArgs {
  model: SamplingModel;
  /** The process the model was trained on (full T); the chain is respaced from it. */
  process: Process;
  options: SamplerOptions;
  /** [h, w, c] of one sample. */
  shape: [number, number, number];
  seed: number;
  /** Global sample indices: they key the paired noise. */
  indices: readonly number[];
  /** Default min(64, indices.length). */
  batchSize?: number;
  /** Called after every step with (steps done, steps in total) over all batches. */
  onStep?: (done: number, total: number) => void;
  onState?: (s: StepState) => void;
  /**
   * Start from given states instead of x_T: xt holds indices.length samples (NHWC), at ORIGINAL
   * timestep t, which must be one of the chain's kept timesteps; the chain runs from there down.
   */
  startFrom?: { xt: Float32Array; t: number };
  signal?: AbortSignal;
}

/** The respaced chain a sampler options object runs on, and its kept original timesteps. */
export function samplingChain(process: Process, steps: string): { chain: Process; S: number[] } {
  const S = spacedTimesteps(process.numTimesteps, steps);
  return { chain: respace(process, S), S };
}

/**
 * Generates samples, NHWC float32 in sample-index order. With clipX0 (the default) the result is
 * clamped to [-1, 1] (it already is up to rounding: the last step returns the clipped x0-hat);
 * with clipX0 false it is returned unclamped.
 */
export async function sample(args: SampleArgs): Promise<Float32Array> {
  const { model, process: base, options, seed, indices } = args;
  const [h, w, ch] = args.shape;
  const hwc = h * w * ch;
  const N = indices.length;
  const { chain, S } = samplingChain(base, options.steps);
  const numSteps = chain.numTimesteps;
  const cfg: StepConfig = {
    kind: options.kind,
    variance: resolveVariance(options),
    learnSigma: options.learnSigma,
    clipX0: options.clipX0 ?? true,
    eta: options.eta ?? 0,
  };
  if (options.kind !== 'ddpm' && options.kind !== 'ddim') throw new Error(`unknown sampler kind: ${String(options.kind)}`);
  if (options.kind === 'ddpm' && options.eta !== undefined && options.eta !== 0) throw new Error('eta applies to DDIM only');
  if (!(cfg.eta >= 0)) throw new Error(`eta must be >= 0, got ${cfg.eta}`);
  const ts = options.timeShift;
  if (ts && !(Number.isInteger(ts.window) && ts.window >= 0)) throw new Error(`time-shift window must be a non-negative integer, got ${ts.window}`);

  let startStep = numSteps - 1;
  if (args.startFrom) {
    startStep = S.indexOf(args.startFrom.t);
    if (startStep < 0) throw new Error(`startFrom.t = ${args.startFrom.t} is not a timestep of the "${options.steps}" chain`);
    if (args.startFrom.xt.length !== N * hwc) throw new Error(`startFrom.xt has ${args.startFrom.xt.length} values; expected ${N * hwc}`);
  }

  // Host-side per-step tables, computed once.
  const lambdas: (number | null)[] = [];
  const plain: StepCoefs[] = [];
  const shiftTables: ({ taus: number[]; coefs: StepCoefs[] } | null)[] = [];
  for (let i = 0; i < numSteps; i++) {
    lambdas.push(options.epsScale ? epsScaleAt(options.epsScale, i, numSteps) : null);
    plain.push(chainCoefs(chain, i, cfg.eta));
    if (ts && S[i]! > ts.cutoff) {
      const lo = Math.max(S[i]! - ts.window, i > 0 ? S[i - 1]! + 1 : 0);
      const hi = Math.min(S[i]! + ts.window, base.numTimesteps - 1);
      const taus: number[] = [];
      for (let tau = lo; tau <= hi; tau++) taus.push(tau);
      shiftTables.push({ taus, coefs: taus.map((tau) => shiftedCoefs(base, chain, S, i, tau, cfg.eta)) });
    } else {
      shiftTables.push(null);
    }
  }

  const bs = Math.max(1, Math.min(args.batchSize ?? 64, N));
  const out = new Float32Array(N * hwc);
  const total = Math.ceil(N / bs) * (startStep + 1);
  let done = 0;
  const needsNoise = (i: number) => i > 0 && (cfg.kind === 'ddpm' || plain[i]!.ddimSigma !== 0);

  for (let b0 = 0; b0 < N; b0 += bs) {
    const batch = indices.slice(b0, b0 + bs);
    const B = batch.length;
    let x: tf.Tensor4D = args.startFrom
      ? tf.tensor4d(args.startFrom.xt.subarray(b0 * hwc, (b0 + B) * hwc), [B, h, w, ch])
      : tf.tensor4d(pairedNormal([seed, 'xT'], batch, hwc), [B, h, w, ch]);
    try {
      for (let i = startStep; i >= 0; i--) {
        args.signal?.throwIfAborted();
        const noiseData = needsNoise(i) ? pairedNormal([seed, 'z', i], batch, hwc) : null;
        const xCur = x;
        // The step's coefficients and network timesteps, kept across the (possibly asynchronous) network call.
        const inputs = tf.tidy(() => {
          const table = shiftTables[i];
          let c: CoefTensors;
          let tModel: tf.Tensor1D;
          if (table) {
            const K = table.taus.length;
            const flat = new Float32Array(K * COEF_KEYS.length);
            table.coefs.forEach((co, k) => COEF_KEYS.forEach((key, j) => (flat[k * COEF_KEYS.length + j] = co[key])));
            const oneMinusAb = tf.tensor1d(table.taus.map((tau) => 1 - base.ab[tau]!), 'float32');
            const varPix = tf.moments(xCur, [1, 2, 3]).variance;
            const score = tf.square(tf.sub(tf.expandDims(varPix, 1), tf.expandDims(oneMinusAb, 0)));
            const pick = tf.argMin(score, 1);
            const picked = tf.gather(tf.tensor2d(flat, [K, COEF_KEYS.length]), pick);
            const cols = tf.split(picked, COEF_KEYS.length, 1);
            c = {} as CoefTensors;
            COEF_KEYS.forEach((key, j) => (c[key] = tf.reshape(cols[j]!, [B, 1, 1, 1])));
            tModel = tf.gather(tf.tensor1d(table.taus.map((tau) => base.timestepMap[tau]!), 'float32'), pick) as tf.Tensor1D;
          } else {
            c = scalarCoefs(plain[i]!);
            tModel = tf.fill([B], chain.timestepMap[i]!, 'float32') as tf.Tensor1D;
          }
          return { c, tModel };
        });
        const { tModel } = inputs;
        const step = (out: tf.Tensor4D) => {
          const noise = noiseData ? tf.tensor4d(noiseData, [B, h, w, ch]) : null;
          const r = reverseStep(cfg, xCur, out, inputs.c, lambdas[i]!, noise);
          return { next: r.next, predX0: r.predX0 };
        };
        let res: { next: tf.Tensor4D; predX0: tf.Tensor4D };
        try {
          // A synchronous network runs in the same tidy as the step; an asynchronous one is awaited
          // and its output stepped in a second tidy.
          const pending: { out?: Promise<tf.Tensor4D> } = {};
          const direct = tf.tidy((): ReturnType<typeof step> | undefined => {
            const out = model(xCur, tModel);
            if (!(out instanceof Promise)) return step(out);
            pending.out = out;
            return undefined;
          });
          if (direct) res = direct;
          else {
            const out = await pending.out!;
            try {
              res = tf.tidy(() => step(out));
            } finally {
              out.dispose();
            }
          }
        } catch (e) {
          tModel.dispose();
          throw e;
        } finally {
          tf.dispose(Object.values(inputs.c));
        }
        if (args.onState) {
          try {
            args.onState({ indices: batch, i, t: chain.timestepMap[i]!, x: xCur, next: res.next, predX0: res.predX0, tModel });
          } catch (e) {
            res.next.dispose();
            throw e;
          } finally {
            res.predX0.dispose();
            tModel.dispose();
          }
        } else {
          res.predX0.dispose();
          tModel.dispose();
        }
        x = res.next;
        xCur.dispose();
        done++;
        args.onStep?.(done, total);
        // let the event loop run (progress, cancel) between steps
        await new Promise<void>((r) => setImmediate(r));
      }
      const final = cfg.clipX0 ? tf.tidy(() => tf.clipByValue(x, -1, 1)) : x;
      out.set(await final.data(), b0 * hwc);
      if (final !== x) final.dispose();
    } finally {
      x.dispose();
    }
  }
  return out;
}

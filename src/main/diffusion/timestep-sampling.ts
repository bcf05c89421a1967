/**
 * Which training timesteps to draw: uniform, or the loss-second-moment importance sampler of
 * improved DDPM (uniform until every t has `historyPerTerm` recorded losses, then
 * p_t proportional to sqrt(E[L_t^2]) over the last `historyPerTerm` losses, mixed with
 * `uniformProb` of the uniform distribution; losses reweighted by 1 / (T p_t) so the objective's
 * expectation is unchanged).
 *
 * Draws come from a Stream passed per call, so they are a function of the run's RNG key; the
 * loss-aware sampler's history round-trips through toJSON()/fromJSON() (float64 numbers survive
 * JSON exactly), so a resumed run draws exactly what an uninterrupted one would have.
 */
import type { Stream } from '../rng';

export interface TimestepDraw {
  t: Int32Array;
  /** Importance weights 1 / (T p_t), float32 as the reference; exactly 1 for uniform draws. */
  weights: Float32Array;
}

export interface TimestepSampler {
  readonly numTimesteps: number;
  /** The current distribution over t (sums to 1). */
  probabilities(): Float64Array;
  sample(batchSize: number, stream: Stream): TimestepDraw;
  /** Record the unweighted per-sample losses of a batch (a no-op for the uniform sampler). */
  update(t: ArrayLike<number>, losses: ArrayLike<number>): void;
  toJSON(): TimestepSamplerState;
}

export type TimestepSamplerState =
  | { kind: 'uniform'; numTimesteps: number }
  | {
      kind: 'loss-second-moment';
      numTimesteps: number;
      historyPerTerm: number;
      uniformProb: number;
      /** history[t] holds the recorded losses of t, oldest first (at most historyPerTerm). */
      history: number[][];
    };

function uniformDraw(T: number, batchSize: number, stream: Stream): TimestepDraw {
  const t = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) t[b] = stream.int(T);
  return { t, weights: new Float32Array(batchSize).fill(1) };
}

export class UniformSampler implements TimestepSampler {
  constructor(readonly numTimesteps: number) {
    if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new Error(`numTimesteps must be a positive integer, got ${numTimesteps}`);
  }

  probabilities(): Float64Array {
    return new Float64Array(this.numTimesteps).fill(1 / this.numTimesteps);
  }

  sample(batchSize: number, stream: Stream): TimestepDraw {
    return uniformDraw(this.numTimesteps, batchSize, stream);
  }

  update(): void {}

  toJSON(): TimestepSamplerState {
    return { kind: 'uniform', numTimesteps: this.numTimesteps };
  }
}

export class LossSecondMomentSampler implements TimestepSampler {
  private readonly history: Float64Array;
  private readonly counts: Int32Array;

  constructor(
    readonly numTimesteps: number,
    readonly historyPerTerm = 10,
    readonly uniformProb = 0.001,
  ) {
    if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new Error(`numTimesteps must be a positive integer, got ${numTimesteps}`);
    if (!Number.isInteger(historyPerTerm) || historyPerTerm < 1) throw new Error(`historyPerTerm must be a positive integer, got ${historyPerTerm}`);
    if (!(uniformProb >= 0 && uniformProb <= 1)) throw new Error(`uniformProb must lie in [0, 1], got ${uniformProb}`);
    this.history = new Float64Array(numTimesteps * historyPerTerm);
    this.counts = new Int32Array(numTimesteps);
  }

  /** True once every timestep has historyPerTerm recorded losses. */
  warmedUp(): boolean {
    for (let t = 0; t < this.numTimesteps; t++) if (this.counts[t]! < this.historyPerTerm) return false;
    return true;
  }

  /** The reference's unnormalised weights: ones before warm-up, else sqrt(E[L^2]) normalised and mixed with uniform. */
  private rawWeights(): Float64Array {
    const T = this.numTimesteps;
    const H = this.historyPerTerm;
    const w = new Float64Array(T);
    if (!this.warmedUp()) return w.fill(1);
    let sum = 0;
    for (let t = 0; t < T; t++) {
      let sq = 0;
      for (let k = 0; k < H; k++) {
        const l = this.history[t * H + k]!;
        sq += l * l;
      }
      w[t] = Math.sqrt(sq / H);
      sum += w[t]!;
    }
    for (let t = 0; t < T; t++) w[t] = (w[t]! / sum) * (1 - this.uniformProb) + this.uniformProb / T;
    return w;
  }

  probabilities(): Float64Array {
    const w = this.rawWeights();
    let sum = 0;
    for (const x of w) sum += x;
    return w.map((x) => x / sum);
  }

  /**
   * Before warm-up this draws exactly what UniformSampler draws from the same stream (weights 1);
   * after it, inverse-CDF draws with one stream.uniform() per sample.
   */
  sample(batchSize: number, stream: Stream): TimestepDraw {
    const T = this.numTimesteps;
    if (!this.warmedUp()) return uniformDraw(T, batchSize, stream);
    const p = this.probabilities();
    const cdf = new Float64Array(T);
    let acc = 0;
    for (let k = 0; k < T; k++) {
      acc += p[k]!;
      cdf[k] = acc;
    }
    const t = new Int32Array(batchSize);
    const weights = new Float32Array(batchSize);
    for (let b = 0; b < batchSize; b++) {
      const u = stream.uniform() * acc;
      // first k with cdf[k] > u; skips zero-probability steps
      let lo = 0;
      let hi = T - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid]! > u) hi = mid;
        else lo = mid + 1;
      }
      t[b] = lo;
      weights[b] = 1 / (T * p[lo]!);
    }
    return { t, weights };
  }

  update(ts: ArrayLike<number>, losses: ArrayLike<number>): void {
    if (ts.length !== losses.length) throw new Error(`update got ${ts.length} timesteps and ${losses.length} losses`);
    const H = this.historyPerTerm;
    for (let k = 0; k < ts.length; k++) {
      const t = ts[k]!;
      const loss = losses[k]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) throw new Error(`timestep ${t} is outside 0..${this.numTimesteps - 1}`);
      if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss} at timestep ${t}`);
      const base = t * H;
      if (this.counts[t] === H) {
        // shift out the oldest loss
        this.history.copyWithin(base, base + 1, base + H);
        this.history[base + H - 1] = loss;
      } else {
        this.history[base + this.counts[t]!] = loss;
        this.counts[t] = this.counts[t]! + 1;
      }
    }
  }

  toJSON(): TimestepSamplerState {
    const H = this.historyPerTerm;
    const history: number[][] = [];
    for (let t = 0; t < this.numTimesteps; t++) history.push(Array.from(this.history.subarray(t * H, t * H + this.counts[t]!)));
    return { kind: 'loss-second-moment', numTimesteps: this.numTimesteps, historyPerTerm: H, uniformProb: this.uniformProb, history };
  }

  static fromJSON(state: TimestepSamplerState): LossSecondMomentSampler {
    if (state.kind !== 'loss-second-moment') throw new Error(`not a loss-second-moment sampler state: ${state.kind}`);
    const s = new LossSecondMomentSampler(state.numTimesteps, state.historyPerTerm, state.uniformProb);
    if (state.history.length !== state.numTimesteps) throw new Error(`state has history for ${state.history.length} of ${state.numTimesteps} timesteps`);
    state.history.forEach((h, t) => {
      if (h.length > s.historyPerTerm) throw new Error(`state holds ${h.length} losses for timestep ${t}, more than ${s.historyPerTerm}`);
      s.history.set(h, t * s.historyPerTerm);
      s.counts[t] = h.length;
    });
    return s;
  }
}

export type TimestepSamplerName = 'uniform' | 'loss-second-moment';

export function createTimestepSampler(name: TimestepSamplerName, numTimesteps: number): TimestepSampler {
  if (name === 'uniform') return new UniformSampler(numTimesteps);
  if (name === 'loss-second-moment') return new LossSecondMomentSampler(numTimesteps);
  throw new Error(`unknown timestep sampler: ${String(name)}`);
}

export function timestepSamplerFromJSON(state: TimestepSamplerState): TimestepSampler {
  if (state.kind === 'uniform') return new UniformSampler(state.numTimesteps);
  return LossSecondMomentSampler.fromJSON(state);
}

/**
 * Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), computed as the reference code
 * (openai/improved-gan inception_score.py) does: the samples are cut into `splits` contiguous parts
 * [i*n/splits, (i+1)*n/splits), p(y) is each part's mean prediction, and the result is the mean and
 * (population) standard deviation of the per-part scores.
 *
 * Works from logits through a float64 log-softmax, so confident predictions do not underflow into
 * 0 * log 0.
 */
import { checkFeatureMatrix, type FeatureMatrix } from './gaussian-stats';

export interface InceptionScoreOptions {
  splits?: number;
  /** The rows are already probabilities (each row sums to 1) rather than logits. */
  probabilities?: boolean;
}

export interface InceptionScoreResult {
  mean: number;
  std: number;
  scores: number[];
}

export function inceptionScore(predictions: FeatureMatrix, opts: InceptionScoreOptions = {}): InceptionScoreResult {
  checkFeatureMatrix(predictions, 'classifier outputs');
  const { data, rows: n, cols: c } = predictions;
  const splits = opts.splits ?? 10;
  if (!Number.isInteger(splits) || splits < 1 || splits > n) {
    throw new Error(`Inception Score: ${splits} splits of ${n} samples`);
  }
  const logp = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    const o = i * c;
    if (opts.probabilities) {
      for (let j = 0; j < c; j++) logp[o + j] = Math.log(data[o + j]!);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, data[o + j]!);
    if (!Number.isFinite(max)) throw new Error(`Inception Score: logits of sample ${i} are not finite`);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(data[o + j]! - max);
    const lse = max + Math.log(s);
    for (let j = 0; j < c; j++) logp[o + j] = data[o + j]! - lse;
  }
  const scores: number[] = [];
  const marginal = new Float64Array(c);
  for (let k = 0; k < splits; k++) {
    const start = Math.floor((k * n) / splits);
    const end = Math.floor(((k + 1) * n) / splits);
    marginal.fill(0);
    for (let i = start; i < end; i++) for (let j = 0; j < c; j++) marginal[j] += Math.exp(logp[i * c + j]!);
    for (let j = 0; j < c; j++) marginal[j] = Math.log(marginal[j]! / (end - start));
    let kl = 0;
    for (let i = start; i < end; i++) {
      for (let j = 0; j < c; j++) {
        const l = logp[i * c + j]!;
        if (l === -Infinity) continue; // p log p -> 0
        kl += Math.exp(l) * (l - marginal[j]!);
      }
    }
    scores.push(Math.exp(kl / (end - start)));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) * (b - mean), 0) / splits);
  return { mean, std, scores };
}

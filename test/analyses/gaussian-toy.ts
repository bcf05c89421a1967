/**
 * The Gaussian toy of test/diffusion/samplers.test.ts, shared by the analysis tests: data
 * x0 ~ N(mu, s^2) per pixel, independent, whose MSE-optimal eps predictor is closed form,
 *   eps*(x_t, t) = sqrt(1 - ab_t) (x_t - sqrt(ab_t) mu) / (ab_t s^2 + 1 - ab_t),
 * so x0-hat from it is the posterior mean E[x0 | x_t], and the prediction error and the spread of
 * a sampler's states have closed forms.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Process } from '../../src/main/diffusion/schedule';
import type { AnalysisNetwork } from '../../src/main/analyses/analysis-inputs';
import { Stream } from '../../src/main/rng';

export function exactEpsNetwork(p: Process, mu: number, s: number): AnalysisNetwork {
  return (x, t) => {
    const tv = t.dataSync();
    const B = x.shape[0];
    const k = new Float32Array(B);
    const m = new Float32Array(B);
    for (let b = 0; b < B; b++) {
      const ab = p.ab[tv[b]!]!;
      k[b] = Math.sqrt(1 - ab) / (ab * s * s + 1 - ab);
      m[b] = Math.sqrt(ab) * mu;
    }
    return tf.mul(tf.tensor4d(k, [B, 1, 1, 1]), tf.sub(x, tf.tensor4d(m, [B, 1, 1, 1]))) as tf.Tensor4D;
  };
}

/** A network that predicts eps = 0 everywhere: x0-hat = x_t / sqrt(ab_t). */
export const zeroEpsNetwork: AnalysisNetwork = (x) => tf.zerosLike(x);

/** Var(x0 - E[x0 | x_t]) of the toy: the posterior variance s^2 (1 - ab) / (ab s^2 + 1 - ab). */
export function posteriorVariance(ab: number, s: number): number {
  return (s * s * (1 - ab)) / (ab * s * s + 1 - ab);
}

/** count images of iid N(mu, s^2) pixels. */
export function gaussianImages(count: number, hwc: number, mu: number, s: number, seed: number): Float32Array {
  const st = new Stream(seed, 'toy-data');
  return Float32Array.from({ length: count * hwc }, () => mu + s * st.normal());
}

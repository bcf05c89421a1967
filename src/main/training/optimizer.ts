/**
 * Adam / AdamW over a named parameter map, with the state kept as named tensors so that a
 * checkpoint can store it exactly and a resumed run continues bit for bit.
 * Update rule as PyTorch's Adam/AdamW (bias-corrected moments; AdamW decays weights decoupled
 * from the gradient: p <- p * (1 - lr * wd) before the Adam step).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AdamSettings {
  kind: 'adam' | 'adamw';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  warmupSteps: number;
  gradClip: number | null;
}

export class Adam {
  /** Number of updates applied so far (PyTorch's `step` in the state). */
  t = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(
    readonly settings: AdamSettings,
    params: Map<string, tf.Variable>,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false, `adam_m/${name}`));
      this.v.set(name, tf.variable(tf.zerosLike(p), false, `adam_v/${name}`));
    }
  }

  /** Learning rate for the update about to be applied (linear warm-up over warmupSteps). */
  currentLr(): number {
    const { lr, warmupSteps } = this.settings;
    if (warmupSteps <= 0) return lr;
    return lr * Math.min(1, (this.t + 1) / warmupSteps);
  }

  /**
   * Applies one update. Returns the global gradient norm before clipping (a useful training
   * signal, logged as `grad_norm`). Disposes nothing of the caller's: grads stay owned by the caller.
   */
  apply(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>): number {
    const s = this.settings;
    const lr = this.currentLr();
    this.t += 1;
    const gradNorm = tf.tidy(() => {
      const sq = Object.values(grads).map((g) => tf.sum(tf.square(g)));
      return Math.sqrt(tf.addN(sq).dataSync()[0]!);
    });
    const clipScale = s.gradClip !== null && gradNorm > s.gradClip ? s.gradClip / (gradNorm + 1e-6) : 1;
    const bc1 = 1 - Math.pow(s.beta1, this.t);
    const bc2 = 1 - Math.pow(s.beta2, this.t);
    const stepSize = lr / bc1;
    tf.tidy(() => {
      for (const [name, p] of params) {
        let g = grads[name];
        // A parameter the loss does not reach has no gradient; like PyTorch, leave it and its moments alone.
        if (!g) continue;
        if (clipScale !== 1) g = tf.mul(g, clipScale);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const m1 = tf.add(tf.mul(m, s.beta1), tf.mul(g, 1 - s.beta1));
        const v1 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(g), 1 - s.beta2));
        m.assign(m1);
        v.assign(v1);
        const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), s.eps);
        let base: tf.Tensor = p;
        if (s.kind === 'adamw' && s.weightDecay > 0) base = tf.mul(p, 1 - lr * s.weightDecay);
        p.assign(tf.sub(base, tf.mul(tf.div(m1, denom), stepSize)));
      }
    });
    return gradNorm;
  }

  dispose(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
  }
}

/** Exponential moving average of the weights: ema <- rate * ema + (1 - rate) * param. */
export class Ema {
  readonly shadow = new Map<string, tf.Variable>();

  constructor(
    readonly rate: number,
    params: Map<string, tf.Variable>,
  ) {
    for (const [name, p] of params) this.shadow.set(name, tf.variable(p.clone(), false, `ema/${name}`));
  }

  update(params: Map<string, tf.Variable>): void {
    tf.tidy(() => {
      for (const [name, p] of params) {
        const e = this.shadow.get(name)!;
        e.assign(tf.add(tf.mul(e, this.rate), tf.mul(p, 1 - this.rate)));
      }
    });
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
  }
}

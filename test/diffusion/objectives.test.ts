import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; vite resolves this ESM entry (see the report).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/main/nn/backend';
import { Stream } from '../../src/main/rng';
import {
  gammaAt,
  GP_ESTIMATOR,
  GP_ESTIMATORS,
  gradientPenalty,
  OBJECTIVE_DEFINITIONS,
  stopGradient,
  trainingLoss,
  vbTerm,
  type GammaSchedule,
  type Model,
  type Objective,
} from '../../src/main/diffusion/objectives';
import { createProcess, type Process } from '../../src/main/diffusion/schedule';

beforeAll(async () => {
  await initBackend('wasm');
});

const normals = (n: number, ...key: (string | number)[]) => new Stream(...key).fillNormal(new Float32Array(n));

/** A small per-pixel MLP with a timestep input: matMul/softplus only, whose second derivatives TF.js gets right. */
function tinyModel(C: number, outC: number, seed = 1): { model: Model; vars: tf.Variable[] } {
  const hidden = 6;
  const W1 = tf.variable(tf.tensor2d(normals(C * hidden, seed, 'W1').map((v) => v * 0.7), [C, hidden]), true, `W1_${seed}_${outC}`);
  const b1 = tf.variable(tf.tensor1d(normals(hidden, seed, 'b1').map((v) => v * 0.1)), true, `b1_${seed}_${outC}`);
  const wt = tf.variable(tf.tensor1d(normals(hidden, seed, 'wt').map((v) => v * 0.5)), true, `wt_${seed}_${outC}`);
  const W2 = tf.variable(tf.tensor2d(normals(hidden * outC, seed, 'W2').map((v) => v * 0.5), [hidden, outC]), true, `W2_${seed}_${outC}`);
  const model: Model = (x, t) => {
    const [B, H, W] = x.shape;
    const h = tf.reshape(tf.add(tf.matMul(tf.reshape(x, [B * H * W, C]), W1), b1), [B, H * W, hidden]);
    const temb = tf.reshape(tf.mul(tf.reshape(tf.div(t, 1000), [B, 1]), wt), [B, 1, hidden]);
    const a = tf.softplus(tf.add(h, temb));
    return tf.reshape(tf.matMul(tf.reshape(a, [B * H * W, hidden]), W2), [B, H, W, outC]) as tf.Tensor4D;
  };
  return { model, vars: [W1, b1, wt, W2] };
}

function batch(B: number, H: number, W: number, C: number, seed: number) {
  const shape: [number, number, number, number] = [B, H, W, C];
  const n = B * H * W * C;
  return {
    x0: tf.tensor4d(normals(n, seed, 'x0').map((v) => Math.tanh(v)), shape),
    eps: tf.tensor4d(normals(n, seed, 'eps'), shape),
    xi: tf.tensor4d(normals(n, seed, 'xi'), shape),
    probe: tf.tensor4d(normals(n, seed, 'probe'), shape),
  };
}

function bitsOf(t: tf.Tensor): Uint32Array {
  return new Uint32Array(Float32Array.from(t.dataSync()).buffer);
}

describe('input perturbation', () => {
  it('the IP input carries noise of variance (1 - ab_t)(1 + gamma^2); the target stays eps', () => {
    const p = createProcess('linear', 1000);
    const B = 4;
    const H = 32;
    const { x0, eps, xi } = batch(B, H, H, 1, 5);
    const t = new Int32Array([10, 300, 600, 999]);
    const gamma = 0.5;
    let captured: tf.Tensor4D | null = null;
    const capture: Model = (x) => {
      captured = tf.keep(tf.clone(x));
      return tf.zerosLike(x);
    };
    tf.tidy(() => trainingLoss({ model: capture, process: p, objective: 'adm-ip', gamma: { kind: 'constant', gamma }, learnSigma: false, x0, t, eps, xi }));
    const xin = captured! as tf.Tensor4D;
    const x0v = x0.dataSync();
    const xv = xin.dataSync();
    const per = H * H;
    for (let b = 0; b < B; b++) {
      let s = 0;
      let s2 = 0;
      for (let k = 0; k < per; k++) {
        const n = xv[b * per + k]! - p.sqrtAb[t[b]!]! * x0v[b * per + k]!;
        s += n;
        s2 += n * n;
      }
      const varEmp = s2 / per - (s / per) ** 2;
      const expected = (1 - p.ab[t[b]!]!) * (1 + gamma * gamma);
      // sampling error of a variance from 1024 values is about 4.4%
      expect(Math.abs(varEmp / expected - 1)).toBeLessThan(0.2);
    }
    // pooled over the batch, normalised per sample
    let pooled = 0;
    for (let b = 0; b < B; b++) {
      let s2 = 0;
      for (let k = 0; k < per; k++) s2 += (xv[b * per + k]! - p.sqrtAb[t[b]!]! * x0v[b * per + k]!) ** 2;
      pooled += s2 / per / (1 - p.ab[t[b]!]!);
    }
    expect(pooled / B).toBeGreaterThan(1.25 * 0.93);
    expect(pooled / B).toBeLessThan(1.25 * 1.07);
    xin.dispose();
  });

  it('adm-ip with gamma = 0 is bit-identical to adm (and adm-wd): loss and gradients, with and without learned sigma', () => {
    const p = createProcess('cosine', 1000);
    for (const learnSigma of [false, true]) {
      const { model, vars } = tinyModel(2, learnSigma ? 4 : 2, learnSigma ? 3 : 2);
      const { x0, eps, xi } = batch(3, 4, 4, 2, 9);
      const t = new Int32Array([0, 17, 999]);
      const weights = new Float32Array([0.5, 1, 2]);
      const run = (objective: Objective, gamma: GammaSchedule) =>
        tf.variableGrads(() => trainingLoss({ model, process: p, objective, gamma, learnSigma, x0, t, eps, xi, weights }).loss, vars);
      const ref = run('adm', { kind: 'constant', gamma: 0.1 });
      for (const [objective, gamma] of [
        ['adm-ip', { kind: 'constant', gamma: 0 }],
        ['adm-ip', { kind: 'linear', start: 0, end: 0 }],
        ['adm-wd', { kind: 'constant', gamma: 0.3 }],
      ] as [Objective, GammaSchedule][]) {
        const other = run(objective, gamma);
        expect(bitsOf(other.value)).toEqual(bitsOf(ref.value));
        for (const v of vars) expect(bitsOf(other.grads[v.name]!)).toEqual(bitsOf(ref.grads[v.name]!));
      }
      // and gamma > 0 does change it
      const ip = run('adm-ip', { kind: 'constant', gamma: 0.1 });
      expect(ip.value.dataSync()[0]).not.toBe(ref.value.dataSync()[0]);
    }
  });

  it("adm-y's target is eps + gamma xi; adm-ip's is eps", () => {
    const p = createProcess('linear', 1000);
    const { x0, eps, xi } = batch(2, 8, 8, 1, 4);
    const t = new Int32Array([100, 700]);
    const gamma = 0.15;
    const epsOracle: Model = () => tf.clone(eps);
    const noiseOracle: Model = () => tf.add(eps, tf.mul(gamma, xi)) as tf.Tensor4D;
    const mse = (objective: Objective, model: Model) =>
      tf.tidy(() => Array.from(trainingLoss({ model, process: p, objective, gamma: { kind: 'constant', gamma }, learnSigma: false, x0, t, eps, xi }).perSample.dataSync()));
    expect(mse('adm-ip', epsOracle)).toEqual([0, 0]);
    expect(mse('adm-y', noiseOracle)).toEqual([0, 0]);
    const xiv = xi.dataSync();
    const gx = [0, 1].map((b) => {
      let s = 0;
      for (let k = 0; k < 64; k++) s += (gamma * xiv[b * 64 + k]!) ** 2;
      return s / 64;
    });
    mse('adm-y', epsOracle).forEach((m, b) => expect(m).toBeCloseTo(gx[b]!, 6));
    mse('adm-ip', noiseOracle).forEach((m, b) => expect(m).toBeCloseTo(gx[b]!, 6));
  });

  it('gamma schedules over t', () => {
    expect(gammaAt({ kind: 'constant', gamma: 0.1 }, 500, 1000)).toBe(0.1);
    expect(gammaAt({ kind: 'linear', start: 0, end: 0.2 }, 0, 1000)).toBe(0);
    expect(gammaAt({ kind: 'linear', start: 0, end: 0.2 }, 999, 1000)).toBeCloseTo(0.2, 15);
    expect(gammaAt({ kind: 'cosine', start: 0.2, end: 0 }, 0, 1000)).toBeCloseTo(0.2, 15);
    expect(gammaAt({ kind: 'cosine', start: 0.2, end: 0 }, 999, 1000)).toBeCloseTo(0, 15);
    expect(gammaAt({ kind: 'cosine', start: 0.2, end: 0 }, 499.5, 1000)).toBeCloseTo(0.1, 15);
    expect(OBJECTIVE_DEFINITIONS['adm-y']).toMatch(/eps \+ gamma_t xi/);
  });
});

describe('learned variance (VB term)', () => {
  const T = 100;
  let p: Process;
  beforeAll(() => {
    p = createProcess('linear', T);
  });
  const LN2 = Math.log(2);
  const cdf = (x: number) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

  /** eps that makes x0-hat equal x0 exactly (in float64) at step t. */
  const oracleEps = (t: number, x0: number, xt: number) => (p.sqrtRecipAb[t]! * xt - x0) / p.sqrtRecipm1Ab[t]!;

  it('KL is 0 for the true posterior and closed-form otherwise', () => {
    const t = 5;
    const x0 = 0.3;
    const xt = 0.5;
    const e = oracleEps(t, x0, xt);
    const vb = (v: number, epsv: number) =>
      tf.tidy(() =>
        vbTerm({
          process: p,
          x0: tf.tensor4d([x0], [1, 1, 1, 1]),
          xt: tf.tensor4d([xt], [1, 1, 1, 1]),
          t: new Int32Array([t]),
          epsPred: tf.tensor4d([epsv], [1, 1, 1, 1]),
          v: tf.tensor4d([v], [1, 1, 1, 1]),
        }).dataSync()[0]!,
      );
    expect(Math.abs(vb(-1, e))).toBeLessThan(1e-5);
    // v = +1: variance beta_t against beta~_t, same mean
    const beta = p.betas[t]!;
    const bt = p.posteriorVariance[t]!;
    const klLarge = (0.5 * (-1 + Math.log(beta) - Math.log(bt) + bt / beta)) / LN2;
    expect(vb(1, e)).toBeCloseTo(klLarge, 5);
    // v = 0: log-variance halfway; mean off by d
    const d = 0.02;
    const epsOff = e - d / (p.posteriorMeanCoef1[t]! * p.sqrtRecipm1Ab[t]!) * -1; // shifts the mean by +d
    const lv = 0.5 * Math.log(beta) + 0.5 * Math.log(bt);
    const klMid = (0.5 * (-1 + lv - Math.log(bt) + Math.exp(Math.log(bt) - lv) + d * d * Math.exp(-lv))) / LN2;
    expect(vb(0, epsOff)).toBeCloseTo(klMid, 4);
  });

  it('at t = 0 it is the discretised decoder NLL, with open outer bins at -1 and 1', () => {
    const x0 = [-1, 0, 1];
    const xt = [-0.9, 0.05, 0.95];
    const means = [-0.98, 0.01, 0.97]; // the model's mean per pixel, through x0-hat
    // at t = 0 the posterior mean is coef1 * x0hat + coef2 * xt with coef2 = 0
    const c1 = p.posteriorMeanCoef1[0]!;
    expect(p.posteriorMeanCoef2[0]).toBe(0);
    const epsv = xt.map((x, k) => (p.sqrtRecipAb[0]! * x - means[k]! / c1) / p.sqrtRecipm1Ab[0]!);
    const got = tf.tidy(() =>
      vbTerm({
        process: p,
        x0: tf.tensor4d(x0, [1, 1, 3, 1]),
        xt: tf.tensor4d(xt, [1, 1, 3, 1]),
        t: new Int32Array([0]),
        epsPred: tf.tensor4d(epsv, [1, 1, 3, 1]),
        v: tf.tensor4d([1, 1, 1], [1, 1, 3, 1]), // log-variance log beta_0
      }).dataSync()[0]!,
    );
    const sigma = Math.sqrt(p.betas[0]!);
    const nll = [
      -Math.log(cdf((-1 - means[0]! + 1 / 255) / sigma)),
      -Math.log(cdf((0 - means[1]! + 1 / 255) / sigma) - cdf((0 - means[1]! - 1 / 255) / sigma)),
      -Math.log(1 - cdf((1 - means[2]! - 1 / 255) / sigma)),
    ];
    const expected = (nll[0]! + nll[1]! + nll[2]!) / 3 / LN2;
    expect(Number.isFinite(expected)).toBe(true);
    expect(Math.abs(got - expected) / expected).toBeLessThan(1e-4);
  });

  it('the predicted mean is detached: the VB term trains v only', () => {
    const epsT = tf.tensor4d([0.3, -0.2, 0.1, 0.7], [1, 2, 2, 1]);
    const vT = tf.tensor4d([0.1, -0.4, 0.2, 0.0], [1, 2, 2, 1]);
    const x0 = tf.tensor4d([0.5, -0.5, 0.2, 0.9], [1, 2, 2, 1]);
    const xt = tf.tensor4d([0.6, -0.3, 0.1, 1.1], [1, 2, 2, 1]);
    const f = (e: tf.Tensor, v: tf.Tensor) =>
      tf.sum(vbTerm({ process: p, x0, xt, t: new Int32Array([4]), epsPred: stopGradient(e as tf.Tensor4D), v: v as tf.Tensor4D }));
    const [ge, gv] = tf.grads(f)([epsT, vT]);
    expect([...ge!.dataSync()]).toEqual([0, 0, 0, 0]);
    expect(Math.max(...[...gv!.dataSync()].map(Math.abs))).toBeGreaterThan(1e-3);
    // without the detach the mean does get a gradient
    const [ge2] = tf.grads((e: tf.Tensor, v: tf.Tensor) =>
      tf.sum(vbTerm({ process: p, x0, xt, t: new Int32Array([4]), epsPred: e as tf.Tensor4D, v: v as tf.Tensor4D })),
    )([epsT, vT]);
    expect(Math.max(...[...ge2!.dataSync()].map(Math.abs))).toBeGreaterThan(1e-3);
    // stopGradient is the identity forward
    expect([...stopGradient(epsT).dataSync()]).toEqual([...epsT.dataSync()]);
  });

  it('trainingLoss = mse + vb * T/1000 on the (perturbed) input', () => {
    const { model } = tinyModel(1, 2, 7);
    const P = createProcess('linear', 1000);
    const { x0, eps, xi } = batch(2, 4, 4, 1, 12);
    const t = new Int32Array([0, 400]);
    const gamma = 0.2;
    tf.tidy(() => {
      const r = trainingLoss({ model, process: P, objective: 'adm-ip', gamma: { kind: 'constant', gamma }, learnSigma: true, x0, t, eps, xi });
      const sa = P.sqrtAb;
      const xin = tf.add(
        tf.mul(tf.tensor4d([sa[0]!, sa[400]!], [2, 1, 1, 1]), x0),
        tf.mul(tf.tensor4d([P.sqrt1mAb[0]!, P.sqrt1mAb[400]!], [2, 1, 1, 1]), tf.add(eps, tf.mul(gamma, xi))),
      ) as tf.Tensor4D;
      const out = model(xin, tf.tensor1d([0, 400]));
      const e = tf.slice(out, [0, 0, 0, 0], [2, 4, 4, 1]);
      const v = tf.slice(out, [0, 0, 0, 1], [2, 4, 4, 1]);
      const vb = vbTerm({ process: P, x0, xt: xin, t, epsPred: e, v }).dataSync();
      const mse = tf.mean(tf.square(tf.sub(eps, e)), [1, 2, 3]).dataSync();
      const per = r.perSample.dataSync();
      for (let b = 0; b < 2; b++) expect(per[b]).toBeCloseTo(mse[b]! + vb[b]! * 1.0, 5);
      expect(r.terms.vb).toBeDefined();
      expect(r.loss.dataSync()[0]).toBeCloseTo((per[0]! + per[1]!) / 2, 6);
    });
  });
});

describe('gradient penalty (adm-gp)', () => {
  it('names its estimator', () => {
    expect(GP_ESTIMATOR).toBe('hutchinson-vjp');
    expect(Object.keys(GP_ESTIMATORS)).toEqual(['hutchinson-vjp', 'fd-jvp']);
  });

  it('equals mean((J^T v)^2) and mean((J v)^2) for a linear model', () => {
    const C = 3;
    const Wv = [0.5, -1, 0.2, 0.3, 0.8, -0.4, 1.1, 0.1, 0.6];
    const W = tf.tensor2d(Wv, [C, C]);
    const linear: Model = (x) => {
      const [B, H, Wd] = x.shape;
      return tf.reshape(tf.matMul(tf.reshape(x, [B * H * Wd, C]), W), [B, H, Wd, C]) as tf.Tensor4D;
    };
    const { x0, probe } = batch(2, 3, 3, C, 21);
    const t = tf.tensor1d([5, 6]);
    const vjp = tf.tidy(() => tf.mean(tf.square(tf.reshape(tf.matMul(tf.reshape(probe, [18, C]), W, false, true), [2, 3, 3, C])), [1, 2, 3]).dataSync());
    const jvp = tf.tidy(() => tf.mean(tf.square(tf.reshape(tf.matMul(tf.reshape(probe, [18, C]), W), [2, 3, 3, C])), [1, 2, 3]).dataSync());
    const gpV = tf.tidy(() => gradientPenalty({ model: linear, x: x0, tModel: t, probe, learnSigma: false }).dataSync());
    const gpF = tf.tidy(() => gradientPenalty({ model: linear, x: x0, tModel: t, probe, learnSigma: false, estimator: 'fd-jvp' }).dataSync());
    for (let b = 0; b < 2; b++) {
      expect(gpV[b]).toBeCloseTo(vjp[b]!, 5);
      expect(gpF[b]).toBeCloseTo(jvp[b]!, 3);
    }
  });

  it('double backprop: d(gp)/d(theta) matches finite differences', () => {
    const { model, vars } = tinyModel(2, 2, 31);
    const { x0, probe } = batch(2, 2, 2, 2, 33);
    const t = tf.tensor1d([100, 800]);
    const gpSum = () => tf.sum(gradientPenalty({ model, x: x0, tModel: t, probe, learnSigma: false })) as tf.Scalar;
    const { grads } = tf.variableGrads(gpSum, vars);
    const h = 1e-2;
    let checked = 0;
    for (const v of vars) {
      const base = v.dataSync().slice();
      const g = grads[v.name]!.dataSync();
      for (const k of [0, base.length - 1]) {
        const at = (delta: number) => {
          const w = base.slice();
          w[k] = w[k]! + delta;
          v.assign(tf.tensor(w, v.shape));
          return tf.tidy(() => gpSum().dataSync()[0]!);
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        v.assign(tf.tensor(base, v.shape));
        expect(Math.abs(g[k]! - fd)).toBeLessThan(0.03 * Math.max(Math.abs(fd), 0.05));
        checked++;
      }
    }
    expect(checked).toBe(8);
  });

  it('adm-gp adds lambda_gp * gp to the adm loss', () => {
    const { model } = tinyModel(1, 1, 41);
    const p = createProcess('linear', 1000);
    const { x0, eps, xi, probe } = batch(2, 3, 3, 1, 43);
    const t = new Int32Array([3, 900]);
    tf.tidy(() => {
      const adm = trainingLoss({ model, process: p, objective: 'adm', gamma: { kind: 'constant', gamma: 0 }, learnSigma: false, x0, t, eps, xi });
      const gp = trainingLoss({ model, process: p, objective: 'adm-gp', gamma: { kind: 'constant', gamma: 0 }, learnSigma: false, x0, t, eps, xi, gpLambda: 0.5, gpProbe: probe });
      const a = adm.perSample.dataSync();
      const g = gp.perSample.dataSync();
      const pen = gp.terms.gp!.dataSync();
      for (let b = 0; b < 2; b++) expect(g[b]).toBeCloseTo(a[b]! + 0.5 * pen[b]!, 6);
      expect(() => trainingLoss({ model, process: p, objective: 'adm-gp', gamma: { kind: 'constant', gamma: 0 }, learnSigma: false, x0, t, eps, xi })).toThrow();
    });
  });
});

describe('memory', () => {
  it('a training step leaves only the gradients behind', () => {
    const { model, vars } = tinyModel(1, 2, 51);
    const p = createProcess('linear', 1000);
    const { x0, eps, xi, probe } = batch(2, 3, 3, 1, 53);
    const t = new Int32Array([0, 500]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => trainingLoss({ model, process: p, objective: 'adm-gp', gamma: { kind: 'constant', gamma: 0 }, learnSigma: true, x0, t, eps, xi, gpLambda: 0.1, gpProbe: probe }).loss,
      vars,
    );
    expect(tf.memory().numTensors).toBe(before + 1 + vars.length);
    tf.dispose([value, ...Object.values(grads)]);
  });
});

describe('validation', () => {
  it('rejects a wrong output channel count and out-of-range t', () => {
    const p = createProcess('linear', 100);
    const { x0, eps, xi } = batch(1, 2, 2, 1, 1);
    const twoCh: Model = (x) => tf.concat([x, x], 3) as tf.Tensor4D;
    expect(() => tf.tidy(() => trainingLoss({ model: twoCh, process: p, objective: 'adm', gamma: { kind: 'constant', gamma: 0 }, learnSigma: false, x0, t: new Int32Array([1]), eps, xi }))).toThrow(/channels/);
    expect(() => tf.tidy(() => trainingLoss({ model: (x) => x, process: p, objective: 'adm', gamma: { kind: 'constant', gamma: 0 }, learnSigma: false, x0, t: new Int32Array([100]), eps, xi }))).toThrow();
  });
});

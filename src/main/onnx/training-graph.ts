/**
 * One training step of the U-Net as a single ONNX graph: the forward of unet-graph.ts with the
 * parameters as inputs, the weighted MSE of the epsilon objectives, and its gradient with respect
 * to every parameter (autodiff.ts). ONNX Runtime runs it with its CPU kernels; the optimiser, EMA
 * and every random draw stay in training/ as for the tfjs engine.
 *
 * Inputs: each parameter by name in the tfjs layout; x [B, H, W, C] (the objective's network input);
 * t [B] (the network's timesteps, float); target [B, H, W, C]; w [B] (importance weights; ones for
 * uniform sampling); `dropout.<block>` masks when the network has dropout.
 * Outputs: loss [] = mean_b w_b mse_b; per_sample [B] = mse_b (unweighted, for the loss-aware
 * timestep sampler); `grad.<param>` for every parameter, in the parameter's own shape.
 *
 * What it does not cover (training/onnx-training.ts sends these to the tfjs engine): the learned
 * variance's VB term and adm-gp's gradient penalty (a second-order gradient).
 */
import { paramShapes, type UNetConfig } from '../nn/unet';
import { appendBackward } from './autodiff';
import { GraphBuilder } from './graph';
import { describeUNet, inputWeights, UNET_GRAPH_VERSION } from './unet-graph';

export interface TrainingGraph {
  bytes: Uint8Array;
  /** Parameter inputs, in paramShapes order (the gradient outputs are `grad.` + name). */
  params: { name: string; shape: number[] }[];
  /** Dropout mask inputs and their NHWC shapes, in the order the forward applies them. */
  masks: { name: string; block: string; shape: number[] }[];
}

export function unetTrainingGraph(cfg: UNetConfig, batch: number): TrainingGraph {
  if (cfg.learnSigma) throw new Error('the ONNX training graph covers the epsilon objectives without learned variance (train learned-sigma models with the tfjs engine)');
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`training graph: batch must be a positive integer, got ${batch}`);
  const g = new GraphBuilder();
  const params = paramShapes(cfg).map((p) => ({ name: p.name, shape: [...p.shape] }));
  // Parameters first, so the inputs list reads parameters, then data.
  for (const p of params) g.input(p.name, p.shape);
  const eps = describeUNet(g, cfg, inputWeights(g, cfg), { batch, dropoutMasks: true });

  const { imageSize: S, inChannels: C } = cfg;
  const target = g.input('target', [batch, S, S, C]);
  const w = g.input('w', [batch]);
  const diff = g.op('Sub', [eps, target], {}, 'diff');
  const perSample = g.op('ReduceMean', [g.op('Mul', [diff, diff])], { axes: [1, 2, 3], keepdims: 0 }, 'per_sample');
  const loss = g.op('ReduceMean', [g.op('Mul', [perSample, w])], { axes: [0], keepdims: 0 }, 'loss');
  g.output(perSample, 'per_sample', [batch]);
  g.output(loss, 'loss', []);

  // d loss / d eps = 2 (eps - target) w_b / (B P), P = pixels x channels per sample.
  const coef = g.floats('loss.coef', [2 / (batch * S * S * C)], []);
  const scaledW = g.op('Reshape', [g.op('Mul', [w, coef]), g.ints('loss.w_shape', [batch, 1, 1, 1])]);
  const dEps = g.op('Mul', [diff, scaledW], {}, 'd_eps');
  const { grads } = appendBackward(g, new Map([[eps, dEps]]), params.map((p) => p.name));
  for (const p of params) g.output(grads.get(p.name)!, `grad.${p.name}`, p.shape);

  const masks = g.records
    .filter((r) => r.type === 'Transpose' && r.inputs[0]!.startsWith('dropout.'))
    .map((r) => ({ name: r.inputs[0]!, block: r.inputs[0]!.slice('dropout.'.length), shape: g.shapes.get(r.inputs[0]!)! }));
  const bytes = g.encode({ producer: 'exposure-lab', producerVersion: `unet-graph ${UNET_GRAPH_VERSION} training`, graphName: 'adm_unet_training_step' });
  return { bytes, params, masks };
}

/**
 * The pieces of a training run that live as tensors (weights, EMA, optimiser moments), and their
 * conversion to and from checkpoint files.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseTrainConfig, type TrainConfig } from '../../shared/config';
import { forward, paramShapes, type Params, type UNetConfig } from '../nn/unet';
import { presetByName } from '../nn/presets';
import type { Model } from '../diffusion/objectives';
import { readCheckpoint, type CheckpointData, type TensorGroup, tensorKey } from './checkpoint';

/** The U-Net config a training config asks for: the preset, its overrides, the data's shape. */
export function unetConfigFor(config: TrainConfig, data: { imageSize: number; channels: number }): UNetConfig {
  const preset = presetByName(config.preset);
  return {
    ...preset,
    ...config.model,
    imageSize: data.imageSize,
    inChannels: data.channels,
    learnSigma: config.learnSigma,
  };
}

export function snapshot(group: TensorGroup, vars: Map<string, tf.Variable>) {
  return [...vars].map(([name, v]) => ({ group, name, shape: v.shape.slice(), values: v.dataSync() as Float32Array }));
}

/** One tensor's values from a checkpoint, checking that it exists with the shape the model expects. */
function checkpointValues(ckpt: CheckpointData, group: TensorGroup, name: string, shape: readonly number[], file: string): Float32Array {
  const entry = ckpt.tensors.get(tensorKey(group, name));
  if (!entry) throw new Error(`checkpoint ${file} has no tensor ${group}/${name}: it was written for a different model`);
  if (entry.entry.shape.join('x') !== shape.join('x')) {
    throw new Error(`checkpoint ${file}: ${group}/${name} has shape ${entry.entry.shape.join('x')}, model expects ${shape.join('x')}`);
  }
  return entry.values;
}

/** Overwrites variables with the checkpoint's values of one group, checking names and shapes. */
export function restoreGroup(ckpt: CheckpointData, group: TensorGroup, vars: Map<string, tf.Variable>, file: string): void {
  for (const [name, v] of vars) {
    tf.tidy(() => v.assign(tf.tensor(checkpointValues(ckpt, group, name, v.shape, file), v.shape, 'float32')));
  }
}

export interface LoadedModel {
  config: TrainConfig;
  unet: UNetConfig;
  params: Params;
  step: number;
  weights: 'ema' | 'raw';
  model: Model;
  dispose(): void;
}

/** Loads a checkpoint for inference: the EMA weights by default, as the paper samples and evaluates them. */
export function loadModelForInference(file: string, weights: 'ema' | 'raw' = 'ema'): LoadedModel {
  const ckpt = readCheckpoint(file);
  const config = parseTrainConfig(ckpt.header.config);
  const unet = (ckpt.header as { unet?: UNetConfig }).unet;
  if (!unet) throw new Error(`checkpoint ${file} does not record its network shape`);
  // Built straight from the checkpoint: no random initialisation to throw away.
  const group = weights === 'ema' ? 'ema' : 'params';
  const params: Params = new Map();
  for (const { name, shape } of paramShapes(unet)) {
    const value = tf.tensor(checkpointValues(ckpt, group, name, shape, file), shape, 'float32');
    params.set(name, tf.variable(value, false));
    value.dispose();
  }
  const model: Model = (x, t) => forward(params, unet, x, t, { training: false });
  return {
    config,
    unet,
    params,
    step: ckpt.header.step,
    weights,
    model,
    dispose: () => params.forEach((p: tf.Variable) => p.dispose()),
  };
}

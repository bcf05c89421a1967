/** The tiny training config the training tests share: tiny-test on 16x16 digits, 6 steps. */
import { parseTrainConfig, type TrainConfigInput } from '../../src/shared/config';

export function tiny(over: TrainConfigInput = {}) {
  return parseTrainConfig({
    preset: 'tiny-test',
    dataset: 'mnist',
    imageSize: 16,
    batch: 8,
    steps: 6,
    seed: 3,
    checkpointEvery: 3,
    logEvery: 1,
    emaRate: 0.9,
    optimizer: { lr: 1e-3 },
    ...over,
  });
}

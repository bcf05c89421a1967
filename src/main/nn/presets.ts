/**
 * Named U-Net configurations. The first three are the reference definitions of bench-models.md
 * (their parameter counts and FLOPs are pinned by tests); 'tiny-test' is not from the paper: a
 * net small enough for gradient checks, with attention at two places and two heads.
 */
import type { UNetConfig } from './unet';

export type PresetName = 'bench-s-mnist16' | 'bench-m-32' | 'adm-cifar10' | 'tiny-test';

export const PRESETS: Record<PresetName, UNetConfig> = {
  /** 704,705 parameters, 0.1228 GFLOP per 16x16 image. */
  'bench-s-mnist16': {
    imageSize: 16,
    inChannels: 1,
    baseChannels: 32,
    channelMult: [1, 2],
    numResBlocks: 1,
    attentionResolutions: [],
    headChannels: 32,
    dropout: 0,
    learnSigma: false,
  },
  /** 6,949,187 parameters, 3.176 GFLOP per 32x32 image. */
  'bench-m-32': {
    imageSize: 32,
    inChannels: 3,
    baseChannels: 64,
    channelMult: [1, 2, 2],
    numResBlocks: 2,
    attentionResolutions: [16],
    headChannels: 32,
    dropout: 0.1,
    learnSigma: false,
  },
  /** The paper's CIFAR-10 ADM: 52,546,438 parameters, 16.77 GFLOP per image. */
  'adm-cifar10': {
    imageSize: 32,
    inChannels: 3,
    baseChannels: 128,
    channelMult: [1, 2, 2, 2],
    numResBlocks: 3,
    attentionResolutions: [16, 8],
    headChannels: 32,
    dropout: 0.3,
    learnSigma: true,
  },
  /** Not from the paper: for fast tests only. */
  'tiny-test': {
    imageSize: 16,
    inChannels: 1,
    baseChannels: 16,
    channelMult: [1, 2],
    numResBlocks: 1,
    attentionResolutions: [8],
    headChannels: 16,
    dropout: 0,
    learnSigma: false,
  },
};

export function presetByName(name: string): UNetConfig {
  if (!Object.prototype.hasOwnProperty.call(PRESETS, name)) {
    throw new Error(`unknown U-Net preset '${name}'; valid presets: ${Object.keys(PRESETS).join(', ')}`);
  }
  const cfg = PRESETS[name as PresetName];
  // A copy, so callers can tweak (e.g. dropout) without changing the preset.
  return { ...cfg, channelMult: [...cfg.channelMult], attentionResolutions: [...cfg.attentionResolutions] };
}

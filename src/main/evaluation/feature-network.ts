/**
 * The contract of a feature network: what FID-family scores are computed on. Every score records
 * the network's id, which includes a version (a hash of its weights or file), so a number can
 * always be traced to the exact network that produced it and two numbers from different networks
 * are never compared by accident (see src/shared/comparability.ts).
 */
import type { FeatureMatrix } from '../metrics/gaussian-stats';

export interface ImageBatchU8 {
  /** NHWC, uint8, as sample sets and the reference evaluator's .npz store them. */
  data: Uint8Array;
  shape: [n: number, h: number, w: number, c: number];
}

export interface FeatureSet {
  /** Pooled features (FID): rows = images. */
  pooled: FeatureMatrix;
  /** Spatial features (sFID), when the network has them. */
  spatial: FeatureMatrix | null;
  /** Class logits (Inception Score), when the network is a classifier. */
  logits: FeatureMatrix | null;
}

export interface FeatureNetwork {
  /** Versioned id, e.g. "mnist-classifier-v1-3fa9c2d1" or "inception-onnx-8e0b11aa". */
  readonly id: string;
  /** One line for people: what it is and what it was trained on (with its test accuracy). */
  readonly description: string;
  /** Images of any size and channel count are resized / converted to what the network expects. */
  extract(images: ImageBatchU8, opts?: { batchSize?: number; onProgress?: (done: number, total: number) => void }): Promise<FeatureSet>;
  dispose(): void;
}

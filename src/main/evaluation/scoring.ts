/**
 * Scores of a generated image set against a reference set, all on the same feature network:
 * FID (with an optional bootstrap interval), sFID, KID, improved precision/recall and the Inception
 * Score, computed by the metric modules in src/main/metrics/.
 *
 * Metrics a network cannot give (sFID without spatial features, IS without logits) are left out and
 * listed in `unavailable` with the reason, rather than failing the whole evaluation.
 */
import type { ScoreMetric } from '../../shared/config';
import { bootstrapFid } from '../metrics/bootstrap';
import { frechetDistance, frechetDistanceTo, prepareFrechetReference, type FrechetReference } from '../metrics/frechet';
import { gaussianStats, type FeatureMatrix } from '../metrics/gaussian-stats';
import { inceptionScore } from '../metrics/inception-score';
import { kernelInceptionDistance } from '../metrics/kid';
import { precisionRecall } from '../metrics/precision-recall';
import type { FeatureNetwork, FeatureSet, ImageBatchU8 } from './feature-network';
import type { ReferenceSet } from './reference-set';

export interface ScoreOptions {
  /** Default: every metric the network supports ('fid' is always computed). */
  metrics?: readonly ScoreMetric[];
  /** Bootstrap replicates for FID's 95% interval (`fidCi`); 0 or absent = none. */
  bootstrap?: number;
  /** Seeds the bootstrap resamples and KID's subsets. */
  seed?: number;
  /** KID subsets (default 100) and subset size (default min(1000, n_generated, n_reference)). */
  kidSubsets?: number;
  kidSubsetSize?: number;
  /** Inception Score splits (default min(10, n)). */
  isSplits?: number;
  /** Feature extraction batch size. */
  batchSize?: number;
  /** Called during extraction ('features') and the bootstrap ('bootstrap'). */
  onProgress?: (stage: 'features' | 'bootstrap', done: number, total: number) => void;
}

export interface Scores {
  fid: number;
  /** 95% bootstrap percentile interval of FID (generated side resampled), when asked for. */
  fidCi?: [lo: number, hi: number];
  sfid?: number;
  /** KID: mean of the per-subset unbiased MMD^2 estimates. */
  kid?: number;
  /** Standard deviation of the per-subset KID estimates (torch-fidelity's kid_std). */
  kidStd?: number;
  /** kidStd / sqrt(subsets). */
  kidStdErr?: number;
  precision?: number;
  recall?: number;
  /** Inception Score (mean and std over the splits) from the network's logits. */
  is?: number;
  isStd?: number;
  /** Generated samples scored. */
  count: number;
  featureNetwork: string;
  /** Reference set id, e.g. "mnist:train:10000:16x16x1". */
  reference: string;
  /** Metrics asked for that this network cannot give, and why. */
  unavailable: { metric: ScoreMetric; reason: string }[];
}

// The reference covariance's factorisation is reused for every set scored against it (many T', many runs).
const preparedReferences = new WeakMap<ReferenceSet, FrechetReference>();

function frechetReferenceOf(ref: ReferenceSet): FrechetReference {
  let prepared = preparedReferences.get(ref);
  if (!prepared) {
    prepared = prepareFrechetReference(ref.stats);
    preparedReferences.set(ref, prepared);
  }
  return prepared;
}

function checkFinite(m: FeatureMatrix, what: string): void {
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i]!)) {
      throw new Error(`${what}: feature ${i % m.cols} of sample ${Math.floor(i / m.cols)} is not finite; the feature network produced NaN/Inf`);
    }
  }
}

/** Extracts the generated images' features with `network` and scores them against `reference`. */
export async function scoreImages(
  network: FeatureNetwork,
  generated: ImageBatchU8,
  reference: ReferenceSet,
  opts: ScoreOptions = {},
): Promise<Scores> {
  if (network.id !== reference.networkId) {
    throw new Error(
      `reference set ${reference.id} holds features of '${reference.networkId}', not of '${network.id}'; ` +
      'compute the reference with the same feature network (referenceSet(network, ...))',
    );
  }
  const features = await network.extract(generated, {
    batchSize: opts.batchSize,
    onProgress: opts.onProgress ? (d, t) => opts.onProgress!('features', d, t) : undefined,
  });
  return scoreFeatures(features, reference, opts);
}

/** Scores already extracted features (of the reference's network) against `reference`. */
export function scoreFeatures(generated: FeatureSet, reference: ReferenceSet, opts: ScoreOptions = {}): Scores {
  const wanted = new Set<ScoreMetric>(opts.metrics ?? ['fid', 'sfid', 'kid', 'precision', 'recall', 'is']);
  wanted.add('fid');
  const gen = generated.pooled;
  const ref = reference.features.pooled;
  if (gen.cols !== ref.cols) {
    throw new Error(`generated features have ${gen.cols} dimensions but reference ${reference.id} has ${ref.cols}; they come from different networks`);
  }
  if (gen.rows < 2) throw new Error(`FID needs at least 2 generated samples, got ${gen.rows}`);
  checkFinite(gen, 'generated images');
  const seed = opts.seed ?? 0;
  const out: Scores = { fid: NaN, count: gen.rows, featureNetwork: reference.networkId, reference: reference.id, unavailable: [] };
  const skip = (metric: ScoreMetric, reason: string): void => {
    if (wanted.has(metric)) out.unavailable.push({ metric, reason });
  };

  const prepared = frechetReferenceOf(reference);
  const replicates = opts.bootstrap ?? 0;
  if (replicates >= 2) {
    const boot = bootstrapFid(prepared, gen, {
      replicates,
      seed,
      onReplicate: opts.onProgress ? (d, t) => opts.onProgress!('bootstrap', d, t) : undefined,
    });
    out.fid = boot.fid;
    out.fidCi = [boot.lower, boot.upper];
  } else {
    out.fid = frechetDistanceTo(prepared, gaussianStats(gen)).distance;
  }

  if (wanted.has('sfid')) {
    if (!generated.spatial || !reference.features.spatial || !reference.spatialStats) {
      skip('sfid', `${reference.networkId} has no spatial features`);
    } else {
      checkFinite(generated.spatial, 'generated images (spatial features)');
      out.sfid = frechetDistance(reference.spatialStats, gaussianStats(generated.spatial)).distance;
    }
  }
  if (wanted.has('kid')) {
    const kid = kernelInceptionDistance(gen, ref, { seed, subsets: opts.kidSubsets, subsetSize: opts.kidSubsetSize });
    out.kid = kid.mean;
    out.kidStd = kid.std;
    out.kidStdErr = kid.stdErr;
  }
  if (wanted.has('precision') || wanted.has('recall')) {
    const k = 3;
    if (gen.rows <= k || ref.rows <= k) {
      skip('precision', `precision/recall (k = ${k}) need more than ${k} samples in each set`);
      skip('recall', `precision/recall (k = ${k}) need more than ${k} samples in each set`);
    } else {
      const pr = precisionRecall(ref, gen, { k });
      if (wanted.has('precision')) out.precision = pr.precision;
      if (wanted.has('recall')) out.recall = pr.recall;
    }
  }
  if (wanted.has('is')) {
    if (!generated.logits) skip('is', `${reference.networkId} has no class logits`);
    else {
      const is = inceptionScore(generated.logits, { splits: opts.isSplits ?? Math.min(10, generated.logits.rows) });
      out.is = is.mean;
      out.isStd = is.std;
    }
  }
  return out;
}

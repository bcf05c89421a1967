/**
 * Reference sets (computed once per network and reference, cached as .npz under
 * <dataDir>/feature-cache/) and scoring of generated images against them, checked against the metric
 * functions applied directly to independently extracted features.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/main/data/dataset';
import { initClassifierParams } from '../../src/main/evaluation/classifier/architecture';
import { ClassifierNetwork } from '../../src/main/evaluation/classifier/classifier-network';
import type { ClassifierMeta } from '../../src/main/evaluation/classifier/network-file';
import type { FeatureNetwork, ImageBatchU8 } from '../../src/main/evaluation/feature-network';
import { referenceId, referenceSet, referenceSetFromFeatures } from '../../src/main/evaluation/reference-set';
import { scoreFeatures, scoreImages } from '../../src/main/evaluation/scoring';
import { readNpz } from '../../src/main/formats/npz';
import { comparabilityKey, parseComparabilityKey } from '../../src/shared/comparability';
import { frechetDistance } from '../../src/main/metrics/frechet';
import { gaussianStats } from '../../src/main/metrics/gaussian-stats';
import { inceptionScore } from '../../src/main/metrics/inception-score';
import { kernelInceptionDistance } from '../../src/main/metrics/kid';
import { precisionRecall } from '../../src/main/metrics/precision-recall';
import { initBackend } from '../../src/main/nn/backend';
import { Stream } from '../../src/main/rng';

function meta(id: string): ClassifierMeta {
  return {
    format: 1, name: 'mnist-classifier', version: 1, id, weightsSha256: '', architecture: 'test',
    training: { steps: 0, batchSize: 1, lr: 0.001, seed: 0, trainCount: null, maxShift: 0 },
    data: { dataset: 'mnist', source: 'seeded initial weights', trainImages: 0, testImages: 0, testSplit: 'none' },
    testAccuracy: 0, trainSeconds: 0, backend: 'wasm',
  };
}

/** Counts extract() calls of a real network, to see when the cache is used. */
function counting(net: FeatureNetwork): FeatureNetwork & { calls: number } {
  const wrapped = {
    id: net.id,
    description: net.description,
    calls: 0,
    extract: (images: ImageBatchU8, opts?: Parameters<FeatureNetwork['extract']>[1]) => {
      wrapped.calls++;
      return net.extract(images, opts);
    },
    dispose: () => net.dispose(),
  };
  return wrapped;
}

let dataDir: string;
// A real network with seeded (untrained) weights: caching and scoring do not depend on training.
const base = new ClassifierNetwork(meta('mnist-classifier-v1-5eed0003'), initClassifierParams(3), null);

beforeAll(async () => {
  await initBackend('wasm', 'train');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-refset-'));
});
afterAll(() => {
  base.dispose();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('reference sets', () => {
  it('are extracted once at the training resolution, cached as .npz, and read back on the next call', async () => {
    const net = counting(base);
    const spec = { dataset: 'mnist', count: 300, imageSize: 16, channels: 1 as const };
    const first = await referenceSet(net, spec, { dataDir });
    expect(first.id).toBe('mnist:train:300:16x16x1');
    expect(first.fromCache).toBe(false);
    expect(net.calls).toBe(1);
    expect(path.dirname(first.file!)).toBe(path.join(dataDir, 'feature-cache'));

    // the features are those of the data as the training pipeline loads it (16x16 bytes)
    const ds = await loadDataset('mnist', { limit: 300, imageSize: 16, channels: 1 });
    const direct = await base.extract({ data: ds.pixels!, shape: [300, 16, 16, 1] });
    expect(Array.from(first.features.pooled.data)).toEqual(Array.from(direct.pooled.data));
    const stats = gaussianStats(direct.pooled);
    expect(Array.from(first.stats.mu)).toEqual(Array.from(stats.mu));

    const arrays = await readNpz(first.file!);
    expect(Object.keys(arrays).sort()).toEqual(['logits', 'meta', 'mu', 'pooled', 'sigma', 'spatial', 'spatial_mu', 'spatial_sigma']);
    expect(arrays['mu']!.dtype).toBe('float64');
    expect(arrays['sigma']!.shape).toEqual([128, 128]);

    const second = await referenceSet(net, spec, { dataDir });
    expect(second.fromCache).toBe(true);
    expect(net.calls).toBe(1);
    expect(second.id).toBe(first.id);
    expect(Array.from(second.features.pooled.data)).toEqual(Array.from(first.features.pooled.data));
    expect(Array.from(second.features.spatial!.data)).toEqual(Array.from(first.features.spatial!.data));
    expect(Array.from(second.stats.sigma)).toEqual(Array.from(first.stats.sigma));
    expect(Array.from(second.spatialStats!.sigma)).toEqual(Array.from(first.spatialStats!.sigma));

    // another resolution or count is another reference; a damaged cache file is recomputed
    const at28 = await referenceSet(net, { ...spec, imageSize: 28 }, { dataDir });
    expect(at28.id).toBe('mnist:train:300:28x28x1');
    expect(net.calls).toBe(2);
    fs.writeFileSync(first.file!, 'garbage');
    const rebuilt = await referenceSet(net, spec, { dataDir });
    expect(rebuilt.fromCache).toBe(false);
    expect(net.calls).toBe(3);
    expect(Array.from(rebuilt.stats.mu)).toEqual(Array.from(first.stats.mu));

    // the id is what the comparability key carries
    const key = comparabilityKey({ featureNetwork: net.id, sampleCount: 100, reference: first.id, sampler: 'ddpm', steps: '100', weights: 'ema' });
    expect(parseComparabilityKey(key).reference).toBe('mnist:train:300:16x16x1');
  });

  it('name path datasets by content, so different data never share an id', () => {
    expect(referenceId({ name: 'my photos;x', split: 'train', count: 10, height: 32, width: 32, channels: 3, contentHash: '0a1b2c3d' })).toBe(
      'my-photos-x@0a1b2c3d:train:10:32x32x3',
    );
  });
});

describe('scoring generated images', () => {
  it('gives the metric functions’ values on the same features, and ~0 for the reference itself', async () => {
    const ref = await referenceSet(base, { dataset: 'mnist', count: 400, imageSize: 16, channels: 1 }, { dataDir });
    // "generated": other digits (a different evenly spaced subset), at 16x16 like the samples of a 16x16 model
    const gen = await loadDataset('mnist', { limit: 250, imageSize: 16, channels: 1 });
    const images: ImageBatchU8 = { data: gen.pixels!, shape: [250, 16, 16, 1] };
    const scores = await scoreImages(base, images, ref, { seed: 5, kidSubsets: 20 });
    const f = await base.extract(images);
    expect(scores.fid).toBeCloseTo(frechetDistance(gaussianStats(ref.features.pooled), gaussianStats(f.pooled)).distance, 8);
    expect(scores.sfid).toBeCloseTo(frechetDistance(gaussianStats(ref.features.spatial!), gaussianStats(f.spatial!)).distance, 8);
    const kid = kernelInceptionDistance(f.pooled, ref.features.pooled, { seed: 5, subsets: 20 });
    expect(scores.kid).toBe(kid.mean);
    expect(scores.kidStd).toBe(kid.std);
    const pr = precisionRecall(ref.features.pooled, f.pooled);
    expect([scores.precision, scores.recall]).toEqual([pr.precision, pr.recall]);
    const is = inceptionScore(f.logits!, { splits: 10 });
    expect([scores.is, scores.isStd]).toEqual([is.mean, is.std]);
    expect(scores).toMatchObject({ count: 250, featureNetwork: base.id, reference: 'mnist:train:400:16x16x1', unavailable: [] });

    // the reference's own images score FID ~0; noise images score far worse than other digits
    const self = scoreFeatures(ref.features, ref, { metrics: ['fid'] });
    expect(Math.abs(self.fid)).toBeLessThan(1e-6 * scores.fid);
    const s = new Stream(1, 'noise');
    const noise = Uint8Array.from({ length: 250 * 256 }, () => s.int(256));
    const noisy = await scoreImages(base, { data: noise, shape: [250, 16, 16, 1] }, ref, { metrics: ['fid'] });
    expect(noisy.fid).toBeGreaterThan(10 * scores.fid);
    expect(noisy.kid).toBeUndefined();
  });

  it('adds a seeded bootstrap interval, reports what the network cannot give, and refuses mixed networks', async () => {
    const ref = await referenceSet(base, { dataset: 'mnist', count: 400, imageSize: 16, channels: 1 }, { dataDir });
    const gen = await loadDataset('mnist', { limit: 120, imageSize: 16, channels: 1 });
    const images: ImageBatchU8 = { data: gen.pixels!, shape: [120, 16, 16, 1] };
    const a = await scoreImages(base, images, ref, { metrics: ['fid'], bootstrap: 20, seed: 3 });
    const b = await scoreImages(base, images, ref, { metrics: ['fid'], bootstrap: 20, seed: 3 });
    expect(a.fidCi![0]).toBeLessThan(a.fidCi![1]);
    expect(b.fidCi).toEqual(a.fidCi);
    expect(b.fid).toBe(a.fid);

    const f = await base.extract(images);
    const pooledOnly = referenceSetFromFeatures('some-net', 'test-ref', { pooled: ref.features.pooled, spatial: null, logits: null });
    const partial = scoreFeatures({ pooled: f.pooled, spatial: null, logits: null }, pooledOnly, { metrics: ['fid', 'sfid', 'is'] });
    expect(partial.sfid).toBeUndefined();
    expect(partial.unavailable.map((u) => u.metric)).toEqual(['sfid', 'is']);

    const other = new ClassifierNetwork(meta('mnist-classifier-v1-0therne7'), initClassifierParams(4), null);
    await expect(scoreImages(other, images, ref)).rejects.toThrow(/holds features of 'mnist-classifier-v1-5eed0003', not of 'mnist-classifier-v1-0therne7'/);
    other.dispose();
  });
});

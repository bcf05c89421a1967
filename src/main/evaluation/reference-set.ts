/**
 * Reference sets: the features of a dataset's images on one feature network, what generated images
 * are scored against. The images go through the same loading, channel conversion and resize as the
 * training pipeline (loadDataset with the run's imageSize and channels), so samples of a model
 * trained at 16x16 are compared with the data at 16x16.
 *
 * Extracting 10,000 reference images costs far more than scoring one sample set, so each
 * (network id, reference) pair is computed once and cached as an .npz under
 * <dataDir>/feature-cache/: the feature matrices (pooled, spatial, logits; KID and precision/recall
 * need the rows, not just the Gaussian), mu and sigma (as the reference evaluator's statistics
 * files), the same for the spatial features, and a JSON `meta` record.
 *
 * Reference ids ("mnist:train:10000:16x16x1") go into comparability keys. Datasets with fixed,
 * well-known content ('mnist' = the bundled digits, 'fashion-mnist') are named as such; any
 * dataset given by a path gets the first 8 hex digits of the SHA-256 of the pixels used appended
 * to its name ("cifar10@1a2b3c4d:train:..."), so two different folders that happen to share a name
 * never compare as the same reference.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, parseDatasetSpec } from '../data/dataset';
import { discoverFashionMnist } from '../data/idx';
import type { NpyArray } from '../formats/npy';
import { readNpz, writeNpz, type NpzArrays } from '../formats/npz';
import { gaussianStats, type FeatureMatrix, type GaussianStats } from '../metrics/gaussian-stats';
import type { FeatureNetwork, FeatureSet, ImageBatchU8 } from './feature-network';

export interface ReferenceSpec {
  /** Dataset spec as loadDataset takes it: 'mnist', 'fashion-mnist', 'fashion-mnist:test', 'cifar10:PATH', a path, ... */
  dataset: string;
  /** Images used, evenly spaced over the set (loadDataset's `limit`); all of them if the set is smaller. */
  count: number;
  /** Square side the training pipeline resizes to; default the source's own size. */
  imageSize?: number;
  /** Channels the training pipeline converts to; default the source's own. */
  channels?: 1 | 3;
}

export interface ReferenceSet {
  /** "mnist:train:10000:16x16x1": dataset, split, image count, resolution (the comparability key's `ref`). */
  id: string;
  /** Id of the feature network the features come from. */
  networkId: string;
  features: FeatureSet;
  /** Gaussian of the pooled features (FID). */
  stats: GaussianStats;
  /** Gaussian of the spatial features (sFID), when the network has them. */
  spatialStats: GaussianStats | null;
  /** Where the features were read from or written to (null: not cached). */
  file: string | null;
  /** True when this call read the cache instead of extracting. */
  fromCache: boolean;
}

export interface ReferenceSetOptions {
  /** The app's data folder; the cache lives in <dataDir>/feature-cache/. */
  dataDir: string;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

const CACHE_FORMAT = 1;

/** Folder of the cached reference features. */
export function featureCacheDir(dataDir: string): string {
  return join(dataDir, 'feature-cache');
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'data';
}

function hash8(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
}

/** The reference id from its parts; `contentHash` is appended to the name of path datasets. */
export function referenceId(parts: { name: string; split: string; count: number; height: number; width: number; channels: number; contentHash?: string }): string {
  const name = parts.contentHash ? `${slug(parts.name)}@${parts.contentHash}` : slug(parts.name);
  return `${name}:${parts.split}:${parts.count}:${parts.height}x${parts.width}x${parts.channels}`;
}

/**
 * What identifies the source on disk without reading it: the resolved spec plus size and mtime of
 * the files, so an edited folder or a replaced file gets a fresh cache entry.
 */
function sourceFingerprint(spec: string): string {
  const parsed = parseDatasetSpec(spec);
  const stamp = (p: string): string => {
    try {
      const st = statSync(p);
      return `${p}:${st.size}:${Math.round(st.mtimeMs)}`;
    } catch {
      return `${p}:missing`;
    }
  };
  if (parsed.kind === 'mnist') return 'mnist-bundled';
  if (parsed.kind === 'fashion-mnist' && !parsed.path) {
    const files = discoverFashionMnist(parsed.split ?? 'train');
    return `fashion-mnist:${parsed.split ?? 'train'}:${files ? stamp(files.images) : 'missing'}`;
  }
  return `${parsed.kind}:${parsed.split ?? ''}:${stamp(parsed.path!)}`;
}

function cacheFileFor(network: FeatureNetwork, spec: ReferenceSpec, dataDir: string): string {
  const key = JSON.stringify({
    v: CACHE_FORMAT,
    source: sourceFingerprint(spec.dataset),
    count: spec.count,
    imageSize: spec.imageSize ?? null,
    channels: spec.channels ?? null,
  });
  const parsed = parseDatasetSpec(spec.dataset);
  const name = parsed.name ?? (parsed.kind === 'mnist' || parsed.kind === 'fashion-mnist' ? parsed.kind : 'data');
  return join(featureCacheDir(dataDir), `${slug(network.id)}--${slug(name)}-${spec.count}-${hash8(key)}.npz`);
}

/** The Gaussians of a feature set, bundled as a reference (no cache). */
export function referenceSetFromFeatures(networkId: string, id: string, features: FeatureSet): ReferenceSet {
  if (features.pooled.rows < 2) throw new Error(`reference ${id}: a reference set needs at least 2 images, got ${features.pooled.rows}`);
  return {
    id,
    networkId,
    features,
    stats: gaussianStats(features.pooled),
    spatialStats: features.spatial ? gaussianStats(features.spatial) : null,
    file: null,
    fromCache: false,
  };
}

/** Features of arbitrary images as a reference (e.g. one side of `xlab fid`); not cached. */
export async function referenceSetFromImages(
  network: FeatureNetwork,
  images: ImageBatchU8,
  id: string,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<ReferenceSet> {
  const features = await network.extract(images, opts);
  return referenceSetFromFeatures(network.id, id, features);
}

function matrixArray(m: FeatureMatrix): NpyArray {
  return { dtype: 'float32', shape: [m.rows, m.cols], data: m.data instanceof Float32Array ? m.data : Float32Array.from(m.data) };
}

function statsArrays(prefix: string, s: GaussianStats): NpzArrays {
  return {
    [`${prefix}mu`]: { dtype: 'float64', shape: [s.dim], data: s.mu },
    [`${prefix}sigma`]: { dtype: 'float64', shape: [s.dim, s.dim], data: s.sigma },
  };
}

interface CacheMeta {
  format: number;
  id: string;
  networkId: string;
  dataset: string;
  source: string;
  count: number;
}

async function writeCache(file: string, ref: ReferenceSet, meta: CacheMeta): Promise<void> {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const arrays: NpzArrays = {
    meta: { dtype: 'uint8', shape: [json.length], data: json },
    pooled: matrixArray(ref.features.pooled),
    ...statsArrays('', ref.stats),
  };
  if (ref.features.spatial && ref.spatialStats) {
    arrays['spatial'] = matrixArray(ref.features.spatial);
    Object.assign(arrays, statsArrays('spatial_', ref.spatialStats));
  }
  if (ref.features.logits) arrays['logits'] = matrixArray(ref.features.logits);
  await writeNpz(file, arrays);
}

function asMatrix(a: NpyArray | undefined, what: string): FeatureMatrix {
  if (!a || a.shape.length !== 2 || a.dtype !== 'float32') throw new Error(`cache entry ${what} is missing or malformed`);
  return { data: a.data as Float32Array, rows: a.shape[0]!, cols: a.shape[1]! };
}

function asStats(arrays: NpzArrays, prefix: string, count: number): GaussianStats {
  const mu = arrays[`${prefix}mu`];
  const sigma = arrays[`${prefix}sigma`];
  if (!mu || !sigma || mu.dtype !== 'float64' || sigma.dtype !== 'float64' || sigma.data.length !== mu.data.length ** 2) {
    throw new Error(`cache entry ${prefix}mu/${prefix}sigma missing or malformed`);
  }
  return { dim: mu.data.length, count, mu: mu.data as Float64Array, sigma: sigma.data as Float64Array };
}

async function readCache(file: string, networkId: string): Promise<ReferenceSet> {
  const arrays = await readNpz(file);
  const metaBytes = arrays['meta'];
  if (!metaBytes || metaBytes.dtype !== 'uint8') throw new Error('cache entry has no meta record');
  const meta = JSON.parse(new TextDecoder().decode(metaBytes.data as Uint8Array)) as CacheMeta;
  if (meta.format !== CACHE_FORMAT) throw new Error(`cache format ${meta.format} is not ${CACHE_FORMAT}`);
  if (meta.networkId !== networkId) throw new Error(`cache entry belongs to network ${meta.networkId}`);
  const pooled = asMatrix(arrays['pooled'], 'pooled');
  const spatial = arrays['spatial'] ? asMatrix(arrays['spatial'], 'spatial') : null;
  const logits = arrays['logits'] ? asMatrix(arrays['logits'], 'logits') : null;
  return {
    id: meta.id,
    networkId,
    features: { pooled, spatial, logits },
    stats: asStats(arrays, '', pooled.rows),
    spatialStats: spatial ? asStats(arrays, 'spatial_', spatial.rows) : null,
    file,
    fromCache: true,
  };
}

/**
 * The reference features of a dataset on `network`: read from the cache when present, otherwise
 * loaded (as the training pipeline loads it), extracted and cached. A damaged cache file is
 * recomputed and replaced.
 */
export async function referenceSet(network: FeatureNetwork, spec: ReferenceSpec, opts: ReferenceSetOptions): Promise<ReferenceSet> {
  if (!Number.isInteger(spec.count) || spec.count < 2) {
    throw new Error(`reference count must be an integer of at least 2, got ${spec.count}`);
  }
  const file = cacheFileFor(network, spec, opts.dataDir);
  if (existsSync(file)) {
    try {
      return await readCache(file, network.id);
    } catch {
      // unreadable or stale: fall through and recompute it
    }
  }
  const loadOpts: { limit: number; imageSize?: number; channels?: 1 | 3 } = { limit: spec.count };
  if (spec.imageSize !== undefined) loadOpts.imageSize = spec.imageSize;
  if (spec.channels !== undefined) loadOpts.channels = spec.channels;
  const ds = await loadDataset(spec.dataset, loadOpts);
  const pixels = ds.pixels!;
  const parsed = parseDatasetSpec(spec.dataset);
  const wellKnown = !parsed.path && (parsed.kind === 'mnist' || parsed.kind === 'fashion-mnist');
  const id = referenceId({
    name: parsed.name ?? ds.name,
    split: parsed.split ?? 'train',
    count: ds.n,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    ...(wellKnown ? {} : { contentHash: hash8(pixels) }),
  });
  const images: ImageBatchU8 = { data: pixels, shape: [ds.n, ds.height, ds.width, ds.channels] };
  const features = await network.extract(images, { batchSize: opts.batchSize, onProgress: opts.onProgress });
  const ref = referenceSetFromFeatures(network.id, id, features);
  mkdirSync(featureCacheDir(opts.dataDir), { recursive: true });
  await writeCache(file, { ...ref, file: null }, {
    format: CACHE_FORMAT,
    id,
    networkId: network.id,
    dataset: spec.dataset,
    source: ds.source,
    count: ds.n,
  });
  return { ...ref, file };
}

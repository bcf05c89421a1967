/**
 * FID (and sFID, KID, precision/recall where the inputs allow) between two sets given as files,
 * for `xlab fid A B`. Each side may be
 *   - a folder of PNG/JPEG images (decoded as the dataset loader decodes image folders),
 *   - an .npz of uint8 images under `arr_0` (NHWC, or NHW for grey), as sample sets are stored,
 *   - an .npz of statistics `mu`, `sigma` (and `mu_s`, `sigma_s` for sFID), as the reference
 *     evaluator's files hold them,
 *   - an .npy feature matrix (rows = samples).
 * Images go through a feature network; statistics allow FID (and sFID) only; feature matrices
 * allow FID and KID and precision/recall. A is taken as the reference and B as the samples (it
 * matters for precision/recall only), as in guided-diffusion's `evaluator.py ref_batch sample_batch`.
 */
import { existsSync, statSync } from 'node:fs';
import type { ScoreMetric } from '../../shared/config';
import { extname } from 'node:path';
import { loadImageFolder } from '../data/image-folder';
import { loadNpzImages } from '../data/npz-images';
import { readNpy, type NpyArray } from '../formats/npy';
import { readNpz } from '../formats/npz';
import { frechetDistance } from '../metrics/frechet';
import { gaussianStats, type FeatureMatrix, type GaussianStats } from '../metrics/gaussian-stats';
import type { FeatureNetwork, FeatureSet, ImageBatchU8 } from './feature-network';
import { featureNetworkFor, resolveNetworkChoice, type FeatureNetworkOptions } from './network-catalog';
import { referenceSetFromFeatures } from './reference-set';
import { scoreFeatures } from './scoring';

export type FidInput =
  | { kind: 'images'; path: string; images: ImageBatchU8; grey: boolean }
  | { kind: 'stats'; path: string; pooled: GaussianStats; spatial: GaussianStats | null }
  | { kind: 'features'; path: string; features: FeatureMatrix };

const KINDS_HELP = 'give a folder of PNG/JPEG images, an .npz of uint8 images (arr_0), an .npz of statistics (mu, sigma) or an .npy feature matrix';

function floatData(a: NpyArray, file: string, what: string): Float32Array | Float64Array {
  if (a.dtype !== 'float32' && a.dtype !== 'float64') {
    throw new Error(`${file}: ${what} is ${a.dtype}; expected float32 or float64`);
  }
  const d = a.data as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) throw new Error(`${file}: ${what} contains NaN or infinite values (element ${i}); recompute it`);
  }
  return d;
}

function statsFrom(arrays: Record<string, NpyArray>, file: string, muKey: string, sigmaKey: string): GaussianStats {
  const mu = arrays[muKey]!;
  const sigma = arrays[sigmaKey];
  if (!sigma) throw new Error(`${file}: has '${muKey}' but no '${sigmaKey}'; a statistics file needs both mean and covariance`);
  const d = mu.shape.length === 1 ? mu.shape[0]! : -1;
  if (d < 1) throw new Error(`${file}: '${muKey}' must be a vector, got shape [${mu.shape.join(', ')}]`);
  if (sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
    throw new Error(`${file}: '${sigmaKey}' has shape [${sigma.shape.join(', ')}] but '${muKey}' has ${d} entries; it must be ${d} x ${d}`);
  }
  return {
    dim: d,
    count: NaN,
    mu: Float64Array.from(floatData(mu, file, `'${muKey}'`)),
    sigma: Float64Array.from(floatData(sigma, file, `'${sigmaKey}'`)),
  };
}

/** True when every pixel of an RGB batch has R = G = B (grey images saved as RGB). */
function isGreyRgb(px: Uint8Array): boolean {
  for (let i = 0; i < px.length; i += 3) if (px[i] !== px[i + 1] || px[i] !== px[i + 2]) return false;
  return true;
}

function asImages(path: string, pixels: Uint8Array, n: number, h: number, w: number, c: number): FidInput {
  if (c === 3 && isGreyRgb(pixels)) {
    const grey = new Uint8Array(n * h * w);
    for (let i = 0; i < grey.length; i++) grey[i] = pixels[3 * i]!;
    return { kind: 'images', path, images: { data: grey, shape: [n, h, w, 1] }, grey: true };
  }
  return { kind: 'images', path, images: { data: pixels, shape: [n, h, w, c] }, grey: c === 1 };
}

/** Reads one side of `xlab fid`, deciding its kind from what the file holds. */
export async function readFidInput(path: string): Promise<FidInput> {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder; ${KINDS_HELP}`);
  if (statSync(path).isDirectory()) {
    const set = await loadImageFolder(path, { channels: 3 });
    return asImages(path, set.pixels, set.n, set.height, set.width, 3);
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') {
    const a = await readNpy(path);
    if (a.shape.length !== 2) {
      throw new Error(`${path}: a feature matrix must be 2-D (rows = samples, columns = features), this .npy is [${a.shape.join(', ')}]`);
    }
    const data = floatData(a, path, 'the feature matrix');
    return { kind: 'features', path, features: { data, rows: a.shape[0]!, cols: a.shape[1]! } };
  }
  if (ext === '.npz') {
    const arrays = await readNpz(path);
    if (arrays['mu']) {
      const pooled = statsFrom(arrays, path, 'mu', 'sigma');
      const spatial = arrays['mu_s'] ? statsFrom(arrays, path, 'mu_s', 'sigma_s') : null;
      return { kind: 'stats', path, pooled, spatial };
    }
    if (arrays['arr_0']) {
      const set = await loadNpzImages(path);
      return asImages(path, set.pixels, set.n, set.height, set.width, set.channels);
    }
    throw new Error(`${path}: this .npz has neither images (arr_0) nor statistics (mu, sigma), only ${Object.keys(arrays).join(', ')}`);
  }
  throw new Error(`${path}: cannot tell what this is from its extension '${ext}'; ${KINDS_HELP}`);
}

export interface FidFilesOptions extends Omit<FeatureNetworkOptions, 'channels' | 'dataset'> {
  /** 'auto' (default), a classifier name, 'inception' or a .onnx path. */
  network?: string;
  /** Default ['fid', 'sfid', 'kid']. */
  metrics?: readonly ('fid' | 'sfid' | 'kid' | 'precision' | 'recall')[];
  seed?: number;
  onProgress?: (side: 'A' | 'B', done: number, total: number) => void;
}

export interface FidFilesResult {
  fid: number;
  sfid?: number;
  kid?: number;
  kidStd?: number;
  precision?: number;
  recall?: number;
  /** The feature network images went through; null when both sides were precomputed. */
  featureNetwork: string | null;
  /** Samples on each side; null for statistics files (they do not record it). */
  counts: [number | null, number | null];
  /** What was used and what could not be computed, for people. */
  notes: string[];
}

function countOf(x: FidInput): number | null {
  return x.kind === 'images' ? x.images.shape[0] : x.kind === 'features' ? x.features.rows : null;
}

function checkRows(x: FidInput, rows: number): void {
  if (rows < 2) throw new Error(`${x.path}: ${rows} sample${rows === 1 ? '' : 's'}; FID needs at least 2 per set (more than the feature dimension for a full-rank covariance)`);
}

/** Scores B against A. */
export async function fidBetweenFiles(a: FidInput, b: FidInput, opts: FidFilesOptions): Promise<FidFilesResult> {
  const metrics = new Set<ScoreMetric>(opts.metrics ?? ['fid', 'sfid', 'kid']);
  const notes: string[] = [];
  const counts: [number | null, number | null] = [countOf(a), countOf(b)];
  for (const x of [a, b]) {
    const c = countOf(x);
    if (c !== null) checkRows(x, c);
  }

  let network: FeatureNetwork | null = null;
  try {
    const sides: (FeatureSet | GaussianStats | null)[] = [null, null];
    const spatialStats: (GaussianStats | null)[] = [null, null];
    const needNetwork = a.kind === 'images' || b.kind === 'images';
    if (needNetwork) {
      const spec = opts.network ?? 'auto';
      const allGrey = [a, b].every((x) => x.kind !== 'images' || x.grey);
      const choice = resolveNetworkChoice(spec, { ...opts, channels: allGrey ? 1 : 3 });
      network = await featureNetworkFor(spec, { ...opts, channels: allGrey ? 1 : 3 });
      notes.push(`feature network ${network.id} (${choice.reason}): ${network.description}`);
    }
    for (const [i, x] of [a, b].entries()) {
      if (x.kind === 'images') {
        const side = i === 0 ? 'A' : 'B';
        sides[i] = await network!.extract(x.images, { onProgress: opts.onProgress ? (d, t) => opts.onProgress!(side, d, t) : undefined });
      } else if (x.kind === 'features') {
        sides[i] = { pooled: x.features, spatial: null, logits: null };
      } else {
        sides[i] = x.pooled;
        spatialStats[i] = x.spatial;
      }
    }
    const dimOf = (s: FeatureSet | GaussianStats): number => ('pooled' in s ? s.pooled.cols : s.dim);
    const dims = sides.map((s) => dimOf(s!));
    if (dims[0] !== dims[1]) {
      const what = (x: FidInput, d: number) =>
        `${x.path} gives ${d}-d ${x.kind === 'images' ? `features (${network!.id})` : x.kind === 'stats' ? 'statistics' : 'features'}`;
      throw new Error(
        `feature dimensions differ: ${what(a, dims[0]!)} but ${what(b, dims[1]!)}; both sides must come from the same feature network` +
        (needNetwork ? ' (choose it with --network / --inception)' : ''),
      );
    }

    const statsOnly = a.kind === 'stats' || b.kind === 'stats';
    if (statsOnly) {
      const stat = (s: FeatureSet | GaussianStats): GaussianStats => ('pooled' in s ? gaussianStats(s.pooled) : s);
      const fid = frechetDistance(stat(sides[0]!), stat(sides[1]!)).distance;
      const result: FidFilesResult = { fid, featureNetwork: network?.id ?? null, counts, notes };
      const spatial = sides.map((s, i) => ('pooled' in s! ? (s.spatial ? gaussianStats(s.spatial) : null) : spatialStats[i]!));
      if (metrics.has('sfid') && spatial[0] && spatial[1] && spatial[0].dim === spatial[1].dim) {
        result.sfid = frechetDistance(spatial[0], spatial[1]).distance;
      }
      const dropped = [...metrics].filter((m) => m !== 'fid' && !(m === 'sfid' && result.sfid !== undefined));
      notes.push(
        'statistics-only input: only FID' + (result.sfid !== undefined ? ' and sFID' : '') + ' can be computed' +
        (dropped.length ? ` (not ${dropped.join(', ')}: they need the feature rows)` : ''),
      );
      return result;
    }

    const fa = sides[0] as FeatureSet;
    const fb = sides[1] as FeatureSet;
    const ref = referenceSetFromFeatures(network?.id ?? 'precomputed', a.path, fa);
    const scores = scoreFeatures(fb, ref, { metrics: [...metrics], seed: opts.seed });
    const result: FidFilesResult = { fid: scores.fid, featureNetwork: network?.id ?? null, counts, notes };
    if (scores.sfid !== undefined) result.sfid = scores.sfid;
    if (scores.kid !== undefined) {
      result.kid = scores.kid;
      result.kidStd = scores.kidStd!;
    }
    if (scores.precision !== undefined) result.precision = scores.precision;
    if (scores.recall !== undefined) result.recall = scores.recall;
    const precomputed = a.kind === 'features' || b.kind === 'features';
    for (const u of scores.unavailable) {
      const reason = u.metric === 'sfid' && precomputed ? 'a precomputed feature matrix has no spatial features' : u.reason;
      notes.push(`no ${u.metric}: ${reason}`);
    }
    return result;
  } finally {
    network?.dispose();
  }
}

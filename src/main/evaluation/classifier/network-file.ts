/**
 * Stored classifier weights: <dataDir>/feature-networks/<name>-v1-<hash8>.xlabfn.
 *
 * The file is an .npz (numpy.load reads it): one float32 array per parameter ('conv1.w', ...) and a
 * `meta` array holding UTF-8 JSON (training settings, data, test accuracy). <hash8> is the start of
 * the SHA-256 of the weights (names, shapes and little-endian float32 values in canonical order), so
 * the network id names the exact weights: retraining with other settings, or on a machine whose
 * arithmetic differs, gives another id, and scores from the two are never compared by accident.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readNpz, writeNpz, type NpzArrays } from '../../formats/npz';
import { PARAM_SHAPES } from './architecture';

export const CLASSIFIER_VERSION = 1;
export const NETWORK_FILE_EXT = '.xlabfn';

export type ClassifierName = 'mnist-classifier' | 'fashion-mnist-classifier';

export interface ClassifierTraining {
  /** Optimiser steps. */
  steps: number;
  batchSize: number;
  /** Adam's learning rate at the start; it decays linearly to 0 over the steps. */
  lr: number;
  seed: number;
  /** Training images used (evenly spaced over the training split); null = all of it. */
  trainCount: number | null;
  /** Random translations of up to this many pixels each way (the only augmentation); 0 = none. */
  maxShift: number;
}

export interface ClassifierMeta {
  format: 1;
  name: ClassifierName;
  version: number;
  id: string;
  weightsSha256: string;
  architecture: string;
  training: ClassifierTraining;
  data: {
    /** Dataset spec and where its pixels came from. */
    dataset: string;
    source: string;
    trainImages: number;
    testImages: number;
    /** How the held-out test images were chosen. */
    testSplit: string;
  };
  /** Top-1 accuracy on the held-out images. */
  testAccuracy: number;
  trainSeconds: number;
  backend: string;
}

export interface StoredClassifier {
  file: string;
  meta: ClassifierMeta;
  weights: Map<string, Float32Array>;
}

export function featureNetworkDir(dataDir: string): string {
  return join(dataDir, 'feature-networks');
}

const memberName = (param: string): string => param.replace('/', '.');

/** SHA-256 (hex) of the weights in canonical order. */
export function weightsSha256(weights: Map<string, Float32Array>): string {
  const h = createHash('sha256');
  for (const { name, shape } of PARAM_SHAPES) {
    const w = weights.get(name);
    if (!w) throw new Error(`classifier weights: '${name}' is missing`);
    h.update(`${name}:${shape.join('x')};`);
    const bytes = new Uint8Array(w.length * 4);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < w.length; i++) dv.setFloat32(4 * i, w[i]!, true);
    h.update(bytes);
  }
  return h.digest('hex');
}

export function classifierId(name: ClassifierName, sha256: string): string {
  return `${name}-v${CLASSIFIER_VERSION}-${sha256.slice(0, 8)}`;
}

export async function writeClassifierFile(dataDir: string, meta: ClassifierMeta, weights: Map<string, Float32Array>): Promise<string> {
  const dir = featureNetworkDir(dataDir);
  mkdirSync(dir, { recursive: true });
  const json = new TextEncoder().encode(JSON.stringify(meta, null, 1));
  const arrays: NpzArrays = { meta: { dtype: 'uint8', shape: [json.length], data: json } };
  for (const { name, shape } of PARAM_SHAPES) arrays[memberName(name)] = { dtype: 'float32', shape, data: weights.get(name)! };
  const file = join(dir, `${meta.id}${NETWORK_FILE_EXT}`);
  await writeNpz(file, arrays);
  return file;
}

/** Reads and verifies a stored classifier: the weights must hash to the id in its name and meta. */
export async function readClassifierFile(file: string): Promise<StoredClassifier> {
  const arrays = await readNpz(file);
  const metaArr = arrays['meta'];
  if (!metaArr || metaArr.dtype !== 'uint8') throw new Error(`${file}: not a feature network file (no meta record)`);
  const meta = JSON.parse(new TextDecoder().decode(metaArr.data as Uint8Array)) as ClassifierMeta;
  const weights = new Map<string, Float32Array>();
  for (const { name, shape } of PARAM_SHAPES) {
    const a = arrays[memberName(name)];
    if (!a || a.dtype !== 'float32' || a.shape.join('x') !== shape.join('x')) {
      throw new Error(`${file}: parameter '${name}' is missing or not float32 [${shape.join(', ')}]; delete the file to retrain`);
    }
    weights.set(name, a.data as Float32Array);
  }
  const sha = weightsSha256(weights);
  if (sha !== meta.weightsSha256 || classifierId(meta.name, sha) !== meta.id) {
    throw new Error(`${file}: the weights do not match their recorded hash (damaged file); delete it to retrain`);
  }
  return { file, meta, weights };
}

/** Stored classifiers of this name and version (file paths, sorted). */
export function listClassifierFiles(dataDir: string, name: ClassifierName): string[] {
  const dir = featureNetworkDir(dataDir);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const prefix = `${name}-v${CLASSIFIER_VERSION}-`;
  return entries.filter((f) => f.startsWith(prefix) && f.endsWith(NETWORK_FILE_EXT)).sort().map((f) => join(dir, f));
}

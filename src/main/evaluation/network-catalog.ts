/**
 * Which feature network scores what. 'auto' picks the app's own classifier for the digit datasets
 * (the standard Inception's ImageNet features say little about 28x28 grey digits, and its weights
 * cannot be shipped) and the standard FID Inception, from a user-supplied ONNX file, for anything
 * else. Choices:
 *   'auto'                      from the dataset (or, without one, from the images' channels)
 *   'mnist-classifier'          the app's CNN trained on the bundled MNIST (trained on first use)
 *   'fashion-mnist-classifier'  the same architecture trained on Fashion-MNIST's training split
 *   'inception'                 the ONNX file given by --inception / XLAB_INCEPTION
 *   a path to a .onnx file      an FID Inception exported to ONNX (docs/inception.md)
 *   a path to a .xlabfn file    a stored classifier (e.g. one trained with other settings)
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDatasetSpec } from '../data/dataset';
import { ClassifierNetwork, loadOrTrainClassifier, type ClassifierName, type ClassifierTraining } from './classifier/classifier-network';
import { NETWORK_FILE_EXT, readClassifierFile } from './classifier/network-file';
import type { FeatureNetwork } from './feature-network';
import { loadInceptionOnnx, type InceptionOutputNames } from './inception-onnx';

export const INCEPTION_ENV = 'XLAB_INCEPTION';

export type NetworkChoice =
  | { kind: 'classifier'; name: ClassifierName; reason: string }
  | { kind: 'stored-classifier'; path: string; reason: string }
  | { kind: 'onnx'; path: string; reason: string };

export interface NetworkChoiceOptions {
  /** Dataset spec the 'auto' choice is made for (the run's training data). */
  dataset?: string;
  /** Channels of the images to be scored; used by 'auto' when no dataset is given (1 -> MNIST classifier). */
  channels?: number;
  /** Inception ONNX file; default $XLAB_INCEPTION. */
  inception?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface FeatureNetworkOptions extends NetworkChoiceOptions {
  /** The app's data folder: trained classifiers live in <dataDir>/feature-networks/. */
  dataDir: string;
  /** Classifier training settings (tests train tiny ones); default the standard v1 settings. */
  classifierTraining?: Partial<ClassifierTraining>;
  /** Train the classifier when no stored one matches (default true); false -> error instead. */
  train?: boolean;
  /** Explicit output names of an ONNX network (default: detected by name and shape). */
  onnxOutputs?: InceptionOutputNames;
  /** Progress of classifier training / loading, one line at a time. */
  onMessage?: (line: string) => void;
}

const NO_INCEPTION =
  `supply the standard FID Inception as an ONNX file with --inception FILE.onnx or the ${INCEPTION_ENV} environment variable ` +
  '(docs/inception.md says where to get one), or use --network mnist-classifier / fashion-mnist-classifier for digit-like data';

function inceptionPath(opts: NetworkChoiceOptions): string | null {
  const p = opts.inception ?? (opts.env ?? process.env)[INCEPTION_ENV];
  return p && p.trim() !== '' ? resolve(p) : null;
}

function onnxChoice(path: string, reason: string): NetworkChoice {
  if (!existsSync(path)) throw new Error(`feature network file ${path} does not exist; ${NO_INCEPTION}`);
  return { kind: 'onnx', path, reason };
}

/** Resolves a network spec to what would be loaded, without loading anything. */
export function resolveNetworkChoice(spec: string, opts: NetworkChoiceOptions = {}): NetworkChoice {
  const s = spec.trim();
  if (s === 'mnist-classifier' || s === 'fashion-mnist-classifier') return { kind: 'classifier', name: s, reason: 'asked for' };
  if (s === 'inception') {
    const p = inceptionPath(opts);
    if (!p) throw new Error(`feature network 'inception' is not configured; ${NO_INCEPTION}`);
    return onnxChoice(p, 'asked for');
  }
  if (s !== 'auto') {
    if (s.endsWith(NETWORK_FILE_EXT)) {
      const p = resolve(s);
      if (!existsSync(p)) throw new Error(`feature network file ${p} does not exist; stored classifiers are in <data dir>/feature-networks/`);
      return { kind: 'stored-classifier', path: p, reason: 'asked for' };
    }
    if (!/\.onnx$/i.test(s)) {
      throw new Error(
        `unknown feature network '${spec}'; use auto, mnist-classifier, fashion-mnist-classifier, inception, a path to a .onnx file or to a stored classifier (${NETWORK_FILE_EXT})`,
      );
    }
    return onnxChoice(resolve(s), 'asked for');
  }
  if (opts.dataset !== undefined) {
    const parsed = parseDatasetSpec(opts.dataset);
    if (parsed.kind === 'mnist' || parsed.name === 'mnist') {
      return { kind: 'classifier', name: 'mnist-classifier', reason: `auto: dataset ${opts.dataset} is MNIST` };
    }
    if (parsed.kind === 'fashion-mnist') {
      return { kind: 'classifier', name: 'fashion-mnist-classifier', reason: `auto: dataset ${opts.dataset} is Fashion-MNIST` };
    }
    const p = inceptionPath(opts);
    if (!p) throw new Error(`no feature network for dataset '${opts.dataset}': the app's classifiers cover MNIST and Fashion-MNIST only; ${NO_INCEPTION}`);
    return onnxChoice(p, `auto: Inception for dataset ${opts.dataset}`);
  }
  if (opts.channels === 1) return { kind: 'classifier', name: 'mnist-classifier', reason: 'auto: grey images' };
  const p = inceptionPath(opts);
  if (!p) throw new Error(`no feature network for colour images: the app's classifiers are for grey digits; ${NO_INCEPTION}`);
  return onnxChoice(p, 'auto: Inception for colour images');
}

/**
 * The feature network for `spec` ('auto', a classifier name, 'inception' or a .onnx path), loaded
 * and ready. A classifier that has never been trained with these settings is trained now (about a
 * minute for the default) and stored; later calls load it. The caller disposes the network.
 */
export async function featureNetworkFor(spec: string, opts: FeatureNetworkOptions): Promise<FeatureNetwork> {
  const choice = resolveNetworkChoice(spec, opts);
  if (choice.kind === 'classifier') {
    return loadOrTrainClassifier(choice.name, {
      dataDir: opts.dataDir,
      training: opts.classifierTraining,
      train: opts.train,
      onMessage: opts.onMessage,
    });
  }
  if (choice.kind === 'stored-classifier') {
    const stored = await readClassifierFile(choice.path);
    return new ClassifierNetwork(stored.meta, stored.weights, stored.file);
  }
  return loadInceptionOnnx(choice.path, { outputs: opts.onnxOutputs });
}

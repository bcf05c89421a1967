/**
 * The app's classifier as a FeatureNetwork, and the one entry point that finds a stored classifier
 * trained with the requested settings or trains and stores one.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FeatureNetwork, FeatureSet, ImageBatchU8 } from '../feature-network';
import {
  CLASSIFIER_CLASSES,
  CLASSIFIER_SIDE,
  POOLED_DIM,
  SPATIAL_DIM,
  classifierForward,
  toVariables,
  type ClassifierParams,
} from './architecture';
import { checkImageBatch, classifierInput } from './classifier-input';
import {
  listClassifierFiles,
  readClassifierFile,
  writeClassifierFile,
  type ClassifierMeta,
  type ClassifierName,
  type ClassifierTraining,
} from './network-file';
import { defaultClassifierTraining, ensureBackend, trainClassifier } from './training';

export type { ClassifierName, ClassifierTraining } from './network-file';
export { defaultClassifierTraining } from './training';

const DATASET_LABEL: Record<ClassifierName, string> = {
  'mnist-classifier': 'MNIST',
  'fashion-mnist-classifier': 'Fashion-MNIST',
};

export class ClassifierNetwork implements FeatureNetwork {
  readonly id: string;
  readonly description: string;
  /** The weights as tfjs variables, made on first use (a backend must be active by then). */
  private params: ClassifierParams | null = null;
  private disposed = false;

  constructor(
    readonly meta: ClassifierMeta,
    private readonly weights: Map<string, Float32Array>,
    readonly file: string | null,
  ) {
    this.id = meta.id;
    const d = meta.data;
    this.description =
      `${DATASET_LABEL[meta.name]} classifier v${meta.version} (small CNN, ${POOLED_DIM}-d pooled, ${SPATIAL_DIM}-d spatial features, ` +
      `${CLASSIFIER_CLASSES} logits), trained by Exposure Lab on ${d.trainImages} ${d.dataset} images for ${meta.training.steps} steps; ` +
      `test accuracy ${(100 * meta.testAccuracy).toFixed(2)}% on ${d.testImages} held-out images`;
  }

  async extract(images: ImageBatchU8, opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<FeatureSet> {
    if (this.disposed) throw new Error(`feature network ${this.id} was disposed`);
    checkImageBatch(images);
    await ensureBackend('infer');
    this.params ??= toVariables(this.weights);
    const n = images.shape[0];
    const batch = opts.batchSize ?? 256;
    const pooled = new Float32Array(n * POOLED_DIM);
    const spatial = new Float32Array(n * SPATIAL_DIM);
    const logits = new Float32Array(n * CLASSIFIER_CLASSES);
    for (let s = 0; s < n; s += batch) {
      const m = Math.min(batch, n - s);
      const input = classifierInput(images, s, m);
      const params = this.params;
      const out = tf.tidy(() => {
        const o = classifierForward(params, tf.tensor4d(input, [m, CLASSIFIER_SIDE, CLASSIFIER_SIDE, 1]), true);
        return [o.pooled, o.spatial!, o.logits];
      });
      const [p, sp, l] = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
      tf.dispose(out);
      pooled.set(p!, s * POOLED_DIM);
      spatial.set(sp!, s * SPATIAL_DIM);
      logits.set(l!, s * CLASSIFIER_CLASSES);
      opts.onProgress?.(s + m, n);
    }
    return {
      pooled: { data: pooled, rows: n, cols: POOLED_DIM },
      spatial: { data: spatial, rows: n, cols: SPATIAL_DIM },
      logits: { data: logits, rows: n, cols: CLASSIFIER_CLASSES },
    };
  }

  dispose(): void {
    this.disposed = true;
    if (!this.params) return;
    for (const v of this.params.values()) v.dispose();
    this.params = null;
  }
}

function sameTraining(a: ClassifierTraining, b: ClassifierTraining): boolean {
  return (
    a.steps === b.steps && a.batchSize === b.batchSize && a.lr === b.lr && a.seed === b.seed &&
    a.trainCount === b.trainCount && a.maxShift === b.maxShift
  );
}

export interface LoadClassifierOptions {
  dataDir: string;
  /** Default defaultClassifierTraining(name); fields given here override it. */
  training?: Partial<ClassifierTraining>;
  /** Train when none is stored (default true). */
  train?: boolean;
  onMessage?: (line: string) => void;
}

/**
 * The stored classifier trained with these settings, or a newly trained one (stored atomically as
 * <dataDir>/feature-networks/<id>.xlabfn). A damaged file is skipped (and replaced by training).
 */
export async function loadOrTrainClassifier(name: ClassifierName, opts: LoadClassifierOptions): Promise<ClassifierNetwork> {
  const training: ClassifierTraining = { ...defaultClassifierTraining(name), ...opts.training };
  for (const file of listClassifierFiles(opts.dataDir, name)) {
    let stored;
    try {
      stored = await readClassifierFile(file);
    } catch (e) {
      opts.onMessage?.(`skipping ${file}: ${(e as Error).message}`);
      continue;
    }
    if (stored.meta.name === name && sameTraining(stored.meta.training, training)) {
      return new ClassifierNetwork(stored.meta, stored.weights, file);
    }
  }
  if (opts.train === false) {
    throw new Error(`no stored ${name} trained with these settings in ${opts.dataDir}/feature-networks; it is trained on first use`);
  }
  opts.onMessage?.(`training the ${name} feature network (once; stored for later use)...`);
  const { meta, weights } = await trainClassifier(name, training, { onMessage: opts.onMessage });
  const file = await writeClassifierFile(opts.dataDir, meta, weights);
  return new ClassifierNetwork(meta, weights, file);
}

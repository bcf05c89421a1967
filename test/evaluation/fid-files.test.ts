/**
 * The inputs of `xlab fid`: how each kind is recognised, and the errors for inputs that cannot be
 * scored (each naming the file and the fix).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initClassifierParams } from '../../src/main/evaluation/classifier/architecture';
import { classifierId, weightsSha256, writeClassifierFile } from '../../src/main/evaluation/classifier/network-file';
import { fidBetweenFiles, readFidInput } from '../../src/main/evaluation/fid-files';
import { writeNpy } from '../../src/main/formats/npy';
import { writeNpz } from '../../src/main/formats/npz';
import { initBackend } from '../../src/main/nn/backend';

let dir: string;
const f = (name: string) => path.join(dir, name);

beforeAll(async () => {
  await initBackend('wasm', 'train');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-fid-files-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const vec = (v: number[]) => ({ dtype: 'float64' as const, shape: [v.length], data: Float64Array.from(v) });
const eye = (d: number) => ({ dtype: 'float64' as const, shape: [d, d], data: Float64Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : 0)) });

describe('xlab fid inputs', () => {
  it('recognises each kind by content and detects grey images saved as RGB', async () => {
    await writeNpz(f('s.npz'), { mu: vec([0, 0]), sigma: eye(2), mu_s: vec([1]), sigma_s: eye(1) });
    await writeNpy(f('x.npy'), { dtype: 'float32', shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
    const grey = Uint8Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => Math.floor(i / 3) * 5);
    await writeNpz(f('g.npz'), { arr_0: { dtype: 'uint8', shape: [2, 4, 4, 3], data: grey } });
    const s = await readFidInput(f('s.npz'));
    expect(s.kind === 'stats' && [s.pooled.dim, s.spatial?.dim]).toEqual([2, 1]);
    const x = await readFidInput(f('x.npy'));
    expect(x.kind === 'features' && [x.features.rows, x.features.cols]).toEqual([3, 2]);
    const g = await readFidInput(f('g.npz'));
    expect(g.kind === 'images' && [g.grey, g.images.shape]).toEqual([true, [2, 4, 4, 1]]);
    // both statistics files carry spatial statistics: sFID comes too
    const r = await fidBetweenFiles(s, s, { dataDir: dir });
    expect([r.fid, r.sfid]).toEqual([0, 0]);
  });

  it('refuses unreadable, empty, non-finite and mismatched inputs with the file and the fix', async () => {
    await expect(readFidInput(f('missing.npz'))).rejects.toThrow(/missing\.npz: no such file or folder; give a folder of PNG\/JPEG images/);
    fs.writeFileSync(f('notes.txt'), 'x');
    await expect(readFidInput(f('notes.txt'))).rejects.toThrow(/notes\.txt: cannot tell what this is from its extension '\.txt'/);
    await writeNpz(f('other.npz'), { weights: vec([1]) });
    await expect(readFidInput(f('other.npz'))).rejects.toThrow(/neither images \(arr_0\) nor statistics \(mu, sigma\), only weights/);
    await writeNpz(f('bad-sigma.npz'), { mu: vec([0, 0, 0]), sigma: eye(2) });
    await expect(readFidInput(f('bad-sigma.npz'))).rejects.toThrow(/'sigma' has shape \[2, 2\] but 'mu' has 3 entries; it must be 3 x 3/);
    await writeNpz(f('no-sigma.npz'), { mu: vec([0]) });
    await expect(readFidInput(f('no-sigma.npz'))).rejects.toThrow(/has 'mu' but no 'sigma'/);
    await writeNpz(f('float-images.npz'), { arr_0: { dtype: 'float32', shape: [2, 4, 4, 1], data: new Float32Array(32) } });
    await expect(readFidInput(f('float-images.npz'))).rejects.toThrow(/'arr_0' must be uint8 images/);
    await writeNpy(f('flat.npy'), { dtype: 'float32', shape: [6], data: new Float32Array(6) });
    await expect(readFidInput(f('flat.npy'))).rejects.toThrow(/must be 2-D \(rows = samples, columns = features\), this \.npy is \[6\]/);
    await writeNpy(f('nan.npy'), { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, NaN, 2, 3) });
    await expect(readFidInput(f('nan.npy'))).rejects.toThrow(/nan\.npy: the feature matrix contains NaN or infinite values \(element 1\)/);
    await writeNpz(f('nan-stats.npz'), { mu: vec([0, Infinity]), sigma: eye(2) });
    await expect(readFidInput(f('nan-stats.npz'))).rejects.toThrow(/'mu' contains NaN or infinite values/);

    await writeNpy(f('one.npy'), { dtype: 'float32', shape: [1, 2], data: Float32Array.of(1, 2) });
    const one = await readFidInput(f('one.npy'));
    const two = await readFidInput(f('x.npy'));
    await expect(fidBetweenFiles(two, one, { dataDir: dir })).rejects.toThrow(/one\.npy: 1 sample; FID needs at least 2 per set/);
    const stats = await readFidInput(f('s.npz'));
    await writeNpy(f('feats5.npy'), { dtype: 'float32', shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => Math.sin(i)) });
    await expect(fidBetweenFiles(await readFidInput(f('feats5.npy')), stats, { dataDir: dir })).rejects.toThrow(
      `feature dimensions differ: ${f('feats5.npy')} gives 5-d features but ${f('s.npz')} gives 2-d statistics; both sides must come from the same feature network`,
    );

    // images through a 128-d network against 2-d statistics
    const weights = initClassifierParams(1);
    const sha = weightsSha256(weights);
    const id = classifierId('mnist-classifier', sha);
    const file = await writeClassifierFile(dir, {
      format: 1, name: 'mnist-classifier', version: 1, id, weightsSha256: sha, architecture: 'test',
      training: { steps: 0, batchSize: 1, lr: 0.001, seed: 1, trainCount: null, maxShift: 0 },
      data: { dataset: 'mnist', source: 'seeded initial weights', trainImages: 0, testImages: 0, testSplit: 'none' },
      testAccuracy: 0, trainSeconds: 0, backend: 'wasm',
    }, weights);
    const images = await readFidInput(f('g.npz'));
    await expect(fidBetweenFiles(images, stats, { dataDir: dir, network: file })).rejects.toThrow(
      new RegExp(`g\\.npz gives 128-d features \\(${id}\\) but .*s\\.npz gives 2-d statistics; both sides must come from the same feature network \\(choose it with --network`),
    );
  });
});

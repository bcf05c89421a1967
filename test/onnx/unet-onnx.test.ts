/**
 * The ONNX export of the U-Net against the tfjs forward (itself tested against hand-computed
 * layers in test/nn/unet.test.ts): equal within float32 rounding on every preset, with and without
 * learned variance, at several timesteps; the cached export next to a checkpoint; sampling through
 * ONNX Runtime against sampling through tfjs with the same paired noise.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrainConfig } from '../../src/shared/config';
import { sample } from '../../src/main/diffusion/samplers';
import { createProcess } from '../../src/main/diffusion/schedule';
import { generateSampleSet } from '../../src/main/generation/generate';
import { initBackend } from '../../src/main/nn/backend';
import { presetByName, type PresetName } from '../../src/main/nn/presets';
import { disposeParams, forward, outChannels, paramShapes, type Params, type UNetConfig } from '../../src/main/nn/unet';
import { Stream } from '../../src/main/rng';
import { encodeCheckpoint, checkpointFileName } from '../../src/main/training/checkpoint';
import { snapshot } from '../../src/main/training/model-state';
import { cachedCheckpointOnnx, onnxExportPath, readExportRecord } from '../../src/main/onnx/checkpoint-onnx';
import { createUNetSession, onnxModel, type UNetSession } from '../../src/main/onnx/session';
import { paramsWeights, unetOnnxModel } from '../../src/main/onnx/unet-graph';
import { runXlab } from '../jobs/harness';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-onnx-'));
  tmpDirs.push(d);
  return d;
}

beforeAll(async () => {
  await initBackend('wasm', 'infer');
});

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * Every parameter random, the zero-initialised ones included (at the reference initialisation the
 * output conv is zero and the network's output would be its bias, hiding most of the graph).
 * Uniform, scaled like the reference init (gains around 1). Each parameter gets its own xorshift32
 * generator seeded from Stream(seed, ..., name): Stream draws cost ~50 ns, too slow for 52M weights.
 */
function randomParams(cfg: UNetConfig, seed: number): Params {
  const params: Params = new Map();
  for (const { name, shape } of paramShapes(cfg)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length >= 2 ? size / shape[shape.length - 1]! : 16;
    const gain = name.endsWith('.g');
    const scale = gain ? 0.2 : name.endsWith('.b') ? 0.1 : 1 / Math.sqrt(fanIn);
    const data = new Float32Array(size);
    let x = new Stream(seed, 'test-onnx-weights', name).nextU32() | 1;
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = (gain ? 1 : 0) + scale * ((x >>> 0) / 2147483648 - 1);
    }
    const value = tf.tensor(data, shape, 'float32');
    params.set(name, tf.variable(value, false));
    value.dispose();
  }
  return params;
}

/**
 * The learnSigma = false network with the same weights as a learnSigma = true one: only the output
 * conv differs, and keeping its first C output channels (eps) gives exactly the eps half of the
 * learned-variance net's output.
 */
function withoutSigma(cfg: UNetConfig, params: Params): { cfg: UNetConfig; params: Params } {
  const c = cfg.inChannels;
  const out = new Map(params);
  const w = params.get('out.conv.w')!;
  const b = params.get('out.conv.b')!;
  out.set('out.conv.w', tf.variable(tf.slice(w, [0, 0, 0, 0], [-1, -1, -1, c]), false));
  out.set('out.conv.b', tf.variable(tf.slice(b, [0], [c]), false));
  return { cfg: { ...cfg, learnSigma: false }, params: out };
}

function inputs(cfg: UNetConfig, ts: number[], seed: number): { x: tf.Tensor4D; t: tf.Tensor1D } {
  const data = new Float32Array(ts.length * cfg.imageSize * cfg.imageSize * cfg.inChannels);
  new Stream(seed, 'test-onnx-x').fillNormal(data);
  return { x: tf.tensor4d(data, [ts.length, cfg.imageSize, cfg.imageSize, cfg.inChannels]), t: tf.tensor1d(ts, 'float32') };
}

/** max |a - b| / max |a|: the error relative to the output's scale. */
function relativeError(ref: Float32Array, got: Float32Array): number {
  expect(got.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  expect(scale).toBeGreaterThan(0.1); // a live output, not a collapsed one
  return diff / scale;
}

async function sessionFor(cfg: UNetConfig, params: Params): Promise<UNetSession> {
  return createUNetSession(unetOnnxModel(cfg, paramsWeights(params)));
}

/** ONNX output vs reference at each timestep batch (default: the tfjs forward); the worst relative error. */
async function compare(
  cfg: UNetConfig,
  params: Params,
  unet: UNetSession,
  tBatches: number[][],
  reference: (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D = (x, t) => forward(params, cfg, x, t, { training: false }),
): Promise<number> {
  const model = await onnxModel(unet, outChannels(cfg));
  let worst = 0;
  for (const [k, ts] of tBatches.entries()) {
    const { x, t } = inputs(cfg, ts, k);
    const ref = reference(x, t);
    const got = await model(x, t);
    expect(got.shape).toEqual([ts.length, cfg.imageSize, cfg.imageSize, outChannels(cfg)]);
    worst = Math.max(worst, relativeError(ref.dataSync() as Float32Array, got.dataSync() as Float32Array));
    tf.dispose([x, t, ref, got]);
  }
  return worst;
}

describe('the ONNX U-Net equals the tfjs forward', () => {
  // A batch of three different timesteps; adm-cifar10 (52.5M parameters, 17 GFLOP per image on
  // tfjs-wasm) a batch of two, keeping the file well under a minute.
  const cases: { preset: PresetName; ts: number[] }[] = [
    { preset: 'tiny-test', ts: [0, 417, 999] },
    { preset: 'bench-s-mnist16', ts: [0, 417, 999] },
    { preset: 'bench-m-32', ts: [1, 250, 998] },
    { preset: 'adm-cifar10', ts: [3, 999] },
  ];
  for (const { preset, ts } of cases) {
    it(`${preset}: learnSigma true and false within 1e-4 relative at t = ${ts.join(', ')}`, async () => {
      const cfg: UNetConfig = { ...presetByName(preset), learnSigma: true };
      const params = randomParams(cfg, 7);
      const c = cfg.inChannels;
      // One tfjs forward of the learned-variance net is the reference for both exports.
      const refs = new Map<string, tf.Tensor4D>();
      const reference = (x: tf.Tensor4D, t: tf.Tensor1D) => {
        const key = `${x.shape[0]}:${t.dataSync().join(',')}`;
        if (!refs.has(key)) refs.set(key, forward(params, cfg, x, t, { training: false }));
        return tf.clone(refs.get(key)!);
      };
      const sigma = await sessionFor(cfg, params);
      try {
        expect(await compare(cfg, params, sigma, [ts], reference)).toBeLessThan(1e-4);
      } finally {
        await sigma.release();
      }
      const plain = withoutSigma(cfg, params);
      const eps = await sessionFor(plain.cfg, plain.params);
      try {
        const epsOnly = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.tidy(() => tf.slice(reference(x, t), [0, 0, 0, 0], [-1, -1, -1, c]));
        expect(await compare(plain.cfg, plain.params, eps, [ts], epsOnly)).toBeLessThan(1e-4);
      } finally {
        await eps.release();
        plain.params.get('out.conv.w')!.dispose();
        plain.params.get('out.conv.b')!.dispose();
        disposeParams(params);
        tf.dispose([...refs.values()]);
      }
    });
  }

  it('learnSigma false against its own tfjs forward, at any batch size from one export', async () => {
    const cfg = presetByName('tiny-test');
    const params = randomParams(cfg, 3);
    const unet = await sessionFor(cfg, params);
    try {
      expect(await compare(cfg, params, unet, [[5], [1, 2, 3, 4, 5, 6, 7]])).toBeLessThan(1e-4);
    } finally {
      await unet.release();
      disposeParams(params);
    }
  });
});

describe('sampling through ONNX Runtime', () => {
  const ckptCfg = () => parseTrainConfig({ preset: 'tiny-test', learnSigma: true, T: 1000 });
  const unetCfg = (): UNetConfig => ({ ...presetByName('tiny-test'), learnSigma: true });

  /** A checkpoint of a tiny-test net whose EMA and raw weights differ. */
  function writeCheckpoint(dir: string, step: number): string {
    const config = ckptCfg();
    const unet = unetCfg();
    const raw = randomParams(unet, 11);
    const ema = randomParams(unet, 12);
    const buf = encodeCheckpoint(
      { step, createdAt: new Date().toISOString(), config, unet, rng: { seed: 0, step }, optimizer: { t: step }, timestepSampler: null },
      [...snapshot('params', raw), ...snapshot('ema', ema)],
    );
    disposeParams(raw);
    disposeParams(ema);
    const file = path.join(dir, 'checkpoints', checkpointFileName(step));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, buf);
    return file;
  }

  it('an asynchronous model gives the sampler bit-identical results', async () => {
    const cfg = presetByName('tiny-test');
    const params = randomParams(cfg, 5);
    try {
      const syncModel = (x: tf.Tensor4D, t: tf.Tensor1D) => forward(params, cfg, x, t, { training: false });
      const asyncModel = async (x: tf.Tensor4D, t: tf.Tensor1D) => {
        await new Promise((r) => setImmediate(r));
        return forward(params, cfg, x, t, { training: false });
      };
      const common = {
        process: createProcess('linear', 1000),
        options: { kind: 'ddpm' as const, steps: '8', learnSigma: false },
        shape: [16, 16, 1] as [number, number, number],
        seed: 3,
        indices: [0, 1, 2, 3, 4],
        batchSize: 3,
      };
      const before = tf.memory().numTensors;
      const a = await sample({ ...common, model: syncModel });
      const b = await sample({ ...common, model: asyncModel });
      expect(tf.memory().numTensors).toBe(before); // nothing leaks on either path
      expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
    } finally {
      disposeParams(params);
    }
  });

  it('ONNX and tfjs engines draw the same samples up to float rounding, and the choice is recorded', async () => {
    const dir = tmp();
    const file = writeCheckpoint(dir, 40);
    const req = {
      checkpoint: dir,
      weights: 'ema' as const,
      sampler: { kind: 'ddpm' as const, steps: '10' },
      n: 12,
      seed: 9,
      batchSize: 8,
    };
    const viaTfjs = await generateSampleSet({ ...req, engine: 'tfjs', outDir: path.join(dir, 'tfjs') });
    const viaOnnx = await generateSampleSet({ ...req, engine: 'onnx', outDir: path.join(dir, 'onnx') });
    expect(viaOnnx.engine).toBe('onnx');
    expect(viaTfjs.engine).toBe('tfjs');
    const meta = JSON.parse(fs.readFileSync(viaOnnx.metaPath, 'utf8'));
    expect(meta.engine).toBe('onnx');
    expect(meta.inference.onnxFile).toBe(onnxExportPath(file, 'ema'));
    expect(JSON.parse(fs.readFileSync(viaTfjs.metaPath, 'utf8')).engine).toBe('tfjs');

    // The noise is paired and identical; only the network's float rounding differs (about 3e-6 of
    // the output's scale per call, see above), and it does not grow along the chain: the network's
    // eps follows x, and clipping x0-hat is 1-Lipschitz. Measured on tiny-test (ddpm, 10 and 50
    // steps, learnSigma true and false, 32 samples): at most 8e-6. The bound 1e-4 leaves a 10x
    // margin and is still 40x below half a uint8 level (2/255/2 = 3.9e-3), so the stored uint8
    // samples are identical except where a value sits on a rounding boundary: one level off, rarely.
    let maxDiff = 0;
    for (let i = 0; i < viaTfjs.images.length; i++) maxDiff = Math.max(maxDiff, Math.abs(viaTfjs.images[i]! - viaOnnx.images[i]!));
    expect(maxDiff).toBeLessThan(1e-4);
    let levelsOff = 0;
    for (let i = 0; i < viaTfjs.uint8.length; i++) {
      const d = Math.abs(viaTfjs.uint8[i]! - viaOnnx.uint8[i]!);
      expect(d).toBeLessThanOrEqual(1);
      levelsOff += d;
    }
    expect(levelsOff / viaTfjs.uint8.length).toBeLessThan(0.005);
    // Not a trivially constant output: the samples vary.
    const spread = Math.max(...viaOnnx.images) - Math.min(...viaOnnx.images);
    expect(spread).toBeGreaterThan(0.5);
  });

  it('caches the export next to the checkpoint and rebuilds it when the checkpoint changes', async () => {
    const dir = tmp();
    const file = writeCheckpoint(dir, 7);
    const first = await cachedCheckpointOnnx(file, 'ema');
    expect(first.reused).toBe(false);
    expect(first.file).toBe(path.join(path.dirname(file), 'ckpt-0000007.ema.onnx'));
    expect(fs.existsSync(first.file!)).toBe(true);
    const rec = readExportRecord(first.file!);
    expect(rec?.step).toBe(7);
    expect(rec?.weights).toBe('ema');
    expect(rec?.unet).toEqual(unetCfg());

    const again = await cachedCheckpointOnnx(file, 'ema');
    expect(again.reused).toBe(true);
    expect(again.bytes).toBeNull();

    // raw weights: a separate file, a different network
    const raw = await cachedCheckpointOnnx(file, 'raw');
    expect(raw.file).toBe(path.join(path.dirname(file), 'ckpt-0000007.raw.onnx'));
    expect(Buffer.compare(fs.readFileSync(raw.file!), fs.readFileSync(first.file!))).not.toBe(0);

    // a rewritten checkpoint (new mtime) invalidates the cache
    const later = new Date(fs.statSync(file).mtimeMs + 5000);
    fs.utimesSync(file, later, later);
    expect((await cachedCheckpointOnnx(file, 'ema')).reused).toBe(false);
    expect((await cachedCheckpointOnnx(file, 'ema')).reused).toBe(true);

    // a damaged cache file is rebuilt, not loaded
    fs.writeFileSync(first.file!, 'not an onnx model');
    expect(readExportRecord(first.file!)).toBeNull();
    const rebuilt = await cachedCheckpointOnnx(file, 'ema');
    expect(rebuilt.reused).toBe(false);
    expect(readExportRecord(rebuilt.file!)?.step).toBe(7);
  });

  it('xlab export-onnx writes a model that ONNX Runtime runs to the same outputs', async () => {
    const dir = tmp();
    const file = writeCheckpoint(dir, 3);
    const out = path.join(dir, 'exported', 'net.onnx');
    const r = await runXlab(['export-onnx', dir, '--weights', 'raw', '-o', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.onnx).toBe(out);
    expect(summary.step).toBe(3);
    expect(summary.outputs.eps).toEqual(['N', 16, 16, 2]);
    // The file must hold the raw weights of the checkpoint: compare with a tfjs net rebuilt from them.
    const cfg = unetCfg();
    const raw = randomParams(cfg, 11); // the same seed writeCheckpoint used for the raw weights
    const unet = await createUNetSession(out);
    try {
      expect(await compare(cfg, raw, unet, [[0, 500, 999]])).toBeLessThan(1e-4);
    } finally {
      await unet.release();
      disposeParams(raw);
    }
    expect(readExportRecord(out)?.source.file).toBe(path.basename(file));

    const bad = await runXlab(['export-onnx', path.join(dir, 'nope')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/no such checkpoint or run folder/);
  });
});

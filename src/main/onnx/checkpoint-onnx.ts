/**
 * ONNX exports of checkpoints, and inference from them.
 *
 * The export of a checkpoint's EMA (or raw) weights is cached next to it, ckpt-0001000.ema.onnx
 * beside ckpt-0001000.xlab, written atomically, so sampling the same checkpoint again neither
 * re-exports nor re-reads the checkpoint. The model's doc_string (which the encoding places before
 * the graph, so it is read from the first bytes of the file) records what the export was made
 * from: the checkpoint's size and mtime, the weight group, the exporter's graph version, and the
 * checkpoint's step, network shape and training config. A cache whose record does not match the
 * checkpoint as it is now, or an older graph version, is rebuilt.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseTrainConfig, type TrainConfig } from '../../shared/config';
import { writeFileAtomic } from '../formats/atomic-file';
import { outChannels, type UNetConfig } from '../nn/unet';
import { readCheckpoint, tensorKey, type CheckpointData } from '../training/checkpoint';
import type { SamplingModel } from '../diffusion/samplers';
import { createUNetSession, onnxModel, type OnnxSessionOptions } from './session';
import { UNET_GRAPH_VERSION, unetOnnxModel, type WeightSource } from './unet-graph';

export type WeightGroup = 'ema' | 'raw';

const EXPORT_FORMAT = 'xlab-unet-onnx';

/** What an export was made from; stored as the model's doc_string. */
export interface ExportRecord {
  format: typeof EXPORT_FORMAT;
  graphVersion: number;
  source: { file: string; size: number; mtimeMs: number };
  weights: WeightGroup;
  step: number;
  unet: UNetConfig;
  /** The checkpoint's training config, as stored there. */
  config: unknown;
}

/** The cached export's path: ckpt-0001000.xlab -> ckpt-0001000.ema.onnx. */
export function onnxExportPath(checkpointFile: string, weights: WeightGroup): string {
  const dir = path.dirname(checkpointFile);
  const base = path.basename(checkpointFile).replace(/\.xlab$/, '');
  return path.join(dir, `${base}.${weights}.onnx`);
}

/** The weights of one group of a checkpoint, checked against the shapes the network needs. */
export function checkpointWeights(ckpt: CheckpointData, weights: WeightGroup, file: string): WeightSource {
  const group = weights === 'ema' ? 'ema' : 'params';
  return (name, shape) => {
    const entry = ckpt.tensors.get(tensorKey(group, name));
    if (!entry) throw new Error(`checkpoint ${file} has no tensor ${group}/${name}: it was written for a different model`);
    if (entry.entry.shape.join('x') !== shape.join('x')) {
      throw new Error(`checkpoint ${file}: ${group}/${name} has shape ${entry.entry.shape.join('x')}, model expects ${shape.join('x')}`);
    }
    return entry.values;
  };
}

function sourceOf(checkpointFile: string): ExportRecord['source'] {
  const st = fs.statSync(checkpointFile);
  return { file: path.basename(checkpointFile), size: st.size, mtimeMs: st.mtimeMs };
}

/** Reads a protobuf varint at pos; returns [value, next pos] (values beyond 2^53 lose precision, never needed here). */
function varint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let k = 0; k < 10; k++) {
    if (pos >= buf.length) throw new RangeError('truncated varint');
    const b = buf[pos++]!;
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
  }
  throw new RangeError('varint longer than 10 bytes');
}

/**
 * The doc_string of an ONNX model file, read from the fields before its graph; null when the file
 * has none (or is not a model). Reads a few kilobytes, however large the weights.
 */
export function readOnnxDocString(file: string): string | null {
  const fd = fs.openSync(file, 'r');
  try {
    const head = new Uint8Array(64 * 1024);
    const got = fs.readSync(fd, head, 0, head.length, 0);
    const buf = head.subarray(0, got);
    let pos = 0;
    while (pos < buf.length) {
      const [tag, p1] = varint(buf, pos);
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      pos = p1;
      if (field === 7 || field === 0) return null; // the graph (or garbage): no doc_string before it
      if (wire === 0) pos = varint(buf, pos)[1];
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const [len, p2] = varint(buf, pos);
        if (field === 6) {
          const doc = Buffer.alloc(len);
          if (fs.readSync(fd, doc, 0, len, p2) !== len) return null;
          return doc.toString('utf8');
        }
        pos = p2 + len;
      } else return null;
    }
    return null;
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/** The export record of an ONNX file written by Exposure Lab, or null. */
export function readExportRecord(file: string): ExportRecord | null {
  const doc = readOnnxDocString(file);
  if (!doc) return null;
  try {
    const rec = JSON.parse(doc) as ExportRecord;
    return rec && rec.format === EXPORT_FORMAT ? rec : null;
  } catch {
    return null;
  }
}

export interface CheckpointExport {
  /** The file written (null when the folder was not writable and only `bytes` exist). */
  file: string | null;
  /** The serialised model, when it was built in this call (not when a cached file was reused). */
  bytes: Uint8Array | null;
  record: ExportRecord;
  /** A valid cached export was reused. */
  reused: boolean;
}

/** Builds the ONNX model of a checkpoint's weights (no file written). */
export function buildCheckpointOnnx(checkpointFile: string, weights: WeightGroup): { bytes: Uint8Array; record: ExportRecord } {
  const source = sourceOf(checkpointFile);
  const ckpt = readCheckpoint(checkpointFile);
  const unet = (ckpt.header as { unet?: UNetConfig }).unet;
  if (!unet) throw new Error(`checkpoint ${checkpointFile} does not record its network shape`);
  const record: ExportRecord = {
    format: EXPORT_FORMAT,
    graphVersion: UNET_GRAPH_VERSION,
    source,
    weights,
    step: ckpt.header.step,
    unet,
    config: ckpt.header.config,
  };
  const bytes = unetOnnxModel(unet, checkpointWeights(ckpt, weights, checkpointFile), JSON.stringify(record));
  return { bytes, record };
}

/** Exports a checkpoint's weights to `outFile` (atomically), whatever is there. */
export async function exportCheckpointOnnx(checkpointFile: string, weights: WeightGroup, outFile: string): Promise<CheckpointExport> {
  const { bytes, record } = buildCheckpointOnnx(checkpointFile, weights);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  await writeFileAtomic(outFile, bytes);
  return { file: outFile, bytes, record, reused: false };
}

function matches(rec: ExportRecord | null, checkpointFile: string, weights: WeightGroup): rec is ExportRecord {
  if (!rec || rec.graphVersion !== UNET_GRAPH_VERSION || rec.weights !== weights) return false;
  const now = sourceOf(checkpointFile);
  return rec.source.size === now.size && rec.source.mtimeMs === now.mtimeMs && rec.source.file === now.file;
}

/**
 * The checkpoint's export next to it (onnxExportPath), reused when it matches the checkpoint and
 * the exporter, rebuilt otherwise. A folder that cannot be written to still gets an in-memory export.
 */
export async function cachedCheckpointOnnx(checkpointFile: string, weights: WeightGroup): Promise<CheckpointExport> {
  const file = onnxExportPath(checkpointFile, weights);
  if (fs.existsSync(file)) {
    const rec = readExportRecord(file);
    if (matches(rec, checkpointFile, weights)) return { file, bytes: null, record: rec, reused: true };
  }
  const { bytes, record } = buildCheckpointOnnx(checkpointFile, weights);
  try {
    await writeFileAtomic(file, bytes);
    return { file, bytes, record, reused: false };
  } catch {
    // Read-only checkpoint folder: sample from memory, export again next time.
    return { file: null, bytes, record, reused: false };
  }
}

export interface OnnxInferenceModel {
  config: TrainConfig;
  unet: UNetConfig;
  step: number;
  weights: WeightGroup;
  model: SamplingModel;
  /** For the records: the export used and the runtime. */
  info: { onnxFile: string | null; reusedExport: boolean; threads: number; onnxruntime: string };
  dispose(): Promise<void>;
}

/** A checkpoint ready to sample through ONNX Runtime (exporting it first when needed). */
export async function loadOnnxForInference(checkpointFile: string, weights: WeightGroup = 'ema', opts: OnnxSessionOptions = {}): Promise<OnnxInferenceModel> {
  const exp = await cachedCheckpointOnnx(checkpointFile, weights);
  const config = parseTrainConfig(exp.record.config);
  const session = await createUNetSession(exp.bytes ?? exp.file!, opts);
  const unet = exp.record.unet;
  return {
    config,
    unet,
    step: exp.record.step,
    weights,
    model: await onnxModel(session, outChannels(unet)),
    info: { onnxFile: exp.file, reusedExport: exp.reused, threads: session.threads, onnxruntime: session.version },
    dispose: () => session.release(),
  };
}

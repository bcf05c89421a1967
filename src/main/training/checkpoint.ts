/**
 * Checkpoint files: one file per checkpoint, written atomically (temp name, fsync, rename), so a
 * crash leaves either the previous checkpoint or the new one, never half of one.
 *
 * Layout: 8-byte magic "XLABCKPT", uint32 LE header length, UTF-8 JSON header, zero padding to a
 * multiple of 8, then the float32 tensors back to back (little endian) as listed in the header.
 * Groups: 'params' (raw weights), 'ema', 'adam_m', 'adam_v'.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../formats/atomic-file';

const MAGIC = 'XLABCKPT';
export const CHECKPOINT_VERSION = 1;

export type TensorGroup = 'params' | 'ema' | 'adam_m' | 'adam_v';

export interface TensorEntry {
  group: TensorGroup;
  name: string;
  shape: number[];
  /** Offset in float32 elements from the start of the data section. */
  offset: number;
  length: number;
}

export interface CheckpointHeader {
  format: 'xlab-checkpoint';
  version: number;
  /** Training steps completed when this was written. */
  step: number;
  createdAt: string;
  /** The full, parsed training config. */
  config: unknown;
  /** The network's resolved shape (preset plus overrides plus the data's size). */
  unet: unknown;
  /** Random streams are keyed by (seed, purpose, step): the seed and step restore them exactly. */
  rng: { seed: number; step: number };
  optimizer: { t: number };
  /** Serialised state of the timestep sampler (loss history for loss-second-moment). */
  timestepSampler: unknown;
  tensors: TensorEntry[];
}

export interface CheckpointData {
  header: CheckpointHeader;
  tensors: Map<string, { entry: TensorEntry; values: Float32Array }>;
}

export function tensorKey(group: TensorGroup, name: string): string {
  return `${group}/${name}`;
}

export function encodeCheckpoint(
  header: Omit<CheckpointHeader, 'tensors' | 'format' | 'version'>,
  tensors: { group: TensorGroup; name: string; shape: number[]; values: Float32Array }[],
): Buffer {
  let offset = 0;
  const entries: TensorEntry[] = tensors.map((t) => {
    const e = { group: t.group, name: t.name, shape: t.shape, offset, length: t.values.length };
    offset += t.values.length;
    return e;
  });
  const full: CheckpointHeader = { format: 'xlab-checkpoint', version: CHECKPOINT_VERSION, ...header, tensors: entries };
  const json = Buffer.from(JSON.stringify(full), 'utf8');
  const headerBytes = 12 + json.length;
  const pad = (8 - (headerBytes % 8)) % 8;
  const dataStart = headerBytes + pad;
  const buf = Buffer.alloc(dataStart + offset * 4);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(json.length, 8);
  json.copy(buf, 12);
  const data = new Float32Array(buf.buffer, buf.byteOffset + dataStart, offset);
  for (let i = 0; i < tensors.length; i++) data.set(tensors[i]!.values, entries[i]!.offset);
  return buf;
}

export function decodeCheckpoint(buf: Buffer, file = '<buffer>'): CheckpointData {
  const fail = (why: string): never => {
    throw new Error(`checkpoint ${file} is unreadable: ${why}. Resume from an earlier checkpoint in the same folder, or retrain.`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) fail('not an Exposure Lab checkpoint (bad magic)');
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) fail('truncated header');
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as CheckpointHeader;
  } catch {
    return fail('corrupt header');
  }
  if (header.format !== 'xlab-checkpoint') fail('unknown format');
  if (header.version > CHECKPOINT_VERSION) fail(`written by a newer Exposure Lab (version ${header.version}); upgrade the app`);
  const headerBytes = 12 + hlen;
  const dataStart = headerBytes + ((8 - (headerBytes % 8)) % 8);
  const total = header.tensors.reduce((a, e) => Math.max(a, e.offset + e.length), 0);
  if (dataStart + total * 4 > buf.length) fail(`truncated data (${buf.length} bytes, expected ${dataStart + total * 4})`);
  // Copy out so the values do not depend on the Buffer's alignment or lifetime.
  const aligned = new Float32Array(total);
  new Uint8Array(aligned.buffer).set(buf.subarray(dataStart, dataStart + total * 4));
  const tensors = new Map<string, { entry: TensorEntry; values: Float32Array }>();
  for (const e of header.tensors) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (count !== e.length) fail(`tensor ${e.group}/${e.name} has shape ${JSON.stringify(e.shape)} but ${e.length} values`);
    tensors.set(tensorKey(e.group, e.name), { entry: e, values: aligned.subarray(e.offset, e.offset + e.length) });
  }
  return { header, tensors };
}

export async function writeCheckpoint(file: string, data: Buffer): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, data);
}

export function readCheckpoint(file: string): CheckpointData {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  return decodeCheckpoint(buf, file);
}

const CKPT_RE = /^ckpt-(\d+)\.xlab$/;

export function checkpointFileName(step: number): string {
  return `ckpt-${String(step).padStart(7, '0')}.xlab`;
}

/** Checkpoints in a folder, newest step last. */
export function listCheckpoints(dir: string): { step: number; file: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((f) => ({ m: CKPT_RE.exec(f), f }))
    .filter((x) => x.m)
    .map((x) => ({ step: Number(x.m![1]), file: path.join(dir, x.f) }))
    .sort((a, b) => a.step - b.step);
}

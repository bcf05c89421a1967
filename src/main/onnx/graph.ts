/**
 * A small writer of ONNX graphs: named values, nodes of standard operators, initializers stored as
 * little-endian raw_data, and the ModelProto encoding (onnx-proto, IR version 8). It knows nothing
 * about U-Nets; unet-graph.ts describes the network with it.
 *
 * It also keeps what a graph transformation needs to read back: every node as written (type,
 * inputs, outputs, attributes), the values of small constants, and the static shape of every value
 * whose inputs have one (shapes.ts), so autodiff.ts can append a backward pass to a forward graph.
 */
import onnxProto from 'onnx-proto';
import { inferShapes } from './shapes';

const { onnx } = onnxProto;

/** IR version 8 is the newest onnx-proto 8.0.1 (ONNX 1.10) writes; ORT 1.30 reads it with opset 17. */
export const IR_VERSION = 8;
export const OPSET = 17;

/** Attribute values: a plain number is an INT, an array INTS, float(x) a FLOAT. */
export type AttrValue = number | string | number[] | FloatAttr;

export class FloatAttr {
  constructor(readonly value: number) {}
}

export const float = (value: number): FloatAttr => new FloatAttr(value);

/** A symbolic dimension (e.g. the batch) or a fixed size. */
export type Dim = number | string;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  if (!littleEndian) throw new Error('ONNX export needs a little-endian host (raw_data is little endian)');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if (v instanceof FloatAttr) return { name, type: T.FLOAT, f: v.value };
  if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (use float() for FLOAT attributes)`);
  return { name, type: T.INT, i: v };
}

function valueInfo(name: string, elemType: number, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

/** A node as written: what autodiff.ts differentiates. */
export interface NodeRecord {
  type: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  /** The nodes in the order written (a topological order: a node's inputs exist before it). */
  readonly records: NodeRecord[] = [];
  /** Static shapes: inputs with numeric dims, initializers, and what shapes.ts infers from them. */
  readonly shapes = new Map<string, number[]>();
  /** Values of int64 and float constants made by ints() and floats(). */
  readonly constants = new Map<string, number[]>();
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  private fresh(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: Dim[]): string {
    const n = this.fresh(name);
    if (n !== name) throw new Error(`graph input '${name}' is defined twice`);
    this.inputs.push(valueInfo(name, onnx.TensorProto.DataType.FLOAT, dims));
    if (dims.every((d): d is number => typeof d === 'number')) this.shapes.set(name, dims);
    return name;
  }

  /** Marks `value` as the graph output `name` (through an Identity when the names differ). */
  output(value: string, name: string, dims: Dim[]): void {
    const out = value === name ? name : this.op('Identity', [value], {}, name);
    if (out !== name) throw new Error(`graph output name '${name}' is already taken`);
    this.outputs.push(valueInfo(name, onnx.TensorProto.DataType.FLOAT, dims));
  }

  /** A float32 weight; the array is referenced, not copied, until encode(). */
  weight(name: string, data: Float32Array, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`initializer ${name}: ${data.length} values for dims [${dims}]`);
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytesOf(data) });
    this.shapes.set(n, dims);
    return n;
  }

  /** An int64 constant (shapes, axes, split sizes). */
  ints(name: string, values: number[]): string {
    const n = this.fresh(name);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name: n, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytesOf(data) });
    this.shapes.set(n, [values.length]);
    this.constants.set(n, values);
    return n;
  }

  /** A float32 constant of any shape (scalars: dims []). */
  floats(name: string, values: number[], dims: number[] = [values.length]): string {
    const n = this.weight(name, Float32Array.from(values), dims);
    this.constants.set(n, values);
    return n;
  }

  /** Adds one node; returns its single output's name. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    return this.opN(type, inputs, 1, attrs, outName)[0]!;
  }

  /** Adds one node with `outputs` outputs; returns their names. */
  opN(type: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue> = {}, outName?: string): string[] {
    const hint = outName ?? type.toLowerCase();
    const outs = Array.from({ length: outputs }, (_, k) => this.fresh(outputs > 1 ? `${hint}_${k}` : hint));
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType: type, input: inputs, output: outs, name: outs[0], attribute: attribute_ });
    const record = { type, inputs, outputs: outs, attrs };
    this.records.push(record);
    const inShapes = inputs.map((i) => (i === '' ? null : this.shapes.get(i)));
    if (inShapes.every((sh) => sh !== undefined)) {
      const inferred = inferShapes(record, inShapes as (number[] | null)[], (name) => this.constants.get(name));
      inferred?.forEach((sh, k) => this.shapes.set(outs[k]!, sh));
    }
    return outs;
  }

  /**
   * The serialised ModelProto. docString and metadata are written before the graph in the encoding
   * (protobuf fields in number order), so a reader can check them from the start of the file.
   */
  encode(meta: { producer: string; producerVersion: string; docString?: string; graphName: string }): Uint8Array {
    const model: onnxProto.onnx.IModelProto = {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: meta.producer,
      producerVersion: meta.producerVersion,
      docString: meta.docString ?? '',
      graph: {
        name: meta.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}

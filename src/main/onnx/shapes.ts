/**
 * Static shape inference for the ONNX operators Exposure Lab writes (opset 17 semantics), so a
 * graph built for a fixed batch knows every value's shape while it is being built. autodiff.ts
 * needs them: a broadcast's gradient is summed back to its operand's shape, a Reshape's gradient
 * is reshaped back, a Concat's gradient is split at the operands' sizes.
 *
 * Unknown operators give null (no shape); the builder then simply knows less.
 */
import type { AttrValue } from './graph';

interface Node {
  type: string;
  inputs: string[];
  attrs: Record<string, AttrValue>;
  outputs: string[];
}

const ints = (v: AttrValue | undefined): number[] | undefined => (Array.isArray(v) ? v : undefined);
const int = (v: AttrValue | undefined, fallback: number): number => (typeof v === 'number' ? v : fallback);

/** numpy broadcasting of two shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function reduce(x: number[], axes: number[] | undefined, keepdims: boolean): number[] {
  const set = new Set((axes ?? x.map((_, i) => i)).map((a) => axisOf(a, x.length)));
  const out: number[] = [];
  x.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

function convOut(size: number, k: number, stride: number, padBegin: number, padEnd: number, dilation: number): number {
  return Math.floor((size + padBegin + padEnd - dilation * (k - 1) - 1) / stride) + 1;
}

/** Output shapes of one node from its input shapes (null for an omitted optional input); null when unknown. */
export function inferShapes(node: Node, inputs: (number[] | null)[], constant: (name: string) => number[] | undefined): number[][] | null {
  const x = inputs[0];
  const { attrs } = node;
  const constAt = (k: number) => (node.inputs[k] ? constant(node.inputs[k]!) : undefined);
  switch (node.type) {
    case 'Identity':
    case 'Sigmoid':
    case 'Relu':
    case 'Sign':
    case 'Softmax':
    case 'LogSoftmax':
    case 'Cos':
    case 'Sin':
    case 'Neg':
    case 'Sqrt':
    case 'Reciprocal':
    case 'InstanceNormalization':
      return x ? [x.slice()] : null;
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return [broadcastShapes(inputs[0]!, inputs[1]!)];
    case 'Conv':
    case 'ConvTranspose': {
      const w = inputs[1]!;
      const k = ints(attrs['kernel_shape']) ?? w.slice(2);
      const strides = ints(attrs['strides']) ?? k.map(() => 1);
      const pads = ints(attrs['pads']) ?? [...k.map(() => 0), ...k.map(() => 0)];
      const dil = ints(attrs['dilations']) ?? k.map(() => 1);
      const spatial = x!.slice(2);
      if (node.type === 'Conv') {
        return [[x![0]!, w[0]!, ...spatial.map((s, i) => convOut(s, k[i]!, strides[i]!, pads[i]!, pads[i + k.length]!, dil[i]!))]];
      }
      const op = ints(attrs['output_padding']) ?? k.map(() => 0);
      const group = int(attrs['group'], 1);
      return [[x![0]!, w[1]! * group, ...spatial.map((s, i) => strides[i]! * (s - 1) + op[i]! + (k[i]! - 1) * dil[i]! + 1 - pads[i]! - pads[i + k.length]!)]];
    }
    case 'Gemm': {
      const a = int(attrs['transA'], 0) ? [x![1]!, x![0]!] : x!;
      const b = inputs[1]!;
      const bb = int(attrs['transB'], 0) ? [b[1]!, b[0]!] : b;
      return [[a[0]!, bb[1]!]];
    }
    case 'MatMul': {
      const b = inputs[1]!;
      const batch = broadcastShapes(x!.slice(0, -2), b.slice(0, -2));
      return [[...batch, x!.at(-2)!, b.at(-1)!]];
    }
    case 'Transpose': {
      const perm = ints(attrs['perm']) ?? x!.map((_, i) => x!.length - 1 - i);
      return [perm.map((p) => x![p]!)];
    }
    case 'Reshape': {
      const target = constAt(1);
      if (!target) return null;
      const size = x!.reduce((a, b) => a * b, 1);
      const out = target.map((d, i) => (d === 0 ? x![i]! : d));
      const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      return [out.map((d) => (d === -1 ? size / known : d))];
    }
    case 'Unsqueeze': {
      const axes = constAt(1);
      if (!axes) return null;
      const rank = x!.length + axes.length;
      const set = new Set(axes.map((a) => axisOf(a, rank)));
      const out: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) out.push(set.has(i) ? 1 : x![j++]!);
      return [out];
    }
    case 'Concat': {
      const axis = axisOf(int(attrs['axis'], 0), x!.length);
      const out = x!.slice();
      out[axis] = inputs.reduce((a, s) => a + s![axis]!, 0);
      return [out];
    }
    case 'Split': {
      const axis = axisOf(int(attrs['axis'], 0), x!.length);
      const sizes = constAt(1) ?? node.outputs.map(() => x![axis]! / node.outputs.length);
      return sizes.map((s) => x!.map((d, i) => (i === axis ? s : d)));
    }
    case 'Resize': {
      const scales = constAt(2);
      if (!scales) return null;
      return [x!.map((d, i) => Math.floor(d * scales[i]!))];
    }
    case 'Pad': {
      const pads = constAt(1);
      if (!pads) return null;
      return [x!.map((d, i) => d + pads[i]! + pads[i + x!.length]!)];
    }
    case 'ReduceSum':
      return [reduce(x!, constAt(1), int(attrs['keepdims'], 1) === 1)];
    case 'ReduceMean':
      return [reduce(x!, ints(attrs['axes']), int(attrs['keepdims'], 1) === 1)];
    case 'Slice': {
      const starts = constAt(1);
      const ends = constAt(2);
      const axes = constAt(3) ?? starts?.map((_, i) => i);
      const steps = constAt(4) ?? starts?.map(() => 1);
      if (!starts || !ends || !axes || !steps) return null;
      const out = x!.slice();
      axes.forEach((a0, i) => {
        const a = axisOf(a0, x!.length);
        const dim = x![a]!;
        const step = steps[i]!;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
        let s = starts[i]! < 0 ? starts[i]! + dim : starts[i]!;
        let e = ends[i]! < 0 ? ends[i]! + dim : ends[i]!;
        if (step > 0) {
          s = clamp(s, 0, dim);
          e = clamp(e, 0, dim);
          out[a] = Math.max(0, Math.ceil((e - s) / step));
        } else {
          s = clamp(s, 0, dim - 1);
          e = clamp(e, -1, dim - 1);
          out[a] = Math.max(0, Math.ceil((s - e) / -step));
        }
      });
      return [out];
    }
    default:
      return null;
  }
}

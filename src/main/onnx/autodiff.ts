/**
 * Reverse-mode differentiation of a graph written with GraphBuilder: appends to the same graph the
 * nodes that compute d(loss)/d(value) for the chosen values, one rule per operator, so that ONNX
 * Runtime (which has no training API in its Node package) runs a training step's backward pass
 * with the same fast CPU kernels as its forward pass.
 *
 * Only the operators the U-Net graph uses are differentiable here; a node on the gradient path
 * with another operator is an error that names it. Every rule is written with standard opset-17
 * operators and needs the static shapes GraphBuilder infers (build the graph for a fixed batch).
 * The rules' correctness is held against tfjs's gradients in test/onnx/autodiff.test.ts.
 */
import type { GraphBuilder, NodeRecord } from './graph';

/** The inverse of a permutation. */
function inverse(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

const swapLast = (rank: number) => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

export interface Backward {
  /** Gradient value of each requested value (in the graph now). */
  grads: Map<string, string>;
}

/**
 * Appends the backward pass: `seeds` gives d(loss)/d(value) for some values (e.g. the network's
 * output), and the result holds d(loss)/d(v) for every v in `wrt`. A value in `wrt` that the seeds
 * do not reach is an error (its gradient would silently be zero).
 */
export function appendBackward(g: GraphBuilder, seeds: Map<string, string>, wrt: readonly string[]): Backward {
  const shape = (v: string): number[] => {
    const s = g.shapes.get(v);
    if (!s) throw new Error(`autodiff: no static shape for '${v}' (build the graph with a fixed batch)`);
    return s;
  };
  const constant = (v: string): number[] => {
    const c = g.constants.get(v);
    if (!c) throw new Error(`autodiff: '${v}' is not a constant`);
    return c;
  };

  // Which values depend on a differentiated one: only those need gradients.
  const live = new Set(wrt);
  for (const n of g.records) if (n.inputs.some((i) => live.has(i))) n.outputs.forEach((o) => live.add(o));

  const parts = new Map<string, string[]>();
  const add = (v: string, grad: string) => {
    if (!live.has(v)) return;
    if (!parts.has(v)) parts.set(v, []);
    parts.get(v)!.push(grad);
  };
  const total = (v: string): string | null => {
    const ps = parts.get(v);
    if (!ps?.length) return null;
    // Summed once, in the order the contributions arrived (a fixed order: the graph's).
    let sum = ps[0]!;
    for (let k = 1; k < ps.length; k++) sum = g.op('Add', [sum, ps[k]!], {}, `grad.sum`);
    ps.splice(0, ps.length, sum);
    return sum;
  };
  for (const [v, grad] of seeds) add(v, grad);
  let oneValue: string | null = null;
  const one = () => (oneValue ??= g.floats('grad.one', [1], []));

  /** Sums a broadcast gradient back to the operand's shape. */
  const unbroadcast = (grad: string, target: string): string => {
    const gs = shape(grad);
    const ts = shape(target);
    if (gs.join('x') === ts.join('x')) return grad;
    const lead = gs.length - ts.length;
    const axes: number[] = [];
    gs.forEach((d, i) => {
      if (i < lead || (ts[i - lead] === 1 && d !== 1)) axes.push(i);
    });
    let r = g.op('ReduceSum', [grad, g.ints('grad.axes', axes)], { keepdims: 1 });
    if (lead > 0 || shape(r).join('x') !== ts.join('x')) r = g.op('Reshape', [r, g.ints('grad.shape', ts)]);
    return r;
  };

  const rule = (n: NodeRecord, dys: (string | null)[]): void => {
    const [a, b, c] = n.inputs;
    const dy = dys[0]!;
    const y = n.outputs[0]!;
    switch (n.type) {
      case 'Identity':
        add(a!, dy);
        return;
      case 'Add':
        if (live.has(a!)) add(a!, unbroadcast(dy, a!));
        if (live.has(b!)) add(b!, unbroadcast(dy, b!));
        return;
      case 'Sub':
        if (live.has(a!)) add(a!, unbroadcast(dy, a!));
        if (live.has(b!)) add(b!, unbroadcast(g.op('Neg', [dy]), b!));
        return;
      case 'Mul':
        if (live.has(a!)) add(a!, unbroadcast(g.op('Mul', [dy, b!]), a!));
        if (live.has(b!)) add(b!, unbroadcast(g.op('Mul', [dy, a!]), b!));
        return;
      case 'Sigmoid': {
        // y' = y (1 - y), from the output: nothing recomputed.
        add(a!, g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [one(), y])])]));
        return;
      }
      case 'Relu':
        // y >= 0, so sign(y) is the step function (0 at 0, as tfjs's ReLU gradient).
        add(a!, g.op('Mul', [dy, g.op('Sign', [y])]));
        return;
      case 'Softmax': {
        const axis = (n.attrs['axis'] as number | undefined) ?? -1;
        if (axis !== -1 && axis !== shape(y).length - 1) throw new Error('autodiff: Softmax is differentiated over its last axis only');
        const dot = g.op('ReduceSum', [g.op('Mul', [dy, y]), g.ints('grad.axes', [-1])], { keepdims: 1 });
        add(a!, g.op('Mul', [y, g.op('Sub', [dy, dot])]));
        return;
      }
      case 'Transpose':
        add(a!, g.op('Transpose', [dy], { perm: inverse(n.attrs['perm'] as number[]) }));
        return;
      case 'Reshape':
        add(a!, g.op('Reshape', [dy, g.ints('grad.shape', shape(a!))]));
        return;
      case 'Concat': {
        const axis = n.attrs['axis'] as number;
        const sizes = n.inputs.map((i) => shape(i)[axis < 0 ? axis + shape(i).length : axis]!);
        const pieces = g.opN('Split', [dy, g.ints('grad.split', sizes)], sizes.length, { axis });
        n.inputs.forEach((i, k) => add(i, pieces[k]!)); // a piece of a constant input stays unused
        return;
      }
      case 'Split': {
        const filled = dys.map((d, k) => d ?? g.floats('grad.zeros', new Array(shape(n.outputs[k]!).reduce((p, q) => p * q, 1)).fill(0), shape(n.outputs[k]!)));
        add(a!, g.op('Concat', filled, { axis: n.attrs['axis'] as number }));
        return;
      }
      case 'Gemm': {
        if (n.attrs['transA'] || n.attrs['transB'] || n.attrs['alpha'] !== undefined || n.attrs['beta'] !== undefined) {
          throw new Error('autodiff: Gemm is differentiated without transA/transB/alpha/beta only');
        }
        if (live.has(a!)) add(a!, g.op('Gemm', [dy, b!], { transB: 1 }));
        if (live.has(b!)) add(b!, g.op('Gemm', [a!, dy], { transA: 1 }));
        if (c && live.has(c)) add(c, unbroadcast(dy, c));
        return;
      }
      case 'MatMul': {
        const ra = shape(a!).length;
        const rb = shape(b!).length;
        if (ra < 2 || ra !== rb) throw new Error('autodiff: MatMul is differentiated for operands of equal rank >= 2 only');
        if (live.has(a!)) add(a!, unbroadcast(g.op('MatMul', [dy, g.op('Transpose', [b!], { perm: swapLast(rb) })]), a!));
        if (live.has(b!)) add(b!, unbroadcast(g.op('MatMul', [g.op('Transpose', [a!], { perm: swapLast(ra) }), dy]), b!));
        return;
      }
      case 'Resize': {
        // Nearest 2x upsampling, floor rounding: each input pixel feeds a 2x2 block.
        const scales = constant(n.inputs[2]!);
        if (n.attrs['mode'] !== 'nearest' || scales.join(',') !== '1,1,2,2') throw new Error('autodiff: Resize is differentiated for nearest 2x upsampling only');
        const [N, C, H, W] = shape(a!);
        const blocks = g.op('Reshape', [dy, g.ints('grad.shape', [N!, C!, H!, 2, W!, 2])]);
        add(a!, g.op('ReduceSum', [blocks, g.ints('grad.axes', [3, 5])], { keepdims: 0 }));
        return;
      }
      case 'InstanceNormalization':
        instanceNormRule(n, dy);
        return;
      case 'Conv':
        convRule(n, dy);
        return;
      default:
        throw new Error(`autodiff: no gradient rule for ${n.type} (node ${y})`);
    }
  };

  /**
   * y = (x - mean) / sqrt(var + eps) over the spatial axes, with unit scale and zero shift (the
   * U-Net applies its affine map after): dx = (dy - mean(dy) - y mean(dy y)) / sqrt(var + eps).
   */
  const instanceNormRule = (n: NodeRecord, dy: string) => {
    const [x, scale, bias] = n.inputs;
    if (live.has(scale!) || live.has(bias!)) throw new Error('autodiff: InstanceNormalization is differentiated with constant scale and bias only');
    const ones = g.constants.get(scale!);
    const zeros = g.constants.get(bias!);
    if (!ones?.every((v) => v === 1) || !zeros?.every((v) => v === 0)) throw new Error('autodiff: InstanceNormalization needs unit scale and zero bias');
    const y = n.outputs[0]!;
    const rank = shape(x!).length;
    const axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
    const mean = (v: string) => g.op('ReduceMean', [v], { axes, keepdims: 1 });
    const centred = g.op('Sub', [x!, mean(x!)]);
    const variance = mean(g.op('Mul', [centred, centred]));
    const eps = g.floats('grad.in_eps', [(n.attrs['epsilon'] as { value: number } | undefined)?.value ?? 1e-5], []);
    const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, eps])])]);
    const inner = g.op('Sub', [g.op('Sub', [dy, mean(dy)]), g.op('Mul', [y, mean(g.op('Mul', [dy, y]))])]);
    add(x!, g.op('Mul', [inner, rstd]));
  };

  /**
   * dW[o, i, a, b] = sum over n, y, x of dy[n, o, y, x] * xpad[n, i, s y + a, s x + b], as matrix
   * products with a long inner dimension (N Ho Wo) instead of ORT's convolution with dy as the
   * kernel, which ran 2-3x slower (a kernel as large as the image). ORT has no im2col, so:
   * - stride 1: on the padded grid flattened to [C, N Hp Wp], the tap (a, b) is the contiguous
   *   window at offset a Wp + b, and dy placed on the same grid (zeros at the padding) lines up with
   *   it; so each tap is one contiguous Slice and one product [Cout, L] x [L, Cin];
   * - stride s > 1: each tap is a strided Slice of the padded input.
   * Both lay the input out as [Cin, N, H, W] (batch next to space), so views flatten without
   * another transpose.
   */
  const kernelGradient = (x: string, dy: string, K: number, s: number, p: number): string => {
    const [N, Cin, H, W] = shape(x);
    const [, Cout, Ho, Wo] = shape(dy);
    const flat = (v: string, rows: number) => g.op('Reshape', [v, g.ints('grad.shape', [rows, -1])]);
    let xs = g.op('Transpose', [x], { perm: [1, 0, 2, 3] }); // [Cin, N, H, W]
    if (p > 0) xs = g.op('Pad', [xs, g.ints('grad.pads', [0, 0, p, p, 0, 0, p, p])]);
    const dyT = g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }); // [Cout, N, Ho, Wo]
    const taps: string[] = [];
    if (s === 1) {
      const Hp = H! + 2 * p;
      const Wp = W! + 2 * p;
      if (Hp - Ho! !== K - 1 || Wp - Wo! !== K - 1) throw new Error('autodiff: stride-1 Conv must keep the size (pad (k-1)/2)');
      const xFlat = flat(xs, Cin!);
      const dyGrid = K > 1 ? g.op('Pad', [dyT, g.ints('grad.pads', [0, 0, 0, 0, 0, 0, K - 1, K - 1])]) : dyT;
      const L = N! * Hp * Wp - ((K - 1) * Wp + (K - 1));
      const window = (v: string, offset: number) =>
        K === 1 ? v : g.op('Slice', [v, g.ints('grad.starts', [offset]), g.ints('grad.ends', [offset + L]), g.ints('grad.axes', [1])]);
      const dyL = window(flat(dyGrid, Cout!), 0);
      const views: string[] = [];
      for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) views.push(window(xFlat, a * Wp + b));
      // One product with all taps stacked ([k k Cin, L], contiguous copies): far better shaped for
      // the GEMM than k*k products with Cin columns each.
      const stacked = views.length === 1 ? views[0]! : g.op('Concat', views, { axis: 0 });
      taps.push(g.op('MatMul', [stacked, g.op('Transpose', [dyL], { perm: [1, 0] })], {}, 'grad.conv_kernel'));
    } else {
      const dyFlat = flat(dyT, Cout!);
      for (let a = 0; a < K; a++) {
        for (let b = 0; b < K; b++) {
          const view = g.op('Slice', [xs, g.ints('grad.starts', [a, b]), g.ints('grad.ends', [a + s * (Ho! - 1) + 1, b + s * (Wo! - 1) + 1]), g.ints('grad.axes', [2, 3]), g.ints('grad.steps', [s, s])]);
          taps.push(g.op('MatMul', [flat(view, Cin!), g.op('Transpose', [dyFlat], { perm: [1, 0] })], {}, 'grad.conv_kernel'));
        }
      }
    }
    // [(a, b, i), Cout] -> [k, k, Cin, Cout] -> [Cout, Cin, k, k]
    const byTap = g.op('Reshape', [taps.length === 1 ? taps[0]! : g.op('Concat', taps, { axis: 0 }), g.ints('grad.shape', [K, K, Cin!, Cout!])]);
    return g.op('Transpose', [byTap], { perm: [3, 2, 0, 1] });
  };

  /**
   * Conv (group 1, square kernel k, stride s, symmetric pad p, NCHW):
   * - input gradient: for s = 1 a convolution of dy with the flipped, transposed kernel and pad
   *   k-1-p (ORT's fast direct convolution); for s > 1 a ConvTranspose with the output padding
   *   that restores the input size;
   * - weight gradient: kernelGradient;
   * - bias gradient: dy summed over batch and space.
   */
  const convRule = (n: NodeRecord, dy: string) => {
    const [x, w, bias] = n.inputs;
    const k = (n.attrs['kernel_shape'] as number[] | undefined) ?? shape(w!).slice(2);
    const strides = (n.attrs['strides'] as number[] | undefined) ?? [1, 1];
    const pads = (n.attrs['pads'] as number[] | undefined) ?? [0, 0, 0, 0];
    if ((n.attrs['group'] ?? 1) !== 1 || n.attrs['dilations'] !== undefined) throw new Error('autodiff: Conv is differentiated for group 1, no dilation only');
    if (k[0] !== k[1] || strides[0] !== strides[1] || new Set(pads).size !== 1) throw new Error('autodiff: Conv is differentiated for square kernels, equal strides and symmetric pads only');
    const K = k[0]!;
    const s = strides[0]!;
    const p = pads[0]!;
    const [, , H, W] = shape(x!);
    const [, , Ho, Wo] = shape(dy);
    if (live.has(x!)) {
      if (s === 1) {
        let flipped = g.op('Transpose', [w!], { perm: [1, 0, 2, 3] });
        if (K > 1) {
          flipped = g.op('Slice', [flipped, g.ints('grad.starts', [-1, -1]), g.ints('grad.ends', [-K - 1, -K - 1]), g.ints('grad.axes', [2, 3]), g.ints('grad.steps', [-1, -1])]);
        }
        const q = K - 1 - p;
        add(x!, g.op('Conv', [dy, flipped], { kernel_shape: [K, K], pads: [q, q, q, q] }, 'grad.conv_input'));
      } else {
        const outPad = [H! - ((Ho! - 1) * s + K - 2 * p), W! - ((Wo! - 1) * s + K - 2 * p)];
        add(x!, g.op('ConvTranspose', [dy, w!], { kernel_shape: [K, K], strides: [s, s], pads: [p, p, p, p], output_padding: outPad }));
      }
    }
    if (live.has(w!)) add(w!, kernelGradient(x!, dy, K, s, p));
    if (bias && live.has(bias)) add(bias, g.op('ReduceSum', [dy, g.ints('grad.axes', [0, 2, 3])], { keepdims: 0 }));
  };

  const records = g.records.slice();
  for (let i = records.length - 1; i >= 0; i--) {
    const n = records[i]!;
    if (!n.outputs.some((o) => live.has(o))) continue;
    const dys = n.outputs.map((o) => total(o));
    if (dys.every((d) => d === null)) continue;
    if (!n.inputs.some((inp) => live.has(inp))) continue;
    rule(n, dys);
  }

  const grads = new Map<string, string>();
  for (const v of wrt) {
    const grad = total(v);
    if (!grad) throw new Error(`autodiff: the loss does not depend on '${v}'`);
    grads.set(v, grad);
  }
  return { grads };
}

/**
 * One training step of the feature classifier (architecture.ts) as an ONNX graph, so ONNX Runtime
 * trains it (the first evaluation of a fresh data dir waits for this network): the forward with the
 * parameters as inputs in the tfjs layout, the mean softmax cross-entropy against one-hot labels,
 * and the gradient of every parameter (onnx/autodiff.ts). Inputs: the parameters by name, x
 * [B, 28, 28, 1], onehot [B, 10]; outputs: loss [] and `grad.<param>`.
 */
import { appendBackward } from '../../onnx/autodiff';
import { GraphBuilder } from '../../onnx/graph';
import { CLASSIFIER_CLASSES, CLASSIFIER_SIDE, PARAM_SHAPES } from './architecture';

export interface ClassifierTrainingGraph {
  bytes: Uint8Array;
  params: { name: string; shape: number[] }[];
}

export function classifierTrainingGraph(batch: number): ClassifierTrainingGraph {
  const g = new GraphBuilder();
  const params = PARAM_SHAPES.map((p) => ({ name: p.name, shape: [...p.shape] }));
  for (const p of params) g.input(p.name, p.shape);
  const x = g.input('x', [batch, CLASSIFIER_SIDE, CLASSIFIER_SIDE, 1]);
  const onehot = g.input('onehot', [batch, CLASSIFIER_CLASSES]);

  // conv3x3 + ReLU blocks in NCHW (the kernel from [kh, kw, cin, cout] to [cout, cin, kh, kw]).
  const block = (h: string, i: number, stride: number) => {
    const w = g.op('Transpose', [`conv${i}/w`], { perm: [3, 2, 0, 1] });
    return g.op('Relu', [g.op('Conv', [h, w, `conv${i}/b`], { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1] })]);
  };
  const h3 = block(block(block(g.op('Transpose', [x], { perm: [0, 3, 1, 2] }), 1, 1), 2, 2), 3, 2);
  // Flattened in NHWC order, as tfjs flattens [N, 7, 7, 64].
  const flat = g.op('Reshape', [g.op('Transpose', [h3], { perm: [0, 2, 3, 1] }), g.ints('flat', [batch, -1])]);
  const pooled = g.op('Relu', [g.op('Gemm', [flat, 'fc1/w', 'fc1/b'])]);
  const logits = g.op('Gemm', [pooled, 'fc2/w', 'fc2/b'], {}, 'logits');

  const picked = g.op('ReduceSum', [g.op('Mul', [g.op('LogSoftmax', [logits], { axis: 1 }), onehot]), g.ints('classes', [1])], { keepdims: 0 });
  g.output(g.op('Neg', [g.op('ReduceMean', [picked], { axes: [0], keepdims: 0 })]), 'loss', []);
  // d loss / d logits = (softmax - onehot) / B.
  const dLogits = g.op('Mul', [g.op('Sub', [g.op('Softmax', [logits], { axis: 1 }), onehot]), g.floats('inv_batch', [1 / batch], [])]);
  const { grads } = appendBackward(g, new Map([[logits, dLogits]]), params.map((p) => p.name));
  for (const p of params) g.output(grads.get(p.name)!, `grad.${p.name}`, p.shape);
  return { bytes: g.encode({ producer: 'exposure-lab', producerVersion: 'classifier-graph 1', graphName: 'classifier_training_step' }), params };
}

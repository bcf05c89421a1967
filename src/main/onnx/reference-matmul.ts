/**
 * The fastest float32 matrix product Exposure Lab can run on this machine: ONNX Runtime's MatMul
 * (MLAS) on a given number of threads. `xlab bench` divides throughputs by it, so a ratio says how
 * close a workload comes to what the cores can do, not how fast a slower library is.
 *
 * The left operand is an input (fresh data every call, so nothing can be folded at load), the
 * right one an initializer, and the graph returns the product's sum: the timing is the product,
 * plus one pass over it, not the copying of n x n results back to JavaScript.
 */
import { GraphBuilder } from './graph';
import { loadOnnxRuntime, onnxRuntimeLoadError } from './session';
import { Stream } from '../rng';

export async function onnxMatmulGflops(n: number, threads: number, seconds: number): Promise<number> {
  const ort = await loadOnnxRuntime();
  if (!ort) throw new Error(`the reference matrix product needs onnxruntime-node (${onnxRuntimeLoadError() ?? 'unknown error'})`);
  const g = new GraphBuilder();
  const a = g.input('a', [n, n]);
  const b = g.weight('b', new Stream(0, 'bench-reference', 'b').fillNormal(new Float32Array(n * n)), [n, n]);
  g.output(g.op('ReduceSum', [g.op('MatMul', [a, b])], { keepdims: 0 }), 'sum', []);
  const session = await ort.InferenceSession.create(g.encode({ producer: 'exposure-lab', producerVersion: 'bench', graphName: 'reference_matmul' }), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  try {
    const feeds = { a: new ort.Tensor('float32', new Stream(0, 'bench-reference', 'a').fillNormal(new Float32Array(n * n)), [n, n]) };
    await session.run(feeds);
    let reps = 0;
    const t0 = performance.now();
    while (reps < 3 || performance.now() - t0 < seconds * 1000) {
      await session.run(feeds);
      reps++;
    }
    return (2 * n * n * n * reps) / ((performance.now() - t0) / 1000) / 1e9;
  } finally {
    await session.release();
  }
}

/**
 * The reference that `xlab bench` divides its throughputs by: a 1024 x 1024 float32 matrix product
 * on the active backend, timed in the same run. Here so that training workers can measure it on
 * every core at once, as well as the main thread on one.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Runs fn repeatedly for at least minSeconds (and minReps times); returns seconds per call. */
export async function timeIt(fn: () => void | Promise<void>, minSeconds: number, minReps: number): Promise<number> {
  let reps = 0;
  const t0 = performance.now();
  while (reps < minReps || performance.now() - t0 < minSeconds * 1000) {
    await fn();
    reps++;
  }
  return (performance.now() - t0) / 1000 / reps;
}

/** GFLOP/s of a large square float32 matrix product on the active backend. */
export async function referenceGflops(n = 1024, seconds = 3): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  tf.matMul(a, b).dispose();
  const sec = await timeIt(
    () => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    },
    seconds,
    3,
  );
  a.dispose();
  b.dispose();
  return (2 * n * n * n) / sec / 1e9;
}

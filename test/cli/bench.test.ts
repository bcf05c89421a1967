/**
 * `xlab bench --json` end to end on the smallest preset with very short timings: what it reports
 * and that its figures are consistent with one another (the ratios are the throughputs over the
 * reference of the same thread count, GFLOP/s are images/s times the preset's FLOPs). The figures
 * themselves are machine- and load-dependent: no timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { presetByName } from '../../src/main/nn/presets';
import { forwardFlops } from '../../src/main/nn/unet';
import type { BenchResult } from '../../src/main/cli/bench';
import { runXlab } from '../jobs/harness';

describe('xlab bench', () => {
  it('reports both engines on 1 and 2 threads against the ONNX Runtime matmul reference', async () => {
    const r = await runXlab(['bench', '--preset', 'tiny-test', '--batch', '4', '--threads', '1,2', '--seconds', '0.2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const b = JSON.parse(r.stdout) as BenchResult;
    expect(b.results.map((x) => `${x.engine}/${x.threads}`).sort()).toEqual(['onnx/1', 'onnx/2', 'tfjs/1', 'tfjs/2']);
    expect(Object.keys(b.reference_gflops_by_threads).sort()).toEqual(['1', '2']);
    const fwdFlops = forwardFlops({ ...presetByName('tiny-test'), imageSize: 16, inChannels: 1 });
    for (const x of b.results) {
      const ref = b.reference_gflops_by_threads[String(x.threads)]!;
      expect(ref).toBeGreaterThan(0);
      expect(x.train_ratio).toBeCloseTo(x.train_gflops / ref, 2);
      expect(x.forward_ratio).toBeCloseTo(x.forward_gflops / ref, 2);
      expect(x.train_gflops).toBeCloseTo((3 * fwdFlops * x.train_img_per_s) / 1e9, 1);
      expect(x.forward_gflops).toBeCloseTo((fwdFlops * x.forward_img_per_s) / 1e9, 1);
      expect(x.batch).toBe(4);
    }
    // The headline is the engine 'auto' trains with, on every core.
    expect(b.engine).toBe('onnx');
    expect(b.threads).toBe(2);
    expect(b.reference_gflops).toBe(b.reference_gflops_by_threads['2']);
    expect(b.train_ratio).toBe(b.results.find((x) => x.engine === 'onnx' && x.threads === 2)!.train_ratio);
  }, 120_000);
});

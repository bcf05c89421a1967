import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/main/rng';
import { inceptionScore } from '../../src/main/metrics/inception-score';

describe('Inception Score', () => {
  it('confident, uniformly spread one-hot predictions score the number of classes', () => {
    const classes = 10;
    const n = 10 * classes * 7; // every split holds each class 7 times
    const logits = new Float32Array(n * classes).fill(-1e4);
    for (let i = 0; i < n; i++) logits[i * classes + (i % classes)] = 1e4;
    const r = inceptionScore({ data: logits, rows: n, cols: classes });
    expect(r.mean).toBeCloseTo(classes, 10);
    expect(r.std).toBeCloseTo(0, 10);
    expect(r.scores).toHaveLength(10);
  });

  it('identical predictions score 1', () => {
    const s = new Stream(4, 'logits');
    const row = Array.from({ length: 7 }, () => s.normal());
    const n = 50;
    const logits = new Float32Array(n * 7).map((_, i) => row[i % 7]!);
    expect(inceptionScore({ data: logits, rows: n, cols: 7 }, { splits: 5 }).mean).toBeCloseTo(1, 12);
  });

  it('matches exp(mean KL) written out, with uneven splits', () => {
    const s = new Stream(5, 'probs');
    const [n, c, splits] = [53, 5, 4];
    const logits = new Float64Array(n * c).map(() => 2 * s.normal());
    const p = Array.from({ length: n }, (_, i) => {
      const e = Array.from({ length: c }, (_, j) => Math.exp(logits[i * c + j]!));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    });
    const want: number[] = [];
    for (let k = 0; k < splits; k++) {
      const part = p.slice(Math.floor((k * n) / splits), Math.floor(((k + 1) * n) / splits));
      const py = Array.from({ length: c }, (_, j) => part.reduce((a, row) => a + row[j]!, 0) / part.length);
      const kl = part.reduce((a, row) => a + row.reduce((b, v, j) => b + v * Math.log(v / py[j]!), 0), 0) / part.length;
      want.push(Math.exp(kl));
    }
    const r = inceptionScore({ data: logits, rows: n, cols: c }, { splits });
    r.scores.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
    const probs = Float64Array.from(p.flat());
    expect(inceptionScore({ data: probs, rows: n, cols: c }, { splits, probabilities: true }).mean).toBeCloseTo(r.mean, 12);
  });
});

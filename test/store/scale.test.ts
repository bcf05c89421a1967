/**
 * Sizes the UI really meets: a history of 10,000 runs and a 100,000-point loss curve. Timings are
 * printed for the record, never asserted (shared CI machines are too noisy for that).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunStatus, type Store, openStore } from '../../src/main/store/store';

let dir: string;
let store: Store;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-scale-'));
  store = openStore(dir);
});
afterAll(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function time<T>(label: string, fn: () => T): T {
  const t0 = performance.now();
  const out = fn();
  console.log(`[store] ${label}: ${(performance.now() - t0).toFixed(1)} ms`);
  return out;
}

describe('at scale', () => {
  it('lists 10,000 runs', () => {
    const N = 10_000;
    const T0 = 1_700_000_000_000;
    const statuses: RunStatus[] = ['queued', 'running', 'done', 'failed'];
    const exp = store.createExperiment({ name: 'sweep' });
    const ids = time(`create ${N} runs (one transaction)`, () =>
      store.transaction(() =>
        Array.from(
          { length: N },
          (_, i) =>
            store.createRun({
              name: `run ${String(i).padStart(5, '0')}`,
              kind: 'train',
              objective: i % 2 ? 'adm-ip' : 'adm',
              gamma: i % 2 ? 0.1 : null,
              dataset: 'mnist',
              config: { lr: 2e-4, batch: 64, i, model: { channels: [32, 64, 64], attention: [16] } },
              seed: i,
              status: statuses[i % 4],
              experimentId: i % 10 === 0 ? exp.id : null,
              createdAt: T0 + i * 1000,
            }).id,
        ),
      ),
    );

    const all = time(`listRuns() -> ${N} rows`, () => store.listRuns());
    expect(all.length).toBe(N);
    expect(all[0]!.id).toBe(ids[N - 1]);
    expect(all[N - 1]!.id).toBe(ids[0]);
    for (let i = 1; i < N; i++) expect(all[i - 1]!.createdAt).toBeGreaterThan(all[i]!.createdAt);
    expect(all[N - 1]!.config).toEqual({ lr: 2e-4, batch: 64, i: 0, model: { channels: [32, 64, 64], attention: [16] } });

    const page = time('listRuns({ status: done, limit: 50, offset: 100 })', () =>
      store.listRuns({ status: 'done', limit: 50, offset: 100 }),
    );
    expect(page.length).toBe(50);
    expect(page.every((r) => r.status === 'done')).toBe(true);
    // done runs are i = 2, 6, 10, ...; newest first; skip 100
    expect(page[0]!.name).toBe(`run ${String(N - 2 - 100 * 4).padStart(5, '0')}`);

    const inExp = time('listRuns({ experimentId, limit: 100 })', () => store.listRuns({ experimentId: exp.id, limit: 100 }));
    expect(inExp.length).toBe(100);
    expect(inExp.every((r) => r.experimentId === exp.id)).toBe(true);

    const found = time('listRuns({ search: "run 0424" })', () => store.listRuns({ search: 'run 0424' }));
    expect(found.map((r) => r.name).sort()).toEqual(
      Array.from({ length: 10 }, (_, k) => `run 0424${k}`),
    );
    expect(time('countRuns({ status: failed })', () => store.countRuns({ status: 'failed' }))).toBe(N / 4);
  });

  it('returns a 100,000-point series', () => {
    const run = store.createRun({ name: 'long', kind: 'train', config: {}, seed: 1 });
    const N = 100_000;
    const points = Array.from({ length: N }, (_, i) => ({
      step: i,
      name: 'loss',
      value: Math.exp(-i / 30_000) + 0.01 * Math.sin(i),
      wallTime: 1.75e12 + i * 37.5,
    }));
    time(`appendMetrics ${N} points (one call)`, () => store.appendMetrics(run.id, points));
    // a second series in the same run must not leak into the first
    store.appendMetrics(run.id, Array.from({ length: 1000 }, (_, i) => ({ step: i, name: 'lr', value: 1e-4 })));

    const s = time(`metricSeries(${N} points)`, () => store.metricSeries(run.id, 'loss'));
    expect(s.total).toBe(N);
    expect(s.step.length).toBe(N);
    for (let i = 0; i < N; i++) {
      if (s.step[i] !== i || s.value[i] !== points[i]!.value || s.wallTime[i] !== points[i]!.wallTime) {
        throw new Error(`point ${i} differs: ${s.step[i]} ${s.value[i]} ${s.wallTime[i]}`);
      }
    }
    const d = time(`metricSeries(${N} points, maxPoints 2000)`, () =>
      store.metricSeries(run.id, 'loss', { maxPoints: 2000 }),
    );
    expect(d.step.length).toBe(2000);
    expect(d.step[0]).toBe(0);
    expect(d.step[1999]).toBe(N - 1);
    const tail = time('metricSeries(fromStep 90,000)', () => store.metricSeries(run.id, 'loss', { fromStep: 90_000 }));
    expect(tail.total).toBe(10_000);
    expect(tail.step[0]).toBe(90_000);
  });
});

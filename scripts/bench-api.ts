/**
 * Latency of the HTTP API at the sizes the UI meets: a history of 10,000 runs and a
 * 100,000-point loss curve, in a temp store. Not a test (timings are machine- and load-dependent):
 *
 *   node --import tsx scripts/bench-api.ts [--runs 10000] [--points 100000] [--repeat 20]
 *
 * Each request is timed from send to last byte received (the response is not parsed, so the
 * client's JSON.parse is not counted); the store call alone is timed too, to show where the time
 * goes. Prints one JSON object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrainConfig } from '../src/shared/config';
import { createLabApi } from '../src/main/api/lab-api';
import { startServer } from '../src/main/server';
import { openStore } from '../src/main/store/store';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const RUNS = arg('--runs', 10_000);
const POINTS = arg('--points', 100_000);
const REPEAT = arg('--repeat', 20);

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { median: r(q(0.5)), p95: r(q(0.95)), min: r(s[0]!), max: r(s[s.length - 1]!) };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-bench-api-'));
  const store = openStore(dir);
  try {
    // Realistic rows: every run carries a full parsed training config, a machine record and tags.
    const t0 = performance.now();
    const statuses = ['done', 'done', 'failed', 'interrupted', 'running', 'queued'] as const;
    const exp = store.createExperiment({ name: 'bench' });
    let longRun = '';
    store.transaction(() => {
      for (let i = 0; i < RUNS; i++) {
        const objective = i % 2 ? 'adm-ip' : 'adm';
        const config = parseTrainConfig({ objective, seed: i, steps: 2000 + (i % 7) * 1000, preset: 'bench-s-mnist16' });
        const run = store.createRun({
          name: `${objective} seed ${i}`,
          kind: 'train',
          experimentId: i % 10 === 0 ? exp.id : null,
          objective,
          gamma: i % 2 ? 0.1 : null,
          dataset: 'mnist',
          preset: config.preset,
          config: { ...config },
          seed: i,
          status: statuses[i % statuses.length],
          stepsDone: 1000,
          stepsPlanned: config.steps,
          createdAt: 1_700_000_000_000 + i * 60_000,
          backend: 'wasm',
          machine: { hostname: 'bench', platform: 'linux', arch: 'x64', cpuCount: 2 },
          appVersion: '0.1.0',
          gitCommit: '0123456789abcdef0123456789abcdef01234567',
        });
        if (i % 3 === 0) store.tag(run.id, i % 2 ? 'ip' : 'baseline');
        if (i === RUNS - 1) longRun = run.id;
      }
    });
    const seedRunsMs = performance.now() - t0;
    const t1 = performance.now();
    const points = Array.from({ length: POINTS }, (_, s) => ({
      step: s + 1,
      name: 'loss',
      value: 0.05 + Math.exp(-s / 20_000) + 0.01 * Math.sin(s),
      wallTime: 1.75e9 + s * 0.4,
    }));
    store.appendMetrics(longRun, points);
    const seedMetricsMs = performance.now() - t1;

    const api = createLabApi({ store, dataDir: dir });
    const server = await startServer({ api, store, dataDir: dir, port: 0, rendererDir: null });
    const url = (m: string) => `${server.url}api/${m}`;

    async function timeRequest(method: string, params: object): Promise<{ ms: number; bytes: number; status: number }> {
      const t = performance.now();
      const res = await fetch(url(method), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(params),
      });
      const body = await res.arrayBuffer();
      return { ms: performance.now() - t, bytes: body.byteLength, status: res.status };
    }

    async function bench(label: string, method: string, params: object, direct: () => unknown) {
      for (let i = 0; i < 3; i++) await timeRequest(method, params); // warm-up: statement cache, JIT
      const http: number[] = [];
      let bytes = 0;
      for (let i = 0; i < REPEAT; i++) {
        const r = await timeRequest(method, params);
        if (r.status !== 200) throw new Error(`${label}: HTTP ${r.status}`);
        http.push(r.ms);
        bytes = r.bytes;
      }
      const store: number[] = [];
      for (let i = 0; i < Math.min(REPEAT, 10); i++) {
        const t = performance.now();
        direct();
        store.push(performance.now() - t);
      }
      return { label, http: stats(http), storeOnly: stats(store), responseBytes: bytes };
    }

    const results = [
      await bench('listRuns first page (50)', 'listRuns', { query: { limit: 50 } }, () => store.listRuns({ limit: 50 })),
      await bench(`listRuns all (${RUNS})`, 'listRuns', {}, () => store.listRuns()),
      await bench('listRuns filtered (status done, tag baseline, page 50)', 'listRuns', { query: { status: 'done', tag: 'baseline', limit: 50 } }, () =>
        store.listRuns({ status: 'done', tag: 'baseline', limit: 50 }),
      ),
      await bench(`metricSeries full (${POINTS} points)`, 'metricSeries', { query: { runId: longRun, name: 'loss' } }, () =>
        store.metricSeries(longRun, 'loss'),
      ),
      await bench('metricSeries downsampled (maxPoints 2000)', 'metricSeries', { query: { runId: longRun, name: 'loss', maxPoints: 2000 } }, () =>
        store.metricSeries(longRun, 'loss', { maxPoints: 2000 }),
      ),
      await bench('getRun', 'getRun', { runId: longRun }, () => store.getRun(longRun)),
    ];
    await server.close();
    api.close();
    process.stdout.write(
      JSON.stringify(
        {
          machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.versions.node, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
          runs: RUNS,
          points: POINTS,
          repeat: REPEAT,
          seedMs: { runs: Math.round(seedRunsMs), metrics: Math.round(seedMetricsMs) },
          unit: 'ms',
          results,
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();

/**
 * `xlab serve`'s HTTP API against a real store: queries, validation (400 naming the field, nothing
 * written), unknown routes, artifacts by opaque id only, server-sent events from a real training
 * job, host / origin checks, and the token that a non-loopback address requires.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabApi, type LabService } from '../../src/main/api/lab-api';
import { nodeJobForker } from '../../src/main/jobs/fork-node';
import { startSupervisor, type Supervisor } from '../../src/main/jobs/supervisor';
import { checkBindHost, startServer, type LabServer } from '../../src/main/server';
import { openStore, type Store } from '../../src/main/store/store';
import { removeTmpDirs, tinyConfig, tmpDataDir, waitFor } from '../jobs/harness';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: any;
}

/** node:http rather than fetch: fetch normalises '..' out of paths before sending them. */
function request(
  server: { port: number },
  method: string,
  rawPath: string,
  opts: { body?: string | object; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const headers: Record<string, string> = {
    ...(body !== undefined && typeof opts.body !== 'string' ? { 'Content-Type': 'application/json' } : {}),
    ...opts.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let json: unknown = undefined;
        try {
          json = JSON.parse(buf.toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: buf, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const call = (server: LabServer, method: string, params: object = {}) => request(server, 'POST', `/api/${method}`, { body: params });

let dir: string;
let store: Store;
let supervisor: Supervisor;
let api: LabService;
let server: LabServer;
let runIds: string[];
let gridArtifactId: string;
let gridBytes: Buffer;

beforeAll(async () => {
  dir = tmpDataDir('xlab-http-');
  store = openStore(dir);
  runIds = [0, 1, 2].map(
    (i) =>
      store.createRun({
        name: `run ${i}`,
        kind: 'train',
        objective: i === 1 ? 'adm-ip' : 'adm',
        config: { i },
        seed: i,
        status: 'done',
        createdAt: 1_700_000_000_000 + i * 1000,
      }).id,
  );
  store.appendMetrics(
    runIds[0]!,
    Array.from({ length: 1000 }, (_, s) => ({ step: s, name: 'loss', value: s === 500 ? NaN : 1 / (s + 1) })),
  );
  // A sample grid on disk, registered through a sample set: the only way the API names files.
  const samples = path.join(dir, 'runs', runIds[0]!, 'samples');
  fs.mkdirSync(samples, { recursive: true });
  gridBytes = Buffer.from('\x89PNG\r\n\x1a\nnot really a png but bytes all the same');
  fs.writeFileSync(path.join(samples, 'grid.png'), gridBytes);
  const set = store.addSampleSet({
    runId: runIds[0]!,
    sampler: { name: 'ddpm' },
    seed: 0,
    count: 4,
    gridPath: `runs/${runIds[0]}/samples/grid.png`,
  });
  gridArtifactId = set.gridArtifactId!;
  supervisor = startSupervisor({ store, dataDir: dir, concurrency: 1, fork: nodeJobForker(), pollMs: 200 });
  api = createLabApi({ store, dataDir: dir, supervisor });
  server = await startServer({ api, store, dataDir: dir, port: 0, rendererDir: null });
});

afterAll(async () => {
  await server?.close();
  await supervisor?.shutdown({ graceMs: 5000 });
  api?.close();
  store?.close();
  removeTmpDirs();
});

describe('queries', () => {
  it('lists runs newest first, with paging and without bulky fields', async () => {
    const all = await call(server, 'listRuns');
    expect(all.status).toBe(200);
    expect(all.json.total).toBe(3);
    expect(all.json.runs.map((r: { id: string }) => r.id)).toEqual([...runIds].reverse());
    expect(all.json.runs[0]).not.toHaveProperty('config');
    expect(all.json.runs[0]).not.toHaveProperty('dir');
    const page = await call(server, 'listRuns', { query: { limit: 2, offset: 1 } });
    expect(page.json).toMatchObject({ total: 3, offset: 1, limit: 2 });
    expect(page.json.runs.map((r: { id: string }) => r.id)).toEqual([runIds[1], runIds[0]]);
    const ip = await call(server, 'listRuns', { query: { search: 'adm-ip' } });
    expect(ip.json.runs.map((r: { id: string }) => r.id)).toEqual([runIds[1]]);
  });

  it('returns metric series, non-finite values as null, and downsampled on request', async () => {
    const s = await call(server, 'metricSeries', { query: { runId: runIds[0], name: 'loss' } });
    expect(s.status).toBe(200);
    expect(s.json.total).toBe(1000);
    expect(s.json.step).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(s.json.value[0]).toBe(1);
    expect(s.json.value[500]).toBeNull();
    expect(s.json.value[999]).toBeCloseTo(1 / 1000, 12);
    const d = await call(server, 'metricSeries', { query: { runId: runIds[0], name: 'loss', maxPoints: 100 } });
    expect(d.json.step.length).toBe(100);
    expect((await call(server, 'metricSeries', { query: { runId: 'nope0', name: 'loss' } })).status).toBe(404);
  });

  it('answers null for an unknown run and names artifacts by URL only', async () => {
    expect((await call(server, 'getRun', { runId: 'doesnotexist' })).json).toBeNull();
    const detail = await call(server, 'getRun', { runId: runIds[0] });
    expect(detail.json.metricNames).toEqual(['loss']);
    const sets = await call(server, 'listSampleSets', { runId: runIds[0] });
    expect(sets.json[0].gridArtifactId).toBe(gridArtifactId);
    expect(JSON.stringify(sets.json)).not.toContain('grid.png');
    expect((await call(server, 'artifactUrl', { artifactId: gridArtifactId })).json).toBe(`/artifacts/${gridArtifactId}`);
    expect((await call(server, 'artifactUrl', { artifactId: 'a' + '0'.repeat(24) })).json).toBeNull();
  });
});

describe('bad requests', () => {
  const snapshot = () => ({
    runs: store.countRuns(),
    jobs: store.listJobs().length,
    experiments: store.listExperiments().length,
    tags: store.listTags(),
    notes: store.listNotes(runIds[0]!).length,
  });

  it('get 400 with a message naming the field, and change nothing', async () => {
    const before = snapshot();
    const cases: [string, object, string][] = [
      ['startTraining', { config: tinyConfig({ steps: -5 }) }, 'config.steps'],
      ['startTraining', { config: tinyConfig(), options: { experimentId: 'x' } }, 'options.experimentId'],
      ['startTraining', { config: { ...tinyConfig(), objective: 'adm-xx' } }, 'config.objective'],
      ['createExperiment', { input: {} }, 'input.name'],
      ['tag', { runId: runIds[0], tag: '' }, 'tag'],
      ['addNote', { runId: runIds[0] }, 'text'],
      ['deleteRun', { runId: '../../etc' }, 'runId'],
      ['cancelJob', { jobId: 1.5 }, 'jobId'],
      ['listRuns', { query: { status: 'bogus' } }, 'query.status'],
      ['listRuns', { query: { limit: 0 } }, 'query.limit'],
      ['getRun', { runId: runIds[0], extra: 1 }, '"extra"'],
      ['metricSeries', { query: { runId: runIds[0] } }, 'query.name'],
      ['startSampling', { request: { runId: runIds[0], sampler: { kind: 'ddpm', steps: '../x' }, n: 4 } }, 'request.sampler.steps'],
    ];
    for (const [method, params, field] of cases) {
      const r = await call(server, method, params);
      expect(r.status, `${method} ${JSON.stringify(params)}`).toBe(400);
      expect(r.json.error.code).toBe('INVALID');
      expect(r.json.error.message).toContain(field);
    }
    const notJson = await request(server, 'POST', '/api/tag', { body: '{"runId":', headers: { 'Content-Type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.message).toMatch(/not valid JSON/);
    const array = await request(server, 'POST', '/api/tag', { body: '["x","y"]', headers: { 'Content-Type': 'application/json' } });
    expect(array.status).toBe(400);
    const form = await request(server, 'POST', '/api/createExperiment', { body: 'input=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const big = await request(server, 'POST', '/api/addNote', {
      body: JSON.stringify({ runId: runIds[0], text: 'x'.repeat(2 << 20) }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(big.status).toBe(413);
    // A page on another origin cannot drive the API (CSRF), nor can a DNS-rebinding host name.
    const cross = await request(server, 'POST', '/api/createExperiment', {
      body: { input: { name: 'from evil.example' } },
      headers: { Origin: 'http://evil.example' },
    });
    expect(cross.status).toBe(403);
    const rebound = await request(server, 'POST', '/api/createExperiment', {
      body: { input: { name: 'rebound' } },
      headers: { Host: 'evil.example:80' },
    });
    expect(rebound.status).toBe(403);
    expect(snapshot()).toEqual(before);
    // The same request, well-formed, does change things.
    expect((await call(server, 'tag', { runId: runIds[0], tag: 'ok' })).json).toEqual(['ok']);
    expect((await call(server, 'untag', { runId: runIds[0], tag: 'ok' })).json).toEqual([]);
  });

  it('unknown routes get 404, wrong methods 405', async () => {
    expect((await call(server, 'noSuchMethod')).status).toBe(404);
    expect((await call(server, 'constructor')).status).toBe(404);
    expect((await call(server, '__proto__')).status).toBe(404);
    expect((await request(server, 'POST', '/api/listRuns/extra', { body: {} })).status).toBe(404);
    expect((await request(server, 'GET', '/nowhere')).status).toBe(404);
    expect((await request(server, 'GET', '/api/listRuns')).status).toBe(405);
    expect((await request(server, 'DELETE', '/artifacts/' + gridArtifactId)).status).toBe(405);
    expect((await request(server, 'GET', '/api/info')).json).toMatchObject({ app: 'exposure-lab' });
  });
});

describe('artifacts', () => {
  it('serves a file by its opaque id', async () => {
    const r = await request(server, 'GET', `/artifacts/${gridArtifactId}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/png');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.compare(r.body, gridBytes)).toBe(0);
  });

  it("rejects '..', absolute paths, paths instead of ids and unknown ids", async () => {
    const rejected: [string, number][] = [
      ['/artifacts/../lab.sqlite', 400],
      ['/artifacts/%2e%2e/lab.sqlite', 400],
      ['/artifacts/..%2Flab.sqlite', 400],
      ['/artifacts/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', 400],
      ['/artifacts/%2Fetc%2Fpasswd', 400],
      ['/artifacts//etc/passwd', 404],
      ['/artifacts/etc/passwd', 404],
      [`/artifacts/runs%2F${runIds[0]}%2Fsamples%2Fgrid.png`, 400],
      ['/artifacts/lab.sqlite', 400],
      [`/artifacts/${gridArtifactId}/..`, 400],
      [`/artifacts/${gridArtifactId}%00`, 400],
      ['/artifacts/a' + 'f'.repeat(24), 404],
      ['/artifacts/', 404],
    ];
    for (const [p, status] of rejected) {
      const r = await request(server, 'GET', p);
      expect(r.status, p).toBe(status);
      expect(r.body.includes(Buffer.from('SQLite format'))).toBe(false);
    }
  });
});

describe('server-sent events', () => {
  it('deliver job-progress and job-status events of jobs started over HTTP (training, then sampling)', async () => {
    const events: any[] = [];
    const sse = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/api/events' }, resolve).on('error', reject);
    });
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    let buffer = '';
    sse.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (data) events.push(JSON.parse(data));
      }
    });
    try {
      const started = await call(server, 'startTraining', { config: tinyConfig({ steps: 3 }), options: { name: 'over http' } });
      expect(started.status).toBe(200);
      const jobId = started.json.job.id as number;
      await waitFor('a job-status done event', () =>
        events.some((e) => e.type === 'job-status' && e.jobId === jobId && (e.status === 'done' || e.status === 'failed')),
      );
      const progress = events.filter((e) => e.type === 'job-progress' && e.jobId === jobId);
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.at(-1)).toMatchObject({ runId: started.json.run.id, kind: 'train', step: 3, stepsPlanned: 3 });
      expect(typeof progress[0].loss).toBe('number');
      expect(events.some((e) => e.type === 'job-status' && e.jobId === jobId && e.status === 'done')).toBe(true);
      expect(events.some((e) => e.type === 'metrics-appended' && e.runId === started.json.run.id)).toBe(true);
      const series = await call(server, 'metricSeries', { query: { runId: started.json.run.id, name: 'loss' } });
      expect(series.json.step).toEqual([1, 2, 3]);

      // A sampling job from that run: its grid arrives as an artifact id, in the events and the run's sample sets.
      const sampling = await call(server, 'startSampling', {
        request: { runId: started.json.run.id, sampler: { kind: 'ddim', steps: 'ddim4' }, n: 4, batchSize: 4 },
      });
      expect(sampling.status).toBe(200);
      expect(sampling.json.run).toMatchObject({ kind: 'sample', parentRunId: started.json.run.id });
      const sampleJob = sampling.json.job.id as number;
      await waitFor('the sampling job to finish', () =>
        events.some((e) => e.type === 'job-status' && e.jobId === sampleJob && (e.status === 'done' || e.status === 'failed')),
      );
      const grid = events.filter((e) => e.type === 'job-progress' && e.jobId === sampleJob).at(-1)?.gridArtifactId;
      expect(grid).toMatch(/^a[0-9a-f]{24}$/);
      const sets = await call(server, 'listSampleSets', { runId: started.json.run.id });
      expect(sets.json).toHaveLength(1);
      expect(sets.json[0]).toMatchObject({ checkpointStep: 3, count: 4, stepsSpec: 'ddim4', gridArtifactId: grid });
      const png = await request(server, 'GET', `/artifacts/${grid}`);
      expect(png.status).toBe(200);
      expect(png.body.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      sse.destroy();
    }
  });
});

describe('exposure', () => {
  it('refuses a non-loopback host unless remote access is asked for', async () => {
    expect(() => checkBindHost('0.0.0.0', false)).toThrow(/--allow-remote/);
    expect(() => checkBindHost('192.168.1.7', false)).toThrow(/--allow-remote/);
    expect(() => checkBindHost('127.0.0.1', false)).not.toThrow();
    expect(() => checkBindHost('localhost', false)).not.toThrow();
    expect(() => checkBindHost('::1', false)).not.toThrow();
    await expect(startServer({ api, store, dataDir: dir, host: '0.0.0.0', port: 0, rendererDir: null })).rejects.toThrow(/allow-remote/);
  });

  it('requires the generated token on every API and artifact request when remote access is on', async () => {
    const remote = await startServer({ api, store, dataDir: dir, host: '0.0.0.0', port: 0, allowRemote: true, rendererDir: null });
    try {
      expect(remote.token).toMatch(/^[\w-]{20,}$/);
      expect((await call(remote, 'listRuns')).status).toBe(401);
      expect((await request(remote, 'POST', '/api/listRuns', { body: {}, headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      const ok = await request(remote, 'POST', '/api/listRuns', { body: {}, headers: { Authorization: `Bearer ${remote.token}` } });
      expect(ok.status).toBe(200);
      expect((await request(remote, 'GET', `/artifacts/${gridArtifactId}`)).status).toBe(401);
      expect((await request(remote, 'GET', `/artifacts/${gridArtifactId}?token=${remote.token}`)).status).toBe(200);
    } finally {
      await remote.close();
    }
  });

  it('serves the built renderer with a CSP, and never files outside it', async () => {
    const ui = tmpDataDir('xlab-ui-');
    fs.mkdirSync(path.join(ui, 'assets'));
    fs.writeFileSync(path.join(ui, 'index.html'), '<!doctype html><div id="root"></div>');
    fs.writeFileSync(path.join(ui, 'assets', 'app.js'), 'console.log(1)');
    const web = await startServer({ api, store, dataDir: dir, port: 0, rendererDir: ui });
    try {
      const index = await request(web, 'GET', '/');
      expect(index.status).toBe(200);
      expect(index.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect((await request(web, 'GET', '/assets/app.js')).headers['content-type']).toMatch(/javascript/);
      expect((await request(web, 'GET', '/runs/abc', { headers: { Accept: 'text/html' } })).body.toString()).toContain('root');
      expect((await request(web, 'GET', '/missing.js')).status).toBe(404);
      expect((await request(web, 'GET', '/../lab.sqlite')).status).toBe(400);
      expect((await request(web, 'GET', '/%2e%2e/lab.sqlite')).status).toBe(400);
    } finally {
      await web.close();
    }
  });
});

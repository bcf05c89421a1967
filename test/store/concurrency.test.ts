/**
 * Several OS processes writing one database at once, as the app, `xlab serve` and job processes
 * will. Workers are real `node --import tsx` processes; their script is written to a temp dir at
 * test time (only *.test.ts files live in test/store).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/main/store/store';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const storeUrl = pathToFileURL(path.join(repoRoot, 'src/main/store/store.ts')).href;

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-conc-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

interface ChildResult {
  code: number | null;
  /** The worker's last stdout line (its JSON report). */
  report: string;
  stderr: string;
}

/**
 * Starts the workers, waits until every one has opened what it needs and printed "ready", then
 * releases them together by writing a line to each stdin: their writes really overlap, instead
 * of one finishing during another's tsx start-up (which takes seconds on a loaded 2-core box).
 */
async function runWorkers(script: string, argsPerWorker: string[][]): Promise<ChildResult[]> {
  let ready = 0;
  let release!: () => void;
  const allReady = new Promise<void>((r) => (release = r));
  const children = argsPerWorker.map((args) =>
    spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: repoRoot, // so `--import tsx` resolves from the project's node_modules
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  const done = children.map(
    (child) =>
      new Promise<ChildResult>((resolve, reject) => {
        let stdout = '';
        let stderr = '';
        let sawReady = false;
        child.stdout!.on('data', (d) => {
          stdout += d;
          if (!sawReady && stdout.includes('ready\n')) {
            sawReady = true;
            if (++ready === children.length) release();
          }
        });
        child.stderr!.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => {
          if (!sawReady) release(); // a worker that died early must not hang the others
          const lines = stdout.trim().split('\n');
          resolve({ code, report: lines[lines.length - 1] ?? '', stderr });
        });
      }),
  );
  await allReady;
  for (const c of children) c.stdin!.end('go\n');
  return Promise.all(done);
}

function writeScript(name: string, body: string): string {
  const file = path.join(tmp(), name);
  fs.writeFileSync(file, `import { openStore } from ${JSON.stringify(storeUrl)};\n${body}`);
  return file;
}

const BARRIER = `
process.stdout.write('ready\\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
`;

describe('several processes on one database', () => {
  it('open a brand-new data dir at the same instant: one schema, no SQLITE_BUSY', async () => {
    const dataDir = path.join(tmp(), 'fresh');
    const script = writeScript(
      'opener.mts',
      `${BARRIER}
const store = openStore(process.argv[2]);
const run = store.createRun({ name: 'from ' + process.pid, kind: 'train', config: {}, seed: process.pid });
store.close();
process.stdout.write(JSON.stringify({ id: run.id }));
`,
    );
    const results = await runWorkers(script, [[dataDir], [dataDir], [dataDir]]);
    for (const r of results) {
      expect(r.stderr).not.toMatch(/SQLITE_BUSY|database is locked/);
      expect(r.code, r.stderr).toBe(0);
    }
    const store = openStore(dataDir);
    try {
      expect(store.listRuns().map((r) => r.id).sort()).toEqual(results.map((r) => JSON.parse(r.report).id).sort());
    } finally {
      store.close();
    }
  });

  it('claim jobs and append metrics concurrently: every job claimed exactly once, no lost points', async () => {
    const dataDir = tmp();
    const JOBS = 240;
    const WORKERS = 3;
    const setup = openStore(dataDir);
    const shared = setup.createRun({ name: 'shared', kind: 'train', config: {}, seed: 0 });
    const own = Array.from({ length: WORKERS }, (_, i) =>
      setup.createRun({ name: `own ${i}`, kind: 'train', config: {}, seed: i }),
    );
    const jobIds = setup.transaction(() =>
      Array.from({ length: JOBS }, (_, i) => setup.enqueueJob({ runId: shared.id, kind: 'train', args: { index: i } }).id),
    );
    setup.close();

    const script = writeScript(
      'worker.mts',
      `const [dataDir, sharedRun, ownRun] = process.argv.slice(2);
const store = openStore(dataDir);
${BARRIER}
const claimed: number[] = [];
let ownStep = 0;
for (;;) {
  const job = store.claimNextJob(process.pid);
  if (!job) break;
  claimed.push(job.id);
  const base = Number(job.args.index) * 10;
  // the shared series gets each job's 10 steps; a few overlap on purpose (upserts across processes)
  store.appendMetrics(sharedRun, Array.from({ length: 12 }, (_, i) => ({ step: base + i, name: 'shared', value: base + i })));
  store.appendMetrics(ownRun, Array.from({ length: 25 }, () => ({ step: ownStep, name: 'own', value: ownStep++ })));
  if (!store.heartbeat(job.id, process.pid)) throw new Error('lost job ' + job.id);
  if (!store.finishJob(job.id, 'ok from ' + process.pid)) throw new Error('could not finish ' + job.id);
}
store.close();
process.stdout.write(JSON.stringify({ claimed, ownSteps: ownStep }));
`,
    );
    const t0 = performance.now();
    const results = await runWorkers(script, own.map((r) => [dataDir, shared.id, r.id]));
    console.log(`[store] ${WORKERS} processes, ${JOBS} jobs: ${(performance.now() - t0).toFixed(0)} ms incl. start-up`);

    for (const r of results) {
      expect(r.stderr).not.toMatch(/SQLITE_BUSY|database is locked|BUSY/);
      expect(r.code, r.stderr).toBe(0);
    }
    const outs = results.map((r) => JSON.parse(r.report) as { claimed: number[]; ownSteps: number });
    const all = outs.flatMap((o) => o.claimed);
    expect(all.length).toBe(JOBS); // nothing claimed twice...
    expect(new Set(all).size).toBe(JOBS);
    expect([...all].sort((a, b) => a - b)).toEqual(jobIds); // ...and nothing missed
    // real contention: more than one worker got work
    expect(outs.filter((o) => o.claimed.length > 0).length).toBeGreaterThan(1);
    console.log(`[store] jobs per worker: ${outs.map((o) => o.claimed.length).join(', ')}`);

    const store = openStore(dataDir);
    try {
      const jobs = store.listJobs();
      expect(jobs.every((j) => j.status === 'done' && j.attempts === 1)).toBe(true);
      const series = store.metricSeries(shared.id, 'shared');
      expect(series.total).toBe(JOBS * 10 + 2); // steps 0 .. JOBS*10+1, overlaps upserted
      expect(series.step).toEqual(Array.from({ length: JOBS * 10 + 2 }, (_, i) => i));
      expect(series.value).toEqual(series.step);
      own.forEach((r, i) => {
        const s = store.metricSeries(r.id, 'own');
        expect(s.total).toBe(outs[i]!.ownSteps);
        expect(s.step).toEqual(Array.from({ length: outs[i]!.ownSteps }, (_, k) => k));
      });
    } finally {
      store.close();
    }
  });
});

/**
 * kill -9 of the supervisor itself while two training jobs run at once in its job processes.
 * One job process is left to notice that its supervisor is gone (it checkpoints and stops); the
 * other is killed with it, as an OOM killer or a crash of the whole app would. A restarted
 * supervisor must find both interrupted, and resuming runs both to the end, concurrently, with no
 * SQLITE_BUSY failure and an intact database.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { createLabApi } from '../../src/main/api/lab-api';
import { nodeJobForker } from '../../src/main/jobs/fork-node';
import { startSupervisor } from '../../src/main/jobs/supervisor';
import { openStore } from '../../src/main/store/store';
import { integrityCheck, isAlive, lossSteps, range, removeTmpDirs, repoRoot, tinyConfig, tmpDataDir, waitFor } from './harness';

afterEach(() => removeTmpDirs());

const url = (rel: string) => JSON.stringify(pathToFileURL(path.join(repoRoot, rel)).href);

it('a restarted supervisor finds the jobs of a killed one interrupted, and resume finishes both', async () => {
  const dir = tmpDataDir();
  const store = openStore(dir);
  const queueApi = createLabApi({ store });
  // Long enough that the first job cannot finish before the second has started and the supervisor
  // is killed (both start in the same tick; their first steps land well within a second of each
  // other): on ONNX Runtime a tiny-test step takes ~15 ms, and 10 of them were sometimes done first.
  const steps = 200;
  const run = { steps, checkpointEvery: 10 };
  const a = await queueApi.startTraining(tinyConfig({ ...run, seed: 11, objective: 'adm' }), { name: 'left to notice' });
  const b = await queueApi.startTraining(tinyConfig({ ...run, seed: 12, objective: 'adm-ip' }), { name: 'killed too' });

  const script = path.join(tmpDataDir('xlab-sup-script-'), 'supervisor.mts');
  fs.writeFileSync(
    script,
    `import { openStore } from ${url('src/main/store/store.ts')};
import { startSupervisor } from ${url('src/main/jobs/supervisor.ts')};
import { nodeJobForker } from ${url('src/main/jobs/fork-node.ts')};
const dir = process.argv[2];
const store = openStore(dir);
startSupervisor({ store, dataDir: dir, concurrency: 2, fork: nodeJobForker(), pollMs: 200 });
console.log('ready');
setInterval(() => undefined, 1 << 30);
`,
  );
  const supervisorProcess = spawn(process.execPath, ['--import', 'tsx', script, dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  supervisorProcess.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => supervisorProcess.on('exit', () => r()));

  // Both jobs training at once, each with at least one step recorded.
  const [pidA, pidB] = await waitFor(
    'both jobs to be training',
    () => {
      const ja = store.getJob(a.job.id)!;
      const jb = store.getJob(b.job.id)!;
      const training = [a, b].every((x) => store.getRun(x.run.id)!.stepsDone >= 1);
      return ja.status === 'running' && jb.status === 'running' && training ? [ja.pid!, jb.pid!] : undefined;
    },
    120_000,
  );
  supervisorProcess.kill('SIGKILL');
  process.kill(pidB!, 'SIGKILL');
  await exited;

  // The orphan stops on its own (it sees its parent gone between steps).
  await waitFor('the orphaned job process to exit', () => !isAlive(pidA!), 60_000);
  expect(stderr).not.toMatch(/SQLITE_BUSY|BUSY/);
  // The orphan settled its own record; the job killed outright is still 'running' under a dead pid
  // until a supervisor looks.
  expect(store.getJob(a.job.id)!.status).toBe('interrupted');
  expect(store.getJob(b.job.id)!.status).toBe('running');

  const supervisor = startSupervisor({ store, dataDir: dir, concurrency: 2, fork: nodeJobForker(), pollMs: 200 });
  const api = createLabApi({ store, dataDir: dir, supervisor });
  try {
    for (const x of [a, b]) {
      const job = store.getJob(x.job.id)!;
      expect(job.status).toBe('interrupted');
      expect(store.getRun(x.run.id)!.status).toBe('interrupted');
      const ckpt = store.latestCheckpoint(x.run.id)?.step ?? 0;
      expect(lossSteps(store, x.run.id).filter((s) => s <= ckpt)).toEqual(range(1, ckpt));
    }
    expect(integrityCheck(store.dbPath)).toBe('ok');

    await api.resumeJob(a.job.id);
    await api.resumeJob(b.job.id);
    await waitFor('both resumed jobs to run at once', () => supervisor.runningJobIds().length === 2, 60_000);
    const finals = await waitFor(
      'both resumed jobs to finish',
      () => {
        const jobs = [store.getJob(a.job.id)!, store.getJob(b.job.id)!];
        return jobs.every((j) => j.status === 'done' || j.status === 'failed') ? jobs : undefined;
      },
      180_000,
    );
    for (const j of finals) {
      expect(j.error).toBeNull();
      expect(j.status).toBe('done');
    }
    for (const x of [a, b]) {
      expect(store.getRun(x.run.id)).toMatchObject({ status: 'done', stepsDone: steps });
      expect(lossSteps(store, x.run.id)).toEqual(range(1, steps));
    }
    expect(integrityCheck(store.dbPath)).toBe('ok');
  } finally {
    await supervisor.shutdown({ graceMs: 5000 });
    api.close();
    queueApi.close();
    store.close();
  }
}, 300_000);

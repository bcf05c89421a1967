/**
 * Two tiny finished training runs (ADM and ADM-IP) in one experiment, made once per server (the
 * e2e server lives for the whole worker) and shared by the Compare and Analyses specs. Seeded
 * through the LabApi over HTTP, as a user's runs would be, with a scheduled evaluation so the
 * FID curves have points.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabCallable, RunSummary } from '../src/shared/api';
import type { LabServer } from './fixtures';
import { ROOT } from './paths';

/**
 * The FID feature network for MNIST is a classifier the engine trains on first use and stores in
 * the data dir (<dataDir>/feature-networks). Each e2e server starts from an empty data dir, so the
 * trained file is kept here between runs and copied in: the engine checks its settings and
 * retrains when they changed.
 */
const CLASSIFIER_CACHE = path.join(ROOT, 'node_modules', '.cache', 'xlab-e2e-feature-networks');

function copyNetworks(from: string, to: string): void {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    if (f.endsWith('.xlabfn') && !fs.existsSync(path.join(to, f))) fs.copyFileSync(path.join(from, f), path.join(to, f));
  }
}

export const PAIR_EXPERIMENT = 'e2e-compare-pair';

export interface PairedRuns {
  experimentId: number;
  adm: RunSummary;
  ip: RunSummary;
}

/** Tiny: 30 steps of the tiny-test U-Net on 16x16 MNIST, checkpoints (and scores) every 10 steps. */
export function tinyConfig(objective: 'adm' | 'adm-ip') {
  return {
    objective,
    preset: 'tiny-test',
    imageSize: 16,
    steps: 30,
    batch: 8,
    checkpointEvery: 10,
    logEvery: 5,
    optimizer: { warmupSteps: 0 },
    // The default EMA rate (0.9999) barely moves in 30 steps: both runs would sample their (equal)
    // initial weights, and the comparison would compare nothing.
    emaRate: 0.9,
    // Small and fast: the FID-vs-iterations curve gets a point per checkpoint, at two T'.
    evaluation: { every: 10, steps: ['10', '20'], n: 32, batchSize: 32, referenceCount: 200, bootstrap: 10, metrics: ['fid', 'sfid', 'kid'] as ('fid' | 'sfid' | 'kid')[] },
  };
}

const pending = new Map<string, Promise<PairedRuns>>();

async function waitForRuns(api: LabCallable, experimentId: number, timeoutMs: number): Promise<RunSummary[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const page = await api.listRuns({ experimentId, kind: 'train' });
    const bad = page.runs.find((r) => r.status === 'failed' || r.status === 'cancelled' || r.status === 'interrupted');
    if (bad) throw new Error(`seed run ${bad.id} (${bad.objective}) ended ${bad.status}: ${bad.error ?? 'no error recorded'}`);
    if (page.runs.length === 2 && page.runs.every((r) => r.status === 'done')) return page.runs;
    if (Date.now() > until) throw new Error(`the seed runs did not finish in ${timeoutMs / 1000} s: ${page.runs.map((r) => `${r.id} ${r.status} ${r.stepsDone}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The pair for this server: found when an earlier test made it, else trained now. */
export function pairedRuns(server: LabServer, timeoutMs = 540_000): Promise<PairedRuns> {
  let p = pending.get(server.url);
  if (!p) {
    p = (async () => {
      const api = server.api;
      const networks = path.join(server.dataDir, 'feature-networks');
      copyNetworks(CLASSIFIER_CACHE, networks);
      const existing = (await api.listExperiments()).find((e) => e.name === PAIR_EXPERIMENT);
      const experiment = existing ?? (await api.createExperiment({ name: PAIR_EXPERIMENT, description: 'ADM vs ADM-IP, tiny, for the e2e tests' }));
      if (!existing) {
        for (const objective of ['adm', 'adm-ip'] as const) {
          await api.startTraining(tinyConfig(objective), { experimentId: experiment.id, name: objective === 'adm' ? 'ADM tiny' : 'ADM-IP tiny' });
        }
      }
      const runs = await waitForRuns(api, experiment.id, timeoutMs);
      copyNetworks(networks, CLASSIFIER_CACHE);
      return { experimentId: experiment.id, adm: runs.find((r) => r.objective === 'adm')!, ip: runs.find((r) => r.objective === 'adm-ip')! };
    })();
    pending.set(server.url, p);
    p.catch(() => pending.delete(server.url));
  }
  return p;
}

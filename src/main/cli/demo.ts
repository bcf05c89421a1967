/**
 * `xlab demo` (the README's main job): ADM vs ADM-IP (gamma 0.1) on the bundled MNIST digits at
 * 16x16, same seed, same data order, same noise; FID (the app's MNIST classifier features) at a few
 * points during training; then FID / sFID / KID at several numbers of sampling steps T' on samples
 * drawn from the same noise, paired sample grids side by side, and the paper-style comparison table.
 *
 * Everything goes through the job system, like the app: the two training runs (experiment 'demo')
 * and their sample sets are recorded in the history, a supervisor of concurrency 2 trains them in
 * two job processes side by side (one wasm instance per core), and Ctrl-C pauses both (each writes
 * a checkpoint). Re-running finds the same runs (experiment + objective + config) and resumes them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Command } from 'commander';
import type { ComparisonReport, LabEvent, RunKind } from '../../shared/api';
import { featureNetworkFor } from '../evaluation/network-catalog';
import { classifierTrainingFromEnv } from '../jobs/evaluation-run';
import { parseTrainConfig, type TrainConfig } from '../../shared/config';
import { createLabApi, type LabService } from '../api/lab-api';
import { sampleSetName, type SamplerChoice } from '../generation/generate';
import { nodeJobForker } from '../jobs/fork-node';
import { OUT_DIR_KEY, runFolderOf } from '../jobs/run-records';
import { startSupervisor } from '../jobs/supervisor';
import { initBackend } from '../nn/backend';
import { resolveInDataDir } from '../store/artifacts';
import type { JobRow, RunRow, SampleSetRow, Store } from '../store/store';
import { listCheckpoints } from '../training/checkpoint';
import { addDataDirOption, openLab, type Lab } from './history';
import { multiProgress, type Progress } from './progress';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got '${v}'`);
  return n;
}

export interface DemoEvaluation {
  /** Scheduled evaluations during training (FID vs iterations), at this T'. */
  every: number;
  curveSteps: string;
  /** Samples per score. */
  n: number;
}

/**
 * What every demo score shares (the scheduled ones during training and the final ones), so they
 * fall under one comparability key per T' and the final evaluation reuses the last scheduled one.
 */
function demoPlan(n: number) {
  return { n, seed: 0, batchSize: 100, featureNetwork: 'mnist-classifier', referenceCount: 10_000, bootstrap: 100 };
}

export function demoConfig(objective: 'adm' | 'adm-ip', steps: number, seed: number, batch = 32, evaluation: DemoEvaluation | null = null): TrainConfig {
  return parseTrainConfig({
    objective,
    gamma: { kind: 'constant', gamma: 0.1 },
    preset: 'bench-s-mnist16',
    dataset: 'mnist',
    imageSize: 16,
    steps,
    batch,
    seed,
    // A short run: a higher learning rate with warm-up and a faster EMA than the paper's 1e-4 / 0.9999,
    // identical for both objectives so the comparison stays fair.
    optimizer: { lr: 5e-4, warmupSteps: 100, gradClip: 1 },
    emaRate: 0.995,
    checkpointEvery: 200,
    logEvery: 10,
    evaluation: evaluation && { ...demoPlan(evaluation.n), every: evaluation.every, steps: [evaluation.curveSteps] },
  });
}

const OBJECTIVES = ['adm', 'adm-ip'] as const;
type Objective = (typeof OBJECTIVES)[number];
const EXPERIMENT = 'demo';
/** Above what a user normally queues: the demo is interactive (the API allows up to 1000). */
const PRIORITY = 1000;
const SAMPLE = { weights: 'ema' as const, seed: 0, batchSize: 64 };
const FINISHED: readonly JobRow['status'][] = ['done', 'failed', 'cancelled', 'interrupted'];

/** JSON with sorted keys, so two configs compare equal whatever order their keys were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function sameConfig(run: RunRow, config: TrainConfig): boolean {
  if (run.config[OUT_DIR_KEY] !== undefined) return false;
  try {
    return canonical(parseTrainConfig(run.config)) === canonical(config);
  } catch {
    return false; // a config an older version wrote
  }
}

async function demoExperimentId(api: LabService): Promise<number> {
  const find = async () => (await api.listExperiments()).find((e) => e.name === EXPERIMENT)?.id;
  const existing = await find();
  if (existing !== undefined) return existing;
  try {
    return (await api.createExperiment({ name: EXPERIMENT, description: 'xlab demo: ADM vs ADM-IP (gamma 0.1) on bundled MNIST 16x16' })).id;
  } catch (err) {
    // Another demo created it a moment ago.
    const again = await find();
    if (again !== undefined) return again;
    throw err;
  }
}

const latestJob = (store: Store, runId: string): JobRow | undefined =>
  store.listJobs({ runId }).reduce<JobRow | undefined>((a, j) => (!a || j.id > a.id ? j : a), undefined);

/**
 * The job that trains (or trains on) the demo run of one objective: the newest run of the demo
 * experiment with the same config, resumed from its checkpoint when it was stopped; otherwise a
 * new run. Null when that run is already trained.
 */
async function trainingJob(lab: Lab, api: LabService, experimentId: number, config: TrainConfig): Promise<{ run: RunRow; jobId: number | null; resumed: boolean }> {
  const { store } = lab;
  const run = store
    .listRuns({ experimentId, kind: 'train', orderBy: 'createdAt', direction: 'desc' })
    .find((r) => r.objective === config.objective && sameConfig(r, config));
  if (!run) {
    const started = await api.startTraining(config, { experimentId, priority: PRIORITY });
    return { run: store.getRun(started.run.id)!, jobId: started.job.id, resumed: false };
  }
  const job = latestJob(store, run.id);
  if (run.status === 'done' && run.stepsDone >= config.steps) return { run, jobId: null, resumed: false };
  // Queued: a supervisor (ours, or one already running) picks it up. Running: another process is
  // training it (openLab marked dead ones interrupted), so follow it.
  if (job && (job.status === 'queued' || job.status === 'running')) return { run, jobId: job.id, resumed: true };
  if (job && job.status !== 'done') {
    await api.resumeJob(job.id);
    return { run, jobId: job.id, resumed: true };
  }
  // A finished job but an unfinished run (should not happen): a fresh job continues it.
  const queued = store.transaction(() => {
    store.updateRun(run.id, { status: 'queued' });
    return store.enqueueJob({ runId: run.id, kind: 'train', args: {}, priority: PRIORITY });
  });
  return { run, jobId: queued.id, resumed: true };
}

/**
 * Waits until every job has finished (done, failed, cancelled/paused or interrupted). The store
 * decides, polled twice a second, so a job run by another supervisor is followed as well.
 */
async function waitForJobs(store: Store, jobIds: number[], onPoll?: () => void): Promise<JobRow[]> {
  for (;;) {
    onPoll?.();
    const rows = jobIds.map((id) => store.getJob(id));
    if (rows.every((j) => j === undefined || FINISHED.includes(j.status))) return rows.filter((j): j is JobRow => j !== undefined);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The recorded sample set of a run that this request would draw (same checkpoint, sampler, n, seed, weights), if its grid is on disk. */
function recordedSampleSet(lab: Lab, runId: string, step: number, sampler: SamplerChoice, n: number): SampleSetRow | undefined {
  const name = sampleSetName({ sampler, n, seed: SAMPLE.seed, weights: SAMPLE.weights }, step) + '.png';
  return lab.store
    .listSampleSets(runId)
    .find((s) => s.gridPath !== null && path.basename(s.gridPath) === name && fs.existsSync(resolveInDataDir(lab.dataDir, s.gridPath)));
}

function newestCheckpointStep(lab: Lab, run: RunRow): number | null {
  const recorded = lab.store.latestCheckpoint(run.id)?.step ?? null;
  const onDisk = listCheckpoints(path.join(runFolderOf(lab.dataDir, run), 'checkpoints')).at(-1)?.step ?? null;
  return recorded === null ? onDisk : onDisk === null ? recorded : Math.max(recorded, onDisk);
}

/**
 * Two sample grids side by side (left ADM, right ADM-IP), enlarged 4x with nearest-neighbour so
 * 16-pixel digits stay crisp on screen.
 */
async function sideBySide(a: string, b: string, out: string): Promise<void> {
  const scale = 4;
  const [ma, mb] = await Promise.all([sharp(a).metadata(), sharp(b).metadata()]);
  const big = (file: string, m: sharp.Metadata) =>
    sharp(file).resize(m.width! * scale, m.height! * scale, { kernel: 'nearest' }).toBuffer();
  const [ba, bb] = await Promise.all([big(a, ma), big(b, mb)]);
  const gap = 8 * scale;
  const width = (ma.width! + mb.width!) * scale + gap;
  const height = Math.max(ma.height!, mb.height!) * scale;
  await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: ba, left: 0, top: 0 },
      { input: bb, left: ma.width! * scale + gap, top: 0 },
    ])
    .png()
    .toFile(out);
}

export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('the default comparison: train ADM and ADM-IP (gamma 0.1) on bundled MNIST, then paired sample grids at several T\'')
    .option('--out <dir>', 'folder of the comparison images and summary.json (the runs live in the history)', 'runs/demo')
    .option('--steps <n>', 'training iterations per model', num, 600)
    .option('--batch <n>', 'batch size', num, 32)
    .option('--seed <n>', 'training seed (shared by both runs)', num, 0)
    .option('--sample-steps <list>', "comma-separated T' values to sample at", '20,100')
    .option('--n <n>', 'samples per grid (default: the FID sample count, so the grids are the scored samples)', num)
    .option('--eval-n <n>', 'samples per FID (0: no evaluation)', num, 256)
    .option('--eval-every <n>', 'FID during training every n iterations (default: 4 points per run)', num)
    .option('--eval-steps <list>', "comma-separated T' values FID is measured at after training", '10,20,50,100')
    .option('--backend <name>', 'auto, tensorflow or wasm', 'auto')
    .option('--json', 'print a JSON summary on stdout');
  addDataDirOption(cmd).action(async (o) => {
    const backend = await initBackend(o.backend, 'train');
    process.stderr.write(`Exposure Lab demo: ADM vs ADM-IP on bundled MNIST (16x16), ${o.steps} steps each, backend ${backend.name}\n`);
    const lab = openLab(o);
    // Two job processes at once: the two objectives are independent and each wasm instance is single-threaded.
    const supervisor = startSupervisor({ store: lab.store, dataDir: lab.dataDir, concurrency: 2, fork: nodeJobForker() });
    const api = createLabApi({ store: lab.store, dataDir: lab.dataDir, supervisor });
    const ctx: DemoContext = { lab, api, o, backend: backend.name, jobs: new Set(), stopping: false, log: (l) => process.stderr.write(l + '\n') };
    const onSignal = () => {
      if (ctx.stopping) process.exit(130);
      ctx.stopping = true;
      ctx.log('stopping: each run writes a checkpoint first (Ctrl-C again to quit at once)');
      for (const id of ctx.jobs) void stopJob(ctx, id);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await demoAction(ctx);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await supervisor.shutdown();
      api.close();
      lab.close();
    }
  });
  return cmd;
}

interface DemoContext {
  lab: Lab;
  api: LabService;
  o: Record<string, any>;
  backend: string;
  /** Jobs of this demo that Ctrl-C stops. */
  jobs: Set<number>;
  stopping: boolean;
  log: (line: string) => void;
}

/** Ctrl-C: a running job is paused (checkpoint, then resumable), a queued one cancelled. */
async function stopJob(ctx: DemoContext, jobId: number): Promise<void> {
  try {
    const job = ctx.lab.store.getJob(jobId);
    if (job?.status === 'running') await ctx.api.pauseJob(jobId);
    else if (job?.status === 'queued') await ctx.api.cancelJob(jobId);
  } catch {
    // it finished or stopped meanwhile
  }
}

function stoppedMessage(ctx: DemoContext): void {
  const dataDir = ctx.o.dataDir ? ` --data-dir ${ctx.o.dataDir}` : '';
  process.stderr.write(`stopped; run the demo again (same flags${dataDir}) to continue the runs from their last checkpoints\n`);
  process.exitCode = 130;
}

/** Samples per grid: the scored sample sets themselves when they exist (no extra sampling). */
function gridCount(o: Record<string, any>): number {
  return o.n ?? (o.evalN > 0 ? o.evalN : 64);
}

function demoEvaluation(o: Record<string, any>): DemoEvaluation | null {
  if (!(o.evalN > 0)) return null;
  const every = o.evalEvery ?? Math.max(1, Math.ceil(o.steps / 4));
  return { every, curveSteps: '20', n: o.evalN };
}

/**
 * The MNIST classifier the scores use, trained once (about a minute) before the training jobs
 * start, so the two jobs do not both train it at their first evaluation.
 */
async function prepareFeatureNetwork(ctx: DemoContext): Promise<void> {
  const net = await featureNetworkFor('mnist-classifier', {
    dataDir: ctx.lab.dataDir,
    classifierTraining: classifierTrainingFromEnv(),
    onMessage: (l) => ctx.log(`feature network: ${l}`),
  });
  ctx.log(`feature network: ${net.description}`);
  net.dispose();
}

async function demoAction(ctx: DemoContext): Promise<void> {
  const { lab, api, o } = ctx;
  const { store } = lab;
  const experimentId = await demoExperimentId(api);
  const foreign = store.listJobs({ status: 'queued' }).length;
  const evaluation = demoEvaluation(o);
  if (evaluation) await prepareFeatureNetwork(ctx);

  // --- training: both objectives side by side, through the queue --------------------------------
  const runs = {} as Record<Objective, RunRow>;
  const todo: { objective: Objective; run: RunRow; jobId: number }[] = [];
  for (const objective of OBJECTIVES) {
    const config = parseTrainConfig({ ...demoConfig(objective, o.steps, o.seed, o.batch, demoEvaluation(o)), backend: o.backend });
    const t = await trainingJob(lab, api, experimentId, config);
    runs[objective] = t.run;
    if (t.jobId === null) {
      process.stderr.write(`${objective}: already trained (${t.run.stepsDone} steps, run ${t.run.id})\n`);
      continue;
    }
    ctx.jobs.add(t.jobId);
    todo.push({ objective, run: t.run, jobId: t.jobId });
    process.stderr.write(`${objective}: ${t.resumed ? `continuing run ${t.run.id} from step ${store.getRun(t.run.id)!.stepsDone}` : `run ${t.run.id}`} (experiment '${EXPERIMENT}')\n`);
  }
  if (foreign > 0) process.stderr.write(`note: ${foreign} other queued job(s) in ${lab.dataDir} may also run while the demo does\n`);
  if (todo.length) {
    const bars = multiProgress(Boolean(o.json));
    ctx.log = (l) => bars.log(l);
    const byRun = new Map<string, { objective: Objective; bar: Progress; shown: number; live: boolean }>();
    for (const t of todo) {
      const done = store.getRun(t.run.id)!.stepsDone;
      byRun.set(t.run.id, { objective: t.objective, bar: bars.add(t.objective.padEnd(6), t.run.stepsPlanned ?? o.steps, done), shown: done, live: false });
    }
    const unsubscribe = api.subscribe((e: LabEvent) => {
      if (e.type === 'job-progress' && e.kind === 'train') {
        const b = byRun.get(e.runId);
        if (!b) return;
        b.live = true;
        b.shown = e.step;
        b.bar.update(e.step, { loss: e.loss === null ? '-' : e.loss.toFixed(4), 'it/s': e.itPerSec === null ? '-' : e.itPerSec.toFixed(2) });
      } else if (e.type === 'job-status' && ctx.jobs.has(e.jobId) && e.status === 'failed') {
        bars.log(`${byRun.get(e.runId)?.objective ?? e.runId}: failed${e.error ? ` - ${e.error}` : ''}`);
      }
    });
    let finished: JobRow[];
    try {
      finished = await waitForJobs(
        store,
        todo.map((t) => t.jobId),
        // A job run by another supervisor (the app, xlab serve) sends us no progress: follow the store.
        () => {
          for (const [runId, b] of byRun) {
            const steps = store.getRun(runId)?.stepsDone ?? 0;
            if (!b.live && steps > b.shown) b.bar.update((b.shown = steps));
          }
        },
      );
    } finally {
      unsubscribe();
      for (const b of byRun.values()) b.bar.stop();
      bars.stop();
      ctx.log = (l) => process.stderr.write(l + '\n');
    }
    for (const j of finished) ctx.jobs.delete(j.id);
    const failed = finished.find((j) => j.status === 'failed');
    if (failed) throw new Error(`${byRun.get(failed.runId)?.objective ?? failed.runId} training failed: ${failed.error ?? 'unknown error'}`);
    for (const objective of OBJECTIVES) runs[objective] = store.getRun(runs[objective].id)!;
    if (ctx.stopping || OBJECTIVES.some((k) => runs[k].status !== 'done')) return stoppedMessage(ctx);
  }

  // --- scores at several T' on the final checkpoints (their sample sets double as the grids) ---
  if (evaluation) {
    const evalSteps = String(o.evalSteps).split(',').map((x) => x.trim()).filter(Boolean);
    const jobs: { jobId: number; label: string }[] = [];
    for (const objective of OBJECTIVES) {
      if (ctx.stopping) return stoppedMessage(ctx);
      const started = await api.startEvaluation({ ...demoPlan(evaluation.n), runId: runs[objective].id, steps: evalSteps, priority: PRIORITY });
      ctx.jobs.add(started.job.id);
      jobs.push({ jobId: started.job.id, label: `FID ${objective} T'=${evalSteps.join(',')}` });
    }
    const finished = await followJobs(ctx, jobs, 'evaluate');
    const failed = finished.find((j) => j.status === 'failed');
    if (failed) throw new Error(`evaluation job ${failed.id} failed: ${failed.error ?? 'unknown error'}`);
    if (ctx.stopping || finished.some((j) => j.status !== 'done')) return stoppedMessage(ctx);
  }

  // --- sampling: one recorded sample set per run and T', the same noise on both sides ------------
  const stepsList = String(o.sampleSteps).split(',').map((s) => s.trim()).filter(Boolean);
  const wanted: { steps: string; objective: Objective; step: number; sampler: SamplerChoice; jobId: number | null }[] = [];
  for (const steps of stepsList) {
    for (const objective of OBJECTIVES) {
      const run = runs[objective];
      const step = newestCheckpointStep(lab, run);
      if (step === null) throw new Error(`${objective} run ${run.id} has no checkpoint to sample from`);
      const sampler: SamplerChoice = { kind: 'ddpm', steps };
      let jobId: number | null = null;
      // A set the demo drew before (a re-run) is reused rather than drawn again.
      if (!recordedSampleSet(lab, run.id, step, sampler, gridCount(o))) {
        if (ctx.stopping) return stoppedMessage(ctx);
        const started = await api.startSampling({ runId: run.id, sampler, n: gridCount(o), ...SAMPLE, priority: PRIORITY });
        jobId = started.job.id;
        ctx.jobs.add(jobId);
      }
      wanted.push({ steps, objective, step, sampler, jobId });
    }
  }
  const sampling = wanted.filter((w): w is typeof w & { jobId: number } => w.jobId !== null);
  if (sampling.length) {
    const finished = await followJobs(ctx, sampling.map((w) => ({ jobId: w.jobId, label: `sample ${w.objective} T'=${w.steps}` })), 'sample');
    const failed = finished.find((j) => j.status === 'failed');
    if (failed) throw new Error(`sampling job ${failed.id} failed: ${failed.error ?? 'unknown error'}`);
    if (ctx.stopping || finished.some((j) => j.status !== 'done')) return stoppedMessage(ctx);
  }

  const comparisons: { steps: string; adm: string; admIp: string; sideBySide: string; sampleSets: Record<Objective, number> }[] = [];
  fs.mkdirSync(o.out, { recursive: true });
  for (const steps of stepsList) {
    const sets = {} as Record<Objective, SampleSetRow>;
    for (const w of wanted.filter((x) => x.steps === steps)) {
      const set = recordedSampleSet(lab, runs[w.objective].id, w.step, w.sampler, gridCount(o));
      if (!set) throw new Error(`no sample set of run ${runs[w.objective].id} at T'=${steps} was recorded`);
      sets[w.objective] = set;
    }
    const grid = (k: Objective) => resolveInDataDir(lab.dataDir, sets[k].gridPath!);
    const out = path.join(o.out, `compare_T${steps}.png`);
    await sideBySide(grid('adm'), grid('adm-ip'), out);
    comparisons.push({ steps, adm: grid('adm'), admIp: grid('adm-ip'), sideBySide: out, sampleSets: { adm: sets['adm'].id, 'adm-ip': sets['adm-ip'].id } });
  }
  // --- the paper-style table --------------------------------------------------------------------
  let report: ComparisonReport | null = null;
  if (evaluation) {
    report = await api.compareExperiment(experimentId, { baselineRunId: runs['adm'].id });
    fs.writeFileSync(path.join(o.out, 'comparison.md'), report.markdown);
    fs.writeFileSync(path.join(o.out, 'comparison.csv'), report.csv);
  }

  const summary = {
    out: o.out,
    backend: ctx.backend,
    dataDir: lab.dataDir,
    experimentId,
    runs: Object.fromEntries(OBJECTIVES.map((k) => [k, runFolderOf(lab.dataDir, runs[k])])),
    runIds: Object.fromEntries(OBJECTIVES.map((k) => [k, runs[k].id])),
    comparisons,
    comparison: report && { key: report.key, bySteps: report.bySteps, iterationsToTarget: report.iterationsToTarget, pairedTests: report.pairedTests },
  };
  fs.writeFileSync(path.join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    process.stderr.write(`\nRuns ${runs['adm'].id} (ADM) and ${runs['adm-ip'].id} (ADM-IP), experiment '${EXPERIMENT}' (xlab runs list --experiment ${experimentId})\n`);
    process.stderr.write('Paired sample grids (left ADM, right ADM-IP; same noise for image i):\n');
    for (const c of comparisons) process.stderr.write(`  T'=${c.steps.padEnd(5)} ${c.sideBySide}\n`);
    if (report) {
      process.stderr.write(`\n${report.markdown}\n`);
      process.stderr.write(`Tables saved as ${path.join(o.out, 'comparison.md')} and comparison.csv; the app's Compare screen shows them with the FID curves.\n`);
    }
  }
}

/** Progress bars for jobs of one kind until they all finish (done, failed, stopped). */
async function followJobs(ctx: DemoContext, jobs: { jobId: number; label: string }[], kind: RunKind): Promise<JobRow[]> {
  const bars = multiProgress(Boolean(ctx.o.json));
  ctx.log = (l) => bars.log(l);
  const width = Math.max(...jobs.map((j) => j.label.length));
  const byJob = new Map(jobs.map((j) => [j.jobId, { label: j.label.padEnd(width), bar: null as Progress | null }]));
  const unsubscribe = ctx.api.subscribe((e: LabEvent) => {
    if (e.type !== 'job-progress' || e.kind !== kind) return;
    const b = byJob.get(e.jobId);
    if (!b) return;
    b.bar ??= bars.add(b.label, e.stepsPlanned);
    b.bar.update(Math.min(e.step, e.stepsPlanned));
  });
  try {
    const finished = await waitForJobs(ctx.lab.store, [...byJob.keys()]);
    for (const j of finished) ctx.jobs.delete(j.id);
    return finished;
  } finally {
    unsubscribe();
    for (const b of byJob.values()) b.bar?.stop();
    bars.stop();
    ctx.log = (l) => process.stderr.write(l + '\n');
  }
}

/**
 * `xlab analyze RUN --kind ...`: an exposure-bias analysis of a training run's checkpoint
 * (prediction error, delta_t, power spectrum, chain length), run here in the foreground or queued
 * for the job supervisor with --queue. Either way it is recorded as a child run of kind 'evaluate'
 * and its result is filed under the training run (`xlab analyze RUN --list` shows them).
 */
import { Command, Option } from 'commander';
import { ANALYSIS_KINDS, LabApiError, StartAnalysisRequestSchema, type AnalysisInfo, type AnalysisResult } from '../../shared/api';
import { formatIssues } from '../../shared/config';
import { prepareAnalysis } from '../api/analysis-api';
import { runAnalysis } from '../jobs/analysis-run';
import { LogTail } from '../jobs/protocol';
import { claimForegroundJob, createAnalysisRun } from '../jobs/run-records';
import { initBackend } from '../nn/backend';
import { addDataDirOption, intArg, openLab, printJson, table, withLab } from './history';
import { inForeground } from './progress';

function timestepList(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p))) throw new LabApiError('INVALID', `--t expects timesteps like 100,500; got '${v}'`);
  return out;
}

const fmt = (v: number, digits = 4) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(digits));

/** A plain-text summary of a result for the terminal. */
export function describeResult(result: AnalysisResult, gridFile: string | null): string {
  switch (result.kind) {
    case 'prediction-error':
      return table(
        ['T', 'N', 'MEAN', 'STD', 'SHAPIRO W', 'P'],
        result.perT.map((p) => [String(p.t), String(p.n), fmt(p.mean), fmt(p.std), p.shapiroW.toFixed(5), fmt(p.shapiroP, 3)]),
      );
    case 'delta-t':
      return (
        `chain of ${result.samplingSteps} steps from t = ${result.tStart}\n` +
        table(
          ['T', 'SIGMA-HAT', 'SQRT(1-AB)', 'DELTA'],
          result.points.map((p) => [String(p.t), fmt(p.sigmaHat), fmt(p.sigmaTrue), fmt(p.delta)]),
        )
      );
    case 'spectrum':
      return table(
        ['CYCLES/PX', 'SAMPLES', 'DATA', 'RATIO'],
        result.frequencies.map((f, i) => [f.toFixed(4), fmt(result.samples[i]!), fmt(result.data[i]!), (result.samples[i]! / result.data[i]!).toFixed(3)]),
      );
    case 'chain-length':
      return `rows (after the data row) start the reverse chain at t = ${result.tStarts.join(', ')}\n${gridFile ? `grid: ${gridFile}\n` : ''}`;
  }
}

export function analyzeCommand(): Command {
  const cmd = new Command('analyze')
    .description("exposure-bias analyses of a training run's checkpoint: prediction error, delta_t (ADM-ES), power spectrum, chain length")
    .argument('<run-id>', 'the training run')
    .addOption(new Option('--kind <kind>', 'which analysis').choices([...ANALYSIS_KINDS]))
    .option('--n <n>', 'data images (and samples) used; chain-length shows at most 8', intArg('--n'))
    .option('--t <list>', 'prediction-error: timesteps to measure at; chain-length: the t each chain starts from; delta-t: the start t', timestepList)
    .option('--steps <spec>', "sampling chain T' (delta-t, spectrum, chain-length): '100', 'ddim50', or 'all'")
    .option('--checkpoint-step <step>', "a recorded checkpoint of the run (default: its newest)", intArg('--checkpoint-step'))
    .option('--seed <n>', 'seed of the data choice and the noise: two runs analysed with one seed see the same x0 and noise', intArg('--seed'))
    .addOption(new Option('--weights <which>', 'EMA (default) or raw weights').choices(['ema', 'raw']))
    .option('--queue', 'queue a job for the supervisor (xlab serve, the app, xlab jobs run) instead of running here')
    .option('--list', "list the run's recorded analyses instead of running one")
    .addOption(new Option('--backend <name>', 'compute backend (foreground only)').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--json', 'print JSON on stdout');
  addDataDirOption(cmd).action(async (runId: string, o) => {
    if (o.list) {
      await withLab(o, async ({ api }) => {
        const list = await api.listAnalyses({ runId, ...(o.kind ? { kind: o.kind } : {}) });
        if (o.json) return printJson(list);
        if (!list.length) return void process.stdout.write('no analyses\n');
        for (const a of list) process.stdout.write(`#${a.id} ${a.kind} at step ${a.checkpointStep ?? '?'}\n${describeResult(a.result, null)}\n`);
      });
      return;
    }
    if (!o.kind) throw new LabApiError('INVALID', `--kind is required: one of ${ANALYSIS_KINDS.join(', ')}`);
    const steps = o.steps === undefined ? undefined : o.steps === 'all' ? '' : String(o.steps);
    const t: number[] | undefined = o.t;
    if (t && o.kind === 'delta-t' && t.length !== 1) throw new LabApiError('INVALID', '--t of a delta-t analysis is one start timestep');
    const raw = {
      runId,
      kind: o.kind,
      ...(o.n !== undefined ? { n: o.n } : {}),
      ...(steps !== undefined ? { steps } : {}),
      ...(o.checkpointStep !== undefined ? { checkpointStep: o.checkpointStep } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.weights ? { weights: o.weights } : {}),
      ...(t && o.kind === 'prediction-error' ? { timesteps: t } : {}),
      ...(t && o.kind === 'chain-length' ? { tStarts: t } : {}),
      ...(t && o.kind === 'delta-t' ? { tStart: t[0] } : {}),
    };
    if (o.queue) {
      await withLab(o, async ({ api }) => {
        const started = await api.startAnalysis(raw);
        if (o.json) return printJson(started);
        process.stdout.write(
          `queued job ${started.job.id} (analysis run ${started.run.id}); it runs when \`xlab serve\`, the app or \`xlab jobs run\` is running\n`,
        );
      });
      return;
    }
    const parsed = StartAnalysisRequestSchema.safeParse(raw);
    if (!parsed.success) throw new LabApiError('INVALID', formatIssues(parsed.error));
    const lab = openLab(o);
    try {
      const { store, dataDir } = lab;
      const { source, args } = prepareAnalysis(store, dataDir, parsed.data);
      await initBackend(o.backend, 'infer');
      const run = createAnalysisRun(store, args, source);
      const job = claimForegroundJob(store, run.id, 'evaluate', { ...args });
      const outcome = await inForeground(o.kind, Boolean(o.json), (c) =>
        runAnalysis({
          store,
          dataDir,
          runId: run.id,
          jobId: job.id,
          args,
          log: new LogTail(),
          stopRequested: c.stopRequested,
          onStep: c.onStep,
        }),
      );
      if (outcome.status === 'failed') throw new Error(outcome.error);
      if (outcome.status === 'stopped') {
        process.stderr.write('stopped; nothing was recorded\n');
        process.exitCode = 130;
        return;
      }
      const a: AnalysisInfo = outcome.analysis;
      if (o.json) return printJson({ analysisRunId: run.id, gridFile: outcome.gridFile, ...a });
      process.stdout.write(describeResult(a.result, outcome.gridFile));
      process.stderr.write(`(analysis ${a.id} of run ${a.runId} at step ${a.checkpointStep}; analysis run ${run.id})\n`);
    } finally {
      lab.close();
    }
  });
  return cmd;
}

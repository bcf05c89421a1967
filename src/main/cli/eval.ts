/**
 * `xlab eval RUN`: score a training run's checkpoints (FID with a bootstrap interval, sFID, KID,
 * precision/recall, IS) for each T' and epsilon scale, from paired noise, against the cached
 * reference set of its dataset. Runs in the foreground with a progress bar, or with --queue leaves
 * it to the job supervisor. Either way it is recorded as an evaluation run (a child of the training
 * run) and combinations already scored are skipped.
 */
import { Command, Option } from 'commander';
import { LabApiError, type EvaluationInfo, type StartEvaluationRequest } from '../../shared/api';
import { SCORE_METRICS, type ScoreMetric } from '../../shared/config';
import { evaluationArgsFor } from '../api/evaluation-api';
import { initBackend } from '../nn/backend';
import { runEvaluation } from '../jobs/evaluation-run';
import { LogTail } from '../jobs/protocol';
import { claimForegroundJob, createEvaluationRun } from '../jobs/run-records';
import { addDataDirOption, intArg, openLab, printJson, table, type Lab } from './history';
import { inForeground } from './progress';

function list<T>(what: string, parse: (s: string) => T) {
  return (v: string, previous: T[] | undefined): T[] => {
    const items = v.split(',').map((s) => s.trim());
    if (items.some((s) => s === '')) throw new LabApiError('INVALID', `${what}: expected a comma-separated list, got '${v}'`);
    return [...(previous ?? []), ...items.map(parse)];
  };
}

function positiveNumber(what: string) {
  return (s: string): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new LabApiError('INVALID', `${what}: expected a positive number, got '${s}'`);
    return n;
  };
}

function stepsSpec(s: string): string {
  return s === 'all' ? '' : s;
}

function metric(s: string): ScoreMetric {
  if (!(SCORE_METRICS as readonly string[]).includes(s)) {
    throw new LabApiError('INVALID', `--metrics: unknown metric '${s}' (choose from ${SCORE_METRICS.join(', ')})`);
  }
  return s as ScoreMetric;
}

export function evalCommand(): Command {
  const cmd = new Command('eval')
    .description("score a training run's checkpoint(s): FID (bootstrap CI), sFID, KID, precision/recall, IS, for each T' and epsilon scale")
    .argument('<run>', 'training run id')
    .option('--steps <list>', "comma-separated T' specs: '20,100', 'ddim50', 'all' (default 20,100)", list('--steps', stepsSpec))
    .option('--n <n>', 'generated samples per combination (default 1000)', intArg('--n'))
    .option('--eps-scale <list>', 'comma-separated epsilon scales lambda (ADM-ES); 1 = none (default 1)', list('--eps-scale', positiveNumber('--eps-scale')))
    .option('--checkpoint <steps...>', 'checkpoint step(s) to evaluate (default: the latest)', list('--checkpoint', intArg('--checkpoint')))
    .option('--network <spec>', "feature network: auto, mnist-classifier, fashion-mnist-classifier, inception, or a .onnx file", 'auto')
    .addOption(new Option('--sampler <kind>', 'sampler').choices(['ddpm', 'ddim']))
    .option('--seed <n>', 'sampling seed: sample i gets the same noise for every run (default 0)', intArg('--seed'))
    .option('--batch <n>', 'samples per forward pass (default 100)', intArg('--batch'))
    .addOption(new Option('--weights <which>', 'EMA (default) or raw weights').choices(['ema', 'raw']))
    .option('--reference-count <n>', 'reference images of the training data (default 10000)', intArg('--reference-count'))
    .option('--bootstrap <n>', "bootstrap resamples for FID's interval; 0 = none (default 100)", intArg('--bootstrap'))
    .option('--metrics <list>', `comma-separated metrics (default all: ${SCORE_METRICS.join(',')})`, list('--metrics', metric))
    .option('--queue', 'queue it for the job supervisor (xlab serve, the app, xlab jobs run) instead of running here')
    .option('--name <name>', 'name of the evaluation run in the history')
    .option('--priority <n>', 'queue priority (higher first)', Number)
    .option('--json', 'print a JSON summary on stdout');
  addDataDirOption(cmd).action(async (runId: string, o) => {
    const lab = openLab(o);
    try {
      await evalAction(lab, runId, o);
    } finally {
      lab.close();
    }
  });
  return cmd;
}

function requestFromFlags(runId: string, o: Record<string, any>): StartEvaluationRequest {
  const r: Record<string, unknown> = { runId, featureNetwork: o.network };
  const set = (key: string, v: unknown) => {
    if (v !== undefined) r[key] = v;
  };
  set('steps', o.steps);
  set('n', o.n);
  set('epsScales', o.epsScale);
  set('checkpointSteps', o.checkpoint);
  set('sampler', o.sampler);
  set('seed', o.seed);
  set('batchSize', o.batch);
  set('weights', o.weights);
  set('referenceCount', o.referenceCount);
  set('bootstrap', o.bootstrap);
  set('metrics', o.metrics);
  set('name', o.name);
  set('priority', o.priority);
  return r as StartEvaluationRequest;
}

async function evalAction(lab: Lab, runId: string, o: Record<string, any>): Promise<void> {
  const { store, dataDir, api } = lab;
  const request = requestFromFlags(runId, o);
  if (o.queue) {
    const started = await api.startEvaluation(request);
    if (o.json) printJson({ runId: started.run.id, jobId: started.job.id, sourceRunId: runId, status: 'queued' });
    else {
      process.stdout.write(
        `queued job ${started.job.id} (evaluation run ${started.run.id}); it runs when \`xlab serve\`, the app or \`xlab jobs run\` is running\n`,
      );
    }
    return;
  }

  const { source, args } = evaluationArgsFor(store, dataDir, request);
  await initBackend('auto', 'infer');
  const run = createEvaluationRun(store, args, source, o.name ? { name: o.name } : {});
  const job = claimForegroundJob(store, run.id, 'evaluate', { ...args });
  const outcome = await inForeground('eval', Boolean(o.json), (c) =>
    runEvaluation({
      store,
      dataDir,
      runId: run.id,
      jobId: job.id,
      args,
      log: new LogTail(),
      stopRequested: c.stopRequested,
      onStep: c.onStep,
      onLog: c.log,
    }),
  );
  if (outcome.status === 'failed') throw new Error(outcome.error);
  if (outcome.status === 'stopped') {
    process.stderr.write(`stopped; finished combinations are stored. Resume with: xlab jobs resume ${job.id}\n`);
    process.exitCode = 130;
    return;
  }
  // Every combination's scores, whether computed now or found already stored.
  const combos = [...outcome.skipped, ...outcome.evaluated];
  const all = store.listEvaluations({ runId: source.id });
  const scores = combos
    .map((c) => {
      const rows = all.filter((e) => e.comparabilityKey === c.key && e.checkpointStep === c.checkpointStep);
      const latest = new Map<string, EvaluationInfo>();
      for (const e of rows) if (!latest.has(e.metric) || latest.get(e.metric)!.id < e.id) latest.set(e.metric, e);
      return { c, metrics: latest };
    })
    .sort((a, b) => a.c.checkpointStep - b.c.checkpointStep || a.c.samplingSteps - b.c.samplingSteps || a.c.epsScale - b.c.epsScale);
  if (o.json) {
    printJson({
      evaluationRunId: run.id,
      sourceRunId: source.id,
      jobId: job.id,
      evaluated: outcome.evaluated.length,
      skipped: outcome.skipped.length,
      scores: scores.map(({ c, metrics }) => ({
        checkpointStep: c.checkpointStep,
        samplingSteps: c.samplingSteps,
        stepsSpec: c.steps,
        epsScale: c.epsScale,
        key: c.key,
        metrics: Object.fromEntries([...metrics].map(([m, e]) => [m, { value: e.value, ciLow: e.ciLow, ciHigh: e.ciHigh, evaluationId: e.id }])),
      })),
    });
    return;
  }
  const fmt = (e: EvaluationInfo | undefined, digits = 3) => (e ? e.value.toFixed(digits) : '-');
  process.stdout.write(
    table(
      ['STEP', "T'", 'LAMBDA', 'FID [95% CI]', 'sFID', 'KID', 'PREC', 'RECALL', 'IS'],
      scores.map(({ c, metrics: m }) => {
        const fid = m.get('fid');
        const ci = fid && fid.ciLow !== null && fid.ciHigh !== null ? ` [${fid.ciLow.toFixed(2)}, ${fid.ciHigh.toFixed(2)}]` : '';
        return [
          String(c.checkpointStep),
          String(c.samplingSteps),
          String(c.epsScale),
          fid ? fid.value.toFixed(3) + ci : '-',
          fmt(m.get('sfid')),
          fmt(m.get('kid'), 5),
          fmt(m.get('precision')),
          fmt(m.get('recall')),
          fmt(m.get('is')),
        ];
      }),
    ),
  );
  const keys = [...new Set(scores.map((s) => s.c.key))];
  process.stdout.write(`\ncomparability key${keys.length > 1 ? 's' : ''}:\n${keys.map((k) => `  ${k}`).join('\n')}\n`);
  process.stdout.write(`(${outcome.evaluated.length} scored now, ${outcome.skipped.length} already stored; evaluation run ${run.id})\n`);
}

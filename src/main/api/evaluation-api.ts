/**
 * LabApi methods for scores: evaluation jobs, comparability keys, FID curves and the paper-style
 * comparison report. Scores are stored under the training run they measure (evaluation-run.ts), so
 * every query here takes training run ids.
 */
import { LabApiError, StartEvaluationRequestSchema, type EvaluationKeyInfo, type LabApi, type StartEvaluationRequest } from '../../shared/api';
import { EvaluationPlanSchema, formatIssues, parseTrainConfig, type EvaluationPlan } from '../../shared/config';
import { spacedTimesteps } from '../diffusion/respacing';
import { resolveNetworkChoice } from '../evaluation/network-catalog';
import { type EvaluationArgs, latestCheckpointStep } from '../jobs/evaluation-run';
import { createEvaluationRun } from '../jobs/run-records';
import type { RunRow, Store } from '../store/store';
import { buildComparisonReport } from '../reports/comparison';
import { buildCurves, toKeyInfo } from '../reports/curves';
import type { ApiContext } from './context';

type EvaluationMethods = Pick<LabApi, 'startEvaluation' | 'evaluationKeys' | 'evaluationCurves' | 'compareExperiment'>;

/** The request as the validating wrapper hands it over: the plan's defaults filled in. */
type ParsedEvaluationRequest = EvaluationPlan & {
  runId: string;
  checkpointSteps?: number[];
  name?: string;
  priority?: number;
};

function requireTrainingRun(store: Store, runId: string, field: string): RunRow {
  const run = store.getRun(runId);
  if (!run) throw new LabApiError('NOT_FOUND', `${field}: no run with id ${JSON.stringify(runId)}`);
  if (run.kind !== 'train') {
    throw new LabApiError(
      'INVALID',
      `${field}: run ${run.id} is a ${run.kind} run; scores belong to training runs` + (run.parentRunId ? ` (its parent is ${run.parentRunId})` : ''),
    );
  }
  return run;
}

/**
 * Checks an evaluation request against the history (training run, checkpoints, T' against the
 * run's T, the feature network) and returns the job's arguments; `latest` checkpoints are resolved
 * now, so the job evaluates what the user saw. Shared by startEvaluation and the foreground `xlab eval`.
 */
export function evaluationArgsFor(store: Store, dataDir: string, request: StartEvaluationRequest): { source: RunRow; args: EvaluationArgs } {
  const parsed = StartEvaluationRequestSchema.safeParse(request);
  if (!parsed.success) throw new LabApiError('INVALID', `request: ${formatIssues(parsed.error)}`);
  const r = parsed.data as ParsedEvaluationRequest;
  const source = requireTrainingRun(store, r.runId, 'request.runId');
  const { runId: _runId, checkpointSteps, name: _name, priority: _priority, ...planFields } = r;
  const plan = EvaluationPlanSchema.parse(planFields);
  let steps: number[];
  if (checkpointSteps) {
    const recorded = new Set(store.listCheckpoints(source.id).map((c) => c.step));
    const missing = checkpointSteps.filter((s) => !recorded.has(s));
    if (missing.length) {
      throw new LabApiError(
        'NOT_FOUND',
        `request.checkpointSteps: run ${source.id} has no checkpoint at step ${missing.join(', ')} ` +
          `(recorded: ${[...recorded].join(', ') || 'none'})`,
      );
    }
    steps = [...new Set(checkpointSteps)].sort((a, b) => a - b);
  } else {
    const latest = latestCheckpointStep(store, dataDir, source);
    if (latest === null) throw new LabApiError('CONFLICT', `run ${source.id} has no checkpoint yet; evaluate it once it has written one`);
    steps = [latest];
  }
  const T = parseTrainConfig(source.config).T;
  for (const s of plan.steps) {
    try {
      spacedTimesteps(T, s);
    } catch (err) {
      throw new LabApiError('INVALID', `request.steps: '${s}' does not fit the run's T = ${T}: ${(err as Error).message}`);
    }
  }
  // A missing Inception file or an unknown network is a bad request, not a failed job later.
  try {
    resolveNetworkChoice(plan.featureNetwork, { dataset: source.dataset ?? undefined });
  } catch (err) {
    throw new LabApiError('INVALID', `request.featureNetwork: ${(err as Error).message}`);
  }
  return { source, args: { type: 'evaluation', sourceRunId: source.id, checkpointSteps: steps, plan } };
}

export function evaluationMethods(ctx: ApiContext): EvaluationMethods {
  const { store, dataDir } = ctx;

  return {
    async startEvaluation(request: StartEvaluationRequest) {
      const { name, priority } = request;
      const { source, args } = evaluationArgsFor(store, dataDir, request);
      const { run, job } = store.transaction(() => {
        const run = createEvaluationRun(store, args, source, name ? { name } : {});
        const job = store.enqueueJob({ runId: run.id, kind: 'evaluate', args: { ...args }, priority: priority ?? 0 });
        return { run, job };
      });
      ctx.announceRun(run.id);
      const info = ctx.announceJob(job);
      ctx.supervisor?.poke();
      return { run: ctx.toRunInfo(run), job: info };
    },

    async evaluationKeys(query) {
      for (const id of query.runIds) ctx.requireRun(id);
      return store.evaluationKeys(query.runIds, query.metric).map(toKeyInfo);
    },

    async evaluationCurves(query) {
      const runIds = [...new Set(query.runIds)];
      runIds.forEach((id, i) => requireTrainingRun(store, id, `query.runIds[${i}]`));
      const rows = store.evaluationSeries(runIds, query.metric);
      return buildCurves(rows, query, runIds);
    },

    async compareExperiment(experimentId, options = {}) {
      const experiment = store.getExperiment(experimentId);
      if (!experiment) throw new LabApiError('NOT_FOUND', `no experiment with id ${experimentId}`);
      const runs = store.listRuns({ experimentId, kind: 'train', orderBy: 'createdAt', direction: 'asc' });
      const runIds = runs.map((r) => r.id);
      const evaluations = [...store.evaluationSeries(runIds, 'fid'), ...store.evaluationSeries(runIds, 'sfid')];
      const keys: EvaluationKeyInfo[] = store.evaluationKeys(runIds).map(toKeyInfo);
      return buildComparisonReport({ experiment, runs, evaluations, keys, options });
    },
  };
}

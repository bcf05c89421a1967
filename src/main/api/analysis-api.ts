/**
 * LabApi methods for the exposure-bias analyses, one-click paired samples and training-time
 * estimates.
 *
 * Analyses are filed under the training run they measure (the analyses table's run_id), not under
 * the analysis job's own child run: listAnalyses takes a training run id. Given an analysis run's id
 * instead, it follows the run's parent and returns the analysis that run recorded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  LabApiError,
  type AnalysisInfo,
  type CompareSamplesRequest,
  type LabApi,
  type SampleComparisonEntry,
  type StartAnalysisRequest,
} from '../../shared/api';
import { parseTrainConfig, type TrainConfig } from '../../shared/config';
import { spacedTimesteps } from '../diffusion/respacing';
import { type AnalysisArgs, type SamplingArgs, createAnalysisRun, createSamplingRun, isAnalysisArgs, machineInfo, runFolderOf } from '../jobs/run-records';
import { presetByName } from '../nn/presets';
import { resolveInDataDir } from '../store/artifacts';
import type { JobRow, JsonObject, RunRow, SampleSetRow, Store } from '../store/store';
import { checkpointFileName, listCheckpoints } from '../training/checkpoint';
import type { ApiContext } from './context';

type AnalysisMethods = Pick<LabApi, 'startAnalysis' | 'listAnalyses' | 'compareSamples' | 'estimateTraining'>;

/** The requests as the validating wrapper hands them over: defaults filled in. */
type ParsedAnalysisRequest = Required<Pick<StartAnalysisRequest, 'runId' | 'kind' | 'weights' | 'seed' | 'n' | 'steps'>> &
  Pick<StartAnalysisRequest, 'checkpointStep' | 'timesteps' | 'tStart' | 'tStarts' | 'priority'>;
type ParsedCompareRequest = Required<Pick<CompareSamplesRequest, 'runIds' | 'sampler' | 'n' | 'seed' | 'batchSize' | 'weights'>> &
  Pick<CompareSamplesRequest, 'checkpointStep'>;

// ---------------------------------------------------------------------------------------------
// Shared checks

function requireTrainingRun(store: Store, runId: string, field: string): RunRow {
  const run = store.getRun(runId);
  if (!run) throw new LabApiError('NOT_FOUND', `${field}: no run with id ${JSON.stringify(runId)}`);
  if (run.kind !== 'train') {
    throw new LabApiError('INVALID', `${field}: run ${run.id} is a ${run.kind} run; give a training run`);
  }
  return run;
}

function trainConfigOf(run: RunRow): TrainConfig {
  try {
    return parseTrainConfig(run.config);
  } catch (err) {
    throw new LabApiError('CONFLICT', `run ${run.id}'s recorded config cannot be read (${(err as Error).message})`);
  }
}

/** The newest checkpoint of a run: recorded, or on disk (a job killed before recording it). */
export function latestCheckpointOf(store: Store, dataDir: string, run: RunRow): number | null {
  const recorded = store.latestCheckpoint(run.id)?.step ?? null;
  const onDisk = listCheckpoints(path.join(runFolderOf(dataDir, run), 'checkpoints')).at(-1)?.step ?? null;
  if (recorded === null) return onDisk;
  return onDisk === null ? recorded : Math.max(recorded, onDisk);
}

function hasCheckpoint(store: Store, dataDir: string, run: RunRow, step: number): boolean {
  if (store.listCheckpoints(run.id).some((c) => c.step === step)) return true;
  return fs.existsSync(path.join(runFolderOf(dataDir, run), 'checkpoints', checkpointFileName(step)));
}

/** The checkpoint step a request means: the one it names (which must exist), else the run's newest. */
function resolveCheckpointStep(store: Store, dataDir: string, run: RunRow, asked: number | undefined, field: string): number {
  if (asked !== undefined) {
    if (!hasCheckpoint(store, dataDir, run, asked)) {
      throw new LabApiError('NOT_FOUND', `${field}: run ${run.id} has no checkpoint at step ${asked}`);
    }
    return asked;
  }
  const latest = latestCheckpointOf(store, dataDir, run);
  if (latest === null) throw new LabApiError('CONFLICT', `run ${run.id} has no checkpoint yet; try again once it has written one`);
  return latest;
}

function chainOf(T: number, steps: string, field: string): number[] {
  let S: number[];
  try {
    S = spacedTimesteps(T, steps);
  } catch (err) {
    throw new LabApiError('INVALID', `${field}: ${(err as Error).message}`);
  }
  if (S.length < 2) throw new LabApiError('INVALID', `${field}: a sampling chain needs at least 2 steps, "${steps}" keeps ${S.length}`);
  return S;
}

// ---------------------------------------------------------------------------------------------
// Analyses

/**
 * Checks an analysis request against its run (kind, checkpoint, timesteps within T, fields that
 * apply to the kind) and returns the job's arguments. Shared by startAnalysis and `xlab analyze`.
 */
export function prepareAnalysis(store: Store, dataDir: string, r: ParsedAnalysisRequest): { source: RunRow; args: AnalysisArgs } {
  const source = requireTrainingRun(store, r.runId, 'request.runId');
  const { T } = trainConfigOf(source);
  resolveCheckpointStep(store, dataDir, source, r.checkpointStep, 'request.checkpointStep');
  const applies: Record<'timesteps' | 'tStart' | 'tStarts', string> = {
    timesteps: 'prediction-error',
    tStart: 'delta-t',
    tStarts: 'chain-length',
  };
  for (const [field, kind] of Object.entries(applies)) {
    if (r[field as keyof typeof applies] !== undefined && r.kind !== kind) {
      throw new LabApiError('INVALID', `request.${field} applies to ${kind} analyses only, not ${r.kind}`);
    }
  }
  const inRange = (t: number, field: string) => {
    if (t >= T) throw new LabApiError('INVALID', `${field}: t = ${t} is outside 0..${T - 1} (run ${source.id} has T = ${T})`);
  };
  r.timesteps?.forEach((t) => inRange(t, 'request.timesteps'));
  r.tStarts?.forEach((t) => inRange(t, 'request.tStarts'));
  if (r.tStart !== undefined) inRange(r.tStart, 'request.tStart');
  if (r.kind !== 'prediction-error') chainOf(T, r.steps, 'request.steps');
  const args: AnalysisArgs = {
    type: 'analysis',
    kind: r.kind,
    sourceRunId: source.id,
    checkpointStep: r.checkpointStep ?? null,
    weights: r.weights,
    seed: r.seed,
    n: r.n,
    steps: r.steps,
    ...(r.timesteps ? { timesteps: [...new Set(r.timesteps)].sort((a, b) => a - b) } : {}),
    ...(r.tStart !== undefined ? { tStart: r.tStart } : {}),
    ...(r.tStarts ? { tStarts: [...r.tStarts] } : {}),
  };
  return { source, args };
}

// ---------------------------------------------------------------------------------------------
// Paired samples

type StoredSampler = JsonObject & { kind?: unknown; name?: unknown; steps?: unknown };

/**
 * Two sampler settings draw the same samples (given checkpoint, seed and weights) exactly when
 * these keys are equal: the kept timesteps rather than the spec ("1000" of T = 1000 is ""), the
 * variance and eta each sampler kind actually uses (with the defaults filled in), and the no-op
 * settings (lambda = 1, a time-shift window of 0) dropped. Null when the settings are unreadable.
 */
export function samplerKey(s: StoredSampler, T: number, learnSigma: boolean): string | null {
  const kind = s.kind ?? s.name;
  if (kind !== 'ddpm' && kind !== 'ddim') return null;
  let S: number[];
  try {
    S = spacedTimesteps(T, typeof s.steps === 'string' ? s.steps : '');
  } catch {
    return null;
  }
  const variance = kind === 'ddpm' ? ((s['variance'] as string | undefined) ?? (learnSigma ? 'learned' : 'fixed-large')) : null;
  const eta = kind === 'ddim' ? ((s['eta'] as number | undefined) ?? 0) : null;
  const es = s['epsScale'] as { kind: string; lambda?: number; start?: number; end?: number } | undefined;
  let epsScale: number | [number, number] | null = null;
  if (es?.kind === 'constant' && es.lambda !== 1) epsScale = es.lambda ?? null;
  if (es?.kind === 'linear') epsScale = es.start === es.end ? (es.start === 1 ? null : es.start!) : [es.start!, es.end!];
  const ts = s['timeShift'] as { cutoff: number; window: number } | undefined;
  const timeShift = ts && ts.window > 0 ? [ts.cutoff, ts.window] : null;
  const clip = (s['clipX0'] as boolean | undefined) ?? true;
  return JSON.stringify([kind, S.length === T ? 'all' : S.join(','), variance, eta, epsScale, timeShift, clip]);
}

/**
 * The weights a sample set was drawn with: recorded in its sampler, or (sets recorded before that)
 * read from its file name, which generate.ts builds as ..._<ema|raw>_seed<seed>_n<n>.
 */
function weightsOf(set: SampleSetRow): 'ema' | 'raw' | null {
  const w = set.sampler['weights'];
  if (w === 'ema' || w === 'raw') return w;
  for (const file of [set.npzPath, set.gridPath]) {
    const m = file ? /_(ema|raw)_seed\d+_n\d+\.(npz|png)$/.exec(file) : null;
    if (m) return m[1] as 'ema' | 'raw';
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Training-time estimates

/** What decides the cost of a training step apart from the batch: the network and the image. */
function stepCostKey(c: TrainConfig): string {
  let net: unknown;
  try {
    const p = { ...presetByName(c.preset), ...c.model };
    net = [p.baseChannels, p.channelMult, p.numResBlocks, p.attentionResolutions, p.headChannels];
  } catch {
    net = [c.preset, c.model];
  }
  // The gradient penalty differentiates twice: a different (larger) step.
  return JSON.stringify([net, c.imageSize ?? `native ${c.dataset}`, c.channels ?? `native ${c.dataset}`, c.objective === 'adm-gp']);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** How many of the newest comparable runs an estimate pools. */
const ESTIMATE_RUNS = 3;

// ---------------------------------------------------------------------------------------------

export function analysisMethods(ctx: ApiContext): AnalysisMethods {
  const { store, dataDir } = ctx;

  return {
    async startAnalysis(request) {
      const { source, args } = prepareAnalysis(store, dataDir, request as ParsedAnalysisRequest);
      const { run, job } = store.transaction(() => {
        const run = createAnalysisRun(store, args, source);
        const job = store.enqueueJob({ runId: run.id, kind: 'evaluate', args: { ...args }, priority: request.priority ?? 0 });
        return { run, job };
      });
      ctx.announceRun(run.id);
      const info = ctx.announceJob(job);
      ctx.supervisor?.poke();
      return { run: ctx.toRunInfo(run), job: info };
    },

    async listAnalyses(query = {}): Promise<AnalysisInfo[]> {
      if (query.runId === undefined) return store.listAnalyses(query);
      const run = ctx.requireRun(query.runId);
      if (run.kind === 'evaluate' && isAnalysisArgs(run.config) && run.parentRunId) {
        return store
          .listAnalyses({ runId: run.parentRunId, ...(query.kind ? { kind: query.kind } : {}) })
          .filter((a) => a.params['analysisRunId'] === run.id);
      }
      return store.listAnalyses(query);
    },

    async compareSamples(request) {
      const r = request as ParsedCompareRequest;
      const plans = r.runIds.map((runId, i) => {
        const run = requireTrainingRun(store, runId, `request.runIds.${i}`);
        const config = trainConfigOf(run);
        const step = resolveCheckpointStep(store, dataDir, run, r.checkpointStep, 'request.checkpointStep');
        chainOf(config.T, r.sampler.steps ?? '', 'request.sampler.steps');
        const key = samplerKey(r.sampler as StoredSampler, config.T, config.learnSigma);
        if (key === null) throw new LabApiError('INVALID', `request.sampler: cannot be used with run ${run.id}`);
        return { run, config, step, key };
      });

      const created: JobRow[] = [];
      // One write transaction: a second click (from this or another process) waits and then finds
      // the job this one queued, instead of queuing its twin.
      const found = store.transaction(() =>
        plans.map(({ run, config, step, key }): { runId: string; set: SampleSetRow | null; job: JobRow | null } => {
          const set = store
            .listSampleSets(run.id)
            .filter(
              (s) =>
                s.checkpointStep === step &&
                s.seed === r.seed &&
                s.count === r.n &&
                weightsOf(s) === r.weights &&
                samplerKey(s.sampler as StoredSampler, config.T, config.learnSigma) === key &&
                s.gridPath !== null &&
                fs.existsSync(resolveInDataDir(dataDir, s.gridPath)),
            )
            .at(-1);
          if (set) return { runId: run.id, set, job: null };

          const latest = latestCheckpointOf(store, dataDir, run);
          const pending = store.listJobs({ status: ['queued', 'running'] }).find((j) => {
            if (j.kind !== 'sample') return false;
            const a = j.args as unknown as SamplingArgs;
            return (
              a.sourceRunId === run.id &&
              !a.checkpointPath &&
              (a.checkpointStep ?? latest) === step &&
              a.seed === r.seed &&
              a.n === r.n &&
              a.weights === r.weights &&
              samplerKey(a.sampler as unknown as StoredSampler, config.T, config.learnSigma) === key
            );
          });
          if (pending) return { runId: run.id, set: null, job: pending };

          const args: SamplingArgs = {
            sourceRunId: run.id,
            checkpointStep: step,
            sampler: r.sampler as SamplingArgs['sampler'],
            n: r.n,
            seed: r.seed,
            batchSize: r.batchSize,
            weights: r.weights,
          };
          const sampling = createSamplingRun(store, args, run);
          const job = store.enqueueJob({ runId: sampling.id, kind: 'sample', args: { ...args } });
          created.push(job);
          return { runId: run.id, set: null, job };
        }),
      );
      for (const job of created) {
        ctx.announceRun(job.runId);
        ctx.announceJob(job);
      }
      if (created.length) ctx.supervisor?.poke();
      return found.map(
        (f): SampleComparisonEntry => ({
          runId: f.runId,
          sampleSet: f.set ? ctx.toSampleSetInfo(f.set) : null,
          job: f.job ? ctx.jobInfo(f.job) : null,
        }),
      );
    },

    async estimateTraining(configInput) {
      const config = parseTrainConfig(configInput);
      const here = machineInfo();
      const cost = stepCostKey(config);
      const same: { run: RunRow; secondsPerStep: number }[] = [];
      const other: { run: RunRow; batch: number; secondsPerStep: number }[] = [];
      // Newest first: the software and the machine's load change; recent runs say most about now.
      for (const run of store.listRuns({ kind: 'train', preset: config.preset })) {
        if (same.length >= ESTIMATE_RUNS) break;
        const parsed = (() => {
          try {
            return parseTrainConfig(run.config);
          } catch {
            return null;
          }
        })();
        if (!parsed || stepCostKey(parsed) !== cost) continue;
        // Only this machine's own measurements (a copied history may hold another machine's runs).
        const m = run.machine;
        if (m && (m['cpuModel'] !== here['cpuModel'] || m['cpuCount'] !== here['cpuCount'])) continue;
        if (config.backend !== 'auto' && (run.backend ?? parsed.backend) !== config.backend) continue;
        const rates = store.metricSeries(run.id, 'it_per_s').value.filter((v) => Number.isFinite(v) && v > 0);
        if (rates.length === 0) continue;
        const secondsPerStep = 1 / median(rates);
        if (parsed.batch === config.batch) same.push({ run, secondsPerStep });
        else if (other.length < ESTIMATE_RUNS) other.push({ run, batch: parsed.batch, secondsPerStep });
      }
      const size = config.imageSize === null ? `${config.dataset}'s own size` : `${config.imageSize}x${config.imageSize}`;
      const what = `preset ${config.preset}, batch ${config.batch}, ${size}${config.backend === 'auto' ? '' : `, ${config.backend}`}`;
      const runsText = (rs: { run: RunRow }[]) => `${rs.length === 1 ? 'run' : `${rs.length} runs`} ${rs.map((x) => x.run.id).join(', ')}`;
      if (same.length) {
        const secondsPerStep = median(same.map((x) => x.secondsPerStep));
        return {
          secondsPerStep,
          seconds: secondsPerStep * config.steps,
          basis: `measured on this machine (${what}): median speed of ${runsText(same)}`,
        };
      }
      if (other.length) {
        const secondsPerStep = median(other.map((x) => (x.secondsPerStep * config.batch) / x.batch));
        const batches = [...new Set(other.map((x) => x.batch))].join(', ');
        return {
          secondsPerStep,
          seconds: secondsPerStep * config.steps,
          basis: `measured on this machine at batch ${batches} (${runsText(other)}), scaled linearly to batch ${config.batch} (${what}); a rough guide`,
        };
      }
      return { secondsPerStep: null, seconds: null, basis: `no comparable run yet on this machine (${what}); the first run of this size calibrates the estimate` };
    },
  };
}

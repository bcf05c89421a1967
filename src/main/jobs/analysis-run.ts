/**
 * An exposure-bias analysis with the run history attached: loads the checkpoint and the run's own
 * data, runs one analysis of src/main/analyses/, and files the result under the analysed training
 * run (the analyses table), with the chain-length grid as an artifact. The analysis itself is a
 * child run of kind 'evaluate'. Used by the job process and by `xlab analyze` in the foreground.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisResult, RunStatus } from '../../shared/api';
import { type AnalysedModel, type ImageSet, selectDataImages } from '../analyses/analysis-inputs';
import { CHAIN_LENGTH_COLUMNS, chainLengthGrid, chainLengthRows, defaultChainLengthStarts } from '../analyses/chain-length';
import { measureDeltaT } from '../analyses/delta-t';
import { defaultPredictionErrorTimesteps, measurePredictionError } from '../analyses/prediction-error';
import { checkAnalysisResult } from '../analyses/results';
import { measureSpectrum } from '../analyses/spectrum-comparison';
import { loadDataset } from '../data/dataset';
import type { SamplerOptions } from '../diffusion/samplers';
import { createProcess } from '../diffusion/schedule';
import { writeFileAtomic } from '../formats/atomic-file';
import { ensureRunDir } from '../store/artifacts';
import type { AnalysisRow, JsonObject, Store } from '../store/store';
import { loadModelForInference } from '../training/model-state';
import type { JobProgress, LogTail } from './protocol';
import { type AnalysisArgs, recordJobFailure, relativeIfInside, runFolderOf } from './run-records';
import { JobStopped, settleStopped, stepWatch } from './step-watch';
import { samplingCheckpointFile } from './sampling-run';
import type { TrainingStop } from './training-run';

export type { AnalysisArgs };

/**
 * The chain the analyses run: the model's own default DDPM sampler (learned variance when it has
 * one, else fixed-large; x0-hat clipped), as the papers measured exposure bias with.
 */
export function analysisSampler(steps: string): Omit<SamplerOptions, 'learnSigma'> {
  return { kind: 'ddpm', steps, clipX0: true };
}

/** Forward passes per batch. */
const ANALYSIS_BATCH = 64;

export interface AnalysisRunOptions {
  store: Store;
  dataDir: string;
  /** The analysis run (kind 'evaluate'). */
  runId: string;
  jobId: number;
  args: AnalysisArgs;
  log: LogTail;
  stopRequested?: () => TrainingStop | null;
  onProgress?: (p: JobProgress) => void;
  onRunUpdated?: (runId: string, status: RunStatus, stepsDone: number) => void;
  onStep?: (done: number, total: number) => void;
  onLog?: (line: string) => void;
  heartbeatMs?: number;
  progressMs?: number;
}

export type AnalysisOutcome =
  | { status: 'done'; analysis: AnalysisRow; gridFile: string | null }
  | { status: 'stopped'; reason: TrainingStop | 'job-gone' }
  | { status: 'failed'; error: string };

/** The analysis proper, once model and data are loaded: the result (grid still unwritten) and what it used. */
async function compute(
  args: AnalysisArgs,
  model: AnalysedModel,
  dataset: ImageSet,
  onStep: (done: number, total: number) => void,
): Promise<{ result: AnalysisResult | null; grid: Buffer | null; used: JsonObject }> {
  const T = model.process.numTimesteps;
  const sampler = analysisSampler(args.steps);
  if (args.kind === 'prediction-error') {
    const timesteps = args.timesteps ?? defaultPredictionErrorTimesteps(T);
    const data = selectDataImages(dataset, model.shape, args.n, args.seed);
    const result = await measurePredictionError({ model, data, timesteps, seed: args.seed, batchSize: ANALYSIS_BATCH, onStep });
    return { result, grid: null, used: { n: args.n, timesteps } };
  }
  if (args.kind === 'delta-t') {
    const data = selectDataImages(dataset, model.shape, args.n, args.seed);
    const result = await measureDeltaT({
      model,
      data,
      sampler,
      ...(args.tStart !== undefined ? { tStart: args.tStart } : {}),
      seed: args.seed,
      batchSize: ANALYSIS_BATCH,
      onStep,
    });
    return { result, grid: null, used: { n: args.n, sampler, tStart: result.tStart } };
  }
  if (args.kind === 'spectrum') {
    const data = selectDataImages(dataset, model.shape, args.n, args.seed);
    const result = await measureSpectrum({ model, data, sampler, n: args.n, seed: args.seed, batchSize: ANALYSIS_BATCH, onStep });
    return { result, grid: null, used: { n: args.n, sampler } };
  }
  const n = Math.min(args.n, CHAIN_LENGTH_COLUMNS);
  const data = selectDataImages(dataset, model.shape, n, args.seed);
  const rows = await chainLengthRows({ model, data, sampler, tStarts: args.tStarts ?? defaultChainLengthStarts(T), seed: args.seed, onStep });
  const grid = await chainLengthGrid(data, rows.rows, model.shape);
  // The artifact id is known only once the grid is registered.
  return { result: null, grid, used: { n, sampler, tStarts: rows.tStarts } };
}

export async function runAnalysis(o: AnalysisRunOptions): Promise<AnalysisOutcome> {
  const { store, dataDir, runId, jobId, args, log } = o;
  const heartbeatMs = o.heartbeatMs ?? 1000;
  const progressMs = o.progressMs ?? 250;
  const say = (line: string) => {
    log.add(line);
    o.onLog?.(line);
  };
  const fail = (err: unknown): AnalysisOutcome => {
    const error = recordJobFailure(store, jobId, runId, log, err, o.onLog);
    const run = store.getRun(runId);
    if (run) o.onRunUpdated?.(runId, run.status, run.stepsDone);
    return { status: 'failed', error };
  };

  if (!store.heartbeat(jobId, process.pid)) return { status: 'stopped', reason: 'job-gone' };
  let checkpoint: string;
  try {
    checkpoint = samplingCheckpointFile(store, dataDir, {
      sourceRunId: args.sourceRunId,
      checkpointStep: args.checkpointStep,
      sampler: analysisSampler(args.steps),
      n: args.n,
      seed: args.seed,
      batchSize: ANALYSIS_BATCH,
      weights: args.weights,
    });
    const run = store.updateRun(runId, { status: 'running' });
    o.onRunUpdated?.(runId, run.status, run.stepsDone);
    say(`${args.kind} analysis of run ${args.sourceRunId} from ${path.basename(checkpoint)} (${args.weights} weights, n ${args.n}, seed ${args.seed})`);
  } catch (err) {
    return fail(err);
  }

  const onStep = stepWatch({ store, runId, jobId, kind: 'evaluate', stopRequested: o.stopRequested, onProgress: o.onProgress, onStep: o.onStep, heartbeatMs, progressMs });

  let computed: Awaited<ReturnType<typeof compute>>;
  let checkpointStep: number;
  try {
    const loaded = loadModelForInference(checkpoint, args.weights);
    try {
      checkpointStep = loaded.step;
      const config = loaded.config;
      const shape: [number, number, number] = [loaded.unet.imageSize, loaded.unet.imageSize, loaded.unet.inChannels];
      const data = await loadDataset(config.dataset, { imageSize: config.imageSize ?? undefined, channels: config.channels ?? undefined });
      if (data.height !== shape[0] || data.width !== shape[1] || data.channels !== shape[2]) {
        throw new Error(
          `the run's data (${config.dataset}) loads as ${data.height}x${data.width}x${data.channels} but the model takes ${shape.join('x')}`,
        );
      }
      const model: AnalysedModel = { network: loaded.model, process: createProcess(config.schedule, config.T), learnSigma: config.learnSigma, shape };
      computed = await compute(args, model, { images: data.images, count: data.n }, onStep);
    } finally {
      loaded.dispose();
    }
  } catch (err) {
    if (err instanceof JobStopped) {
      say(`stopped (${err.reason}); nothing was recorded`);
      settleStopped(store, jobId, runId, o.onRunUpdated);
      return { status: 'stopped', reason: err.reason };
    }
    return fail(err);
  }

  try {
    let gridFile: string | null = null;
    let owner = args.sourceRunId;
    if (computed.grid) {
      // Beside the run's sample sets when its folder is in the data dir (so it goes with the run);
      // otherwise in the analysis run's own folder, which always is.
      const source = store.getRun(args.sourceRunId);
      const sourceFolder = source ? runFolderOf(dataDir, source) : null;
      const inside = sourceFolder !== null && relativeIfInside(dataDir, sourceFolder) !== null;
      const folder = inside ? path.join(sourceFolder, 'analyses') : ensureRunDir(dataDir, runId);
      if (!inside) owner = runId;
      fs.mkdirSync(folder, { recursive: true });
      gridFile = path.join(folder, `chain-length_step${checkpointStep}_T${args.steps || 'all'}_${args.weights}_seed${args.seed}_${runId}.png`);
      await writeFileAtomic(gridFile, computed.grid);
    }
    const { analysis, run } = store.transaction(() => {
      let result = computed.result;
      if (gridFile) {
        const artifact = store.registerArtifact({ runId: owner, relPath: relativeIfInside(dataDir, gridFile)!, kind: 'grid', bytes: computed.grid!.length });
        result = { kind: 'chain-length', tStarts: computed.used['tStarts'] as number[], gridArtifactId: artifact.id };
      }
      const analysis = store.addAnalysis({
        runId: args.sourceRunId,
        kind: args.kind,
        checkpointStep,
        params: { ...requestParams(args), ...computed.used, analysisRunId: runId },
        result: checkAnalysisResult(result),
      });
      const finished = store.finishJob(jobId, log.text());
      const current = store.getRun(runId)!;
      const total = current.stepsPlanned ?? 0;
      return { analysis, run: store.updateRun(runId, finished ? { status: 'done', stepsDone: total } : { stepsDone: total }) };
    });
    say(`recorded ${args.kind} analysis ${analysis.id} of run ${args.sourceRunId}${gridFile ? ` (grid ${gridFile})` : ''}`);
    o.onProgress?.({
      jobId,
      runId,
      kind: 'evaluate',
      step: run.stepsDone,
      stepsPlanned: run.stepsPlanned ?? run.stepsDone,
      loss: null,
      itPerSec: null,
      etaSeconds: 0,
      checkpointStep,
      gridArtifactId: analysis.result.kind === 'chain-length' ? analysis.result.gridArtifactId : null,
    });
    o.onRunUpdated?.(runId, run.status, run.stepsDone);
    return { status: 'done', analysis, gridFile };
  } catch (err) {
    return fail(err);
  }
}

/** What was asked, as recorded with the result (the resolved values are added by compute). */
function requestParams(args: AnalysisArgs): JsonObject {
  const { type: _type, kind: _kind, sourceRunId: _source, ...rest } = args;
  return { ...rest };
}

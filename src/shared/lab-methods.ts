/**
 * The names of the LabApi methods and of their parameters, and nothing else. Kept free of zod and
 * of every other import: the sandboxed preload (which can load no npm package at run time) and the
 * browser client build their call tables from this list, while src/shared/api.ts holds the types
 * and the request schemas.
 *
 * Parameter names matter on the wire: IPC sends arguments by position, HTTP sends one JSON object
 * keyed by these names, and validation errors name the parameter ("config.steps: ...").
 */
export const LAB_METHOD_PARAMS = {
  // queries
  listRuns: ['query'],
  getRun: ['runId'],
  metricSeries: ['query'],
  listCheckpoints: ['runId'],
  listSampleSets: ['runId'],
  listEvaluations: ['query'],
  listExperiments: [],
  listJobs: ['query'],
  listTags: [],
  artifactUrl: ['artifactId'],
  // commands
  createExperiment: ['input'],
  startTraining: ['config', 'options'],
  startSampling: ['request'],
  cancelJob: ['jobId'],
  pauseJob: ['jobId'],
  resumeJob: ['jobId'],
  tag: ['runId', 'tag'],
  untag: ['runId', 'tag'],
  addNote: ['runId', 'text'],
  deleteRun: ['runId', 'options'],
  // evaluation and analyses
  startEvaluation: ['request'],
  evaluationKeys: ['query'],
  evaluationCurves: ['query'],
  compareExperiment: ['experimentId', 'options'],
  startAnalysis: ['request'],
  listAnalyses: ['query'],
  compareSamples: ['request'],
  estimateTraining: ['config'],
} as const;

export type LabMethod = keyof typeof LAB_METHOD_PARAMS;

export const LAB_METHODS = Object.keys(LAB_METHOD_PARAMS) as LabMethod[];

export function isLabMethod(name: unknown): name is LabMethod {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(LAB_METHOD_PARAMS, name);
}

/** IPC channel names shared by the shell and the preload. */
export const IPC_CALL = 'lab:call';
export const IPC_EVENT = 'lab:event';

/** What an IPC call resolves to: errors travel as data so their code survives the boundary. */
export type IpcResult = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

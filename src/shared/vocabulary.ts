/**
 * The lab's closed word lists (run kinds and statuses, objectives, analyses) and its error type,
 * with no import at all: the renderer's first screen and its API client need these values, and
 * importing them from api.ts or config.ts would pull zod and every request schema into the bundle
 * that must load before the app can paint. api.ts and config.ts re-export them.
 */

export const RUN_KINDS = ['train', 'sample', 'evaluate'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export const RUN_STATUSES = ['queued', 'running', 'paused', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const OBJECTIVES = ['adm', 'adm-ip', 'adm-y', 'adm-wd', 'adm-gp'] as const;
export type ObjectiveName = (typeof OBJECTIVES)[number];

export const ANALYSIS_KINDS = ['prediction-error', 'delta-t', 'spectrum', 'chain-length'] as const;
export type AnalysisKind = (typeof ANALYSIS_KINDS)[number];

export const LAB_ERROR_CODES = ['INVALID', 'NOT_FOUND', 'CONFLICT', 'UNAUTHORIZED', 'UNAVAILABLE', 'INTERNAL'] as const;
export type LabErrorCode = (typeof LAB_ERROR_CODES)[number];

/** What every transport rejects with; `code` survives IPC and HTTP. */
export class LabApiError extends Error {
  readonly code: LabErrorCode;
  constructor(code: LabErrorCode, message: string) {
    super(message);
    this.name = 'LabApiError';
    this.code = code;
  }
}

export function isLabErrorCode(code: unknown): code is LabErrorCode {
  return typeof code === 'string' && (LAB_ERROR_CODES as readonly string[]).includes(code);
}

/**
 * LabApi methods for scores: evaluation jobs, comparability keys, FID curves and the paper-style
 * comparison report. (Being built: issue 4.)
 */
import { LabApiError, type LabApi } from '../../shared/api';
import type { ApiContext } from './context';

type EvaluationMethods = Pick<LabApi, 'startEvaluation' | 'evaluationKeys' | 'evaluationCurves' | 'compareExperiment'>;

export function evaluationMethods(_ctx: ApiContext): EvaluationMethods {
  const notYet = async (): Promise<never> => {
    throw new LabApiError('UNAVAILABLE', 'evaluation is not built yet');
  };
  return { startEvaluation: notYet, evaluationKeys: notYet, evaluationCurves: notYet, compareExperiment: notYet };
}

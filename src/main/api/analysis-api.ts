/**
 * LabApi methods for the exposure-bias analyses, one-click paired samples and time estimates.
 * (Being built: issues 4 and 5.)
 */
import { LabApiError, type LabApi } from '../../shared/api';
import type { ApiContext } from './context';

type AnalysisMethods = Pick<LabApi, 'startAnalysis' | 'listAnalyses' | 'compareSamples' | 'estimateTraining'>;

export function analysisMethods(_ctx: ApiContext): AnalysisMethods {
  const notYet = async (): Promise<never> => {
    throw new LabApiError('UNAVAILABLE', 'not built yet');
  };
  return { startAnalysis: notYet, listAnalyses: notYet, compareSamples: notYet, estimateTraining: notYet };
}

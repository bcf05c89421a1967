/**
 * Paired sample sets the runs already have, found from the stored sets alone (nothing is queued):
 * what the Compare screen shows on arrival, so grids a user sampled before appear without a click.
 *
 * Sets pair when they come from the same noise and the same chain: equal seed, count, sampler and
 * respacing, and either one checkpoint for every run or each run's latest. Only settings the form
 * can express count, so "Compare samples" with the form as filled in asks for exactly these sets.
 * The stored set does not say whether EMA or raw weights drew it; among equal candidates the one
 * made closest in time to the first run's set is taken (one click makes every run's set together).
 */
import type { SampleSetInfo } from '../../../../shared/api';
import { STEP_CHOICES, stepsSpec, type SampleForm, type SamplerKind } from './sample-request';

export interface SavedPair {
  /** One set per run, in the runs' order. */
  sets: SampleSetInfo[];
  /** The form that asks for these sets (weights stay as the form has them). */
  form: Omit<SampleForm, 'weights'>;
  /** True when the steps are not one of the menu's choices. */
  customSteps: boolean;
}

function samplerKind(set: SampleSetInfo): SamplerKind | null {
  const kind = set.sampler['kind'] ?? set.sampler['name'];
  return kind === 'ddpm' || kind === 'ddim' ? kind : null;
}

/** T' of a set whose respacing the form can ask for again ("20" for DDPM, "ddim50" for DDIM), else null. */
function formSteps(set: SampleSetInfo): number | null {
  const kind = samplerKind(set);
  if (kind === null || set.stepsSpec === null || (set.epsScale !== null && set.epsScale !== 1)) return null;
  const m = /^(?:ddim)?(\d+)$/.exec(set.stepsSpec);
  const steps = m ? Number(m[1]) : NaN;
  return Number.isInteger(steps) && steps > 0 && stepsSpec(kind, steps) === set.stepsSpec ? steps : null;
}

const sameDraw = (a: SampleSetInfo, b: SampleSetInfo) =>
  a.seed === b.seed && a.count === b.count && samplerKind(a) === samplerKind(b) && a.stepsSpec === b.stepsSpec;

/**
 * The newest pairing of the first run's sets with a set of every other run; null when there is
 * none (or fewer than two runs). latestSteps: each run's latest checkpoint (null: none known).
 */
export function latestPairedSets(setsPerRun: SampleSetInfo[][], latestSteps: (number | null)[]): SavedPair | null {
  const [first, ...others] = setsPerRun;
  if (!first || others.length === 0) return null;
  const candidates = first
    .filter((s) => s.gridArtifactId !== null && s.checkpointStep !== null && formSteps(s) !== null)
    .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
  for (const head of candidates) {
    const atLatest = head.checkpointStep === latestSteps[0];
    // Each run at the same checkpoint as the first, or (when the first is at its latest) each at its own latest.
    const pick = (sets: SampleSetInfo[], i: number, latest: boolean): SampleSetInfo | null => {
      const step = latest ? latestSteps[i + 1] : head.checkpointStep;
      const matching = sets.filter((s) => s.gridArtifactId !== null && s.checkpointStep === step && step !== null && sameDraw(s, head));
      matching.sort((a, b) => Math.abs(a.createdAt - head.createdAt) - Math.abs(b.createdAt - head.createdAt) || b.id - a.id);
      return matching[0] ?? null;
    };
    for (const latest of atLatest ? [false, true] : [false]) {
      const rest = others.map((sets, i) => pick(sets, i, latest));
      if (rest.some((s) => s === null)) continue;
      const sets = [head, ...(rest as SampleSetInfo[])];
      const everyLatest = sets.every((s, i) => s.checkpointStep === latestSteps[i]);
      const steps = formSteps(head)!;
      return {
        sets,
        form: {
          // One checkpoint for all runs can be named; runs at different latest checkpoints only as "latest".
          checkpoint: everyLatest ? '' : String(head.checkpointStep),
          sampler: samplerKind(head)!,
          steps: String(steps),
          n: String(head.count),
          seed: String(head.seed),
        },
        customSteps: !(STEP_CHOICES as readonly number[]).includes(steps),
      };
    }
  }
  return null;
}

/**
 * The Compare screen's first requests (the runs, their checkpoints, the paired sets they already
 * have and those sets' grid images), started while React renders the screen instead of after it
 * commits. The screen is loaded lazily behind a Suspense fallback, and React reveals suspended
 * content at most every 300 ms: the rendered screen can wait that long to commit, and effects (so
 * useQuery) would only then start asking. Started here, the answers are on their way meanwhile.
 *
 * Each request is taken once, by the query that would have made it, and only while fresh: a
 * refetch, or a later visit, asks the engine again.
 */
import type { CheckpointInfo, RunDetail } from '../../../../shared/api';
import type { LabClient } from '../../lab-client';
import { preloadSetGrids } from './grid-images';
import { latestPairedSets, type SavedPair } from './saved-pairs';

export interface FirstRequests {
  details: Promise<(RunDetail | null)[]>;
  checkpoints: Promise<CheckpointInfo[][]>;
  saved: Promise<SavedPair | null>;
}

type Part = keyof FirstRequests;

/** Long enough for a throttled commit, short enough that nothing stale is ever shown. */
const FRESH_MS = 5000;

const started = new WeakMap<LabClient, Map<string, { at: number; parts: Partial<FirstRequests> }>>();

const latestStep = (list: CheckpointInfo[]) => (list.length ? Math.max(...list.map((c) => c.step)) : null);

/** The newest paired sets of these runs, with their grid images already on the way. */
export async function savedPair(lab: LabClient, runIds: string[], checkpoints: Promise<CheckpointInfo[][]>): Promise<SavedPair | null> {
  if (runIds.length < 2) return null;
  const [sets, lists] = await Promise.all([Promise.all(runIds.map((id) => lab.listSampleSets(id))), checkpoints]);
  const pair = latestPairedSets(sets, lists.map(latestStep));
  if (!pair) return null;
  await preloadSetGrids(lab, pair.sets);
  return pair;
}

/** Starts the screen's first requests for these runs (call once per mount, while rendering). */
export function startFirstRequests(lab: LabClient, runIds: string[]): void {
  if (runIds.length === 0) return;
  let byRuns = started.get(lab);
  if (!byRuns) started.set(lab, (byRuns = new Map()));
  const now = Date.now();
  for (const [key, s] of byRuns) if (now - s.at > FRESH_MS) byRuns.delete(key);
  const key = runIds.join(',');
  if (byRuns.has(key)) return;
  const checkpoints = Promise.all(runIds.map((id) => lab.listCheckpoints(id)));
  const parts: FirstRequests = {
    details: Promise.all(runIds.map((id) => lab.getRun(id))),
    checkpoints,
    saved: savedPair(lab, runIds, checkpoints),
  };
  // A request nobody takes (the render was thrown away) must not report an unhandled rejection.
  for (const p of Object.values(parts)) (p as Promise<unknown>).catch(() => undefined);
  byRuns.set(key, { at: now, parts });
}

/** The request started for this part, once, while fresh; null when the caller must ask itself. */
export function takeFirstRequest<P extends Part>(lab: LabClient, runIds: string[], part: P): FirstRequests[P] | null {
  const s = started.get(lab)?.get(runIds.join(','));
  if (!s || Date.now() - s.at > FRESH_MS) return null;
  const p = s.parts[part];
  delete s.parts[part];
  return (p as FirstRequests[P] | undefined) ?? null;
}

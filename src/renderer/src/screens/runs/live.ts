/**
 * What the runs list learns between fetches: each running job's latest step from job-progress
 * events (many a second), shown over the fetched row at most four times a second so a busy
 * queue never makes the list re-render on every event.
 */
import { useEffect, useRef, useState } from 'react';
import type { JobProgressEvent } from '../../../../shared/api';
import { useLabEvents } from '../../lab';

export type LiveProgress = Pick<JobProgressEvent, 'step' | 'stepsPlanned' | 'itPerSec' | 'etaSeconds' | 'at'>;

export function useLiveProgress(flushMs = 250): ReadonlyMap<string, LiveProgress> {
  const pending = useRef(new Map<string, LiveProgress>());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const [live, setLive] = useState<ReadonlyMap<string, LiveProgress>>(() => new Map());
  useLabEvents((e) => {
    if (e.type !== 'job-progress' || e.kind !== 'train') return;
    pending.current.set(e.runId, { step: e.step, stepsPlanned: e.stepsPlanned, itPerSec: e.itPerSec, etaSeconds: e.etaSeconds, at: e.at });
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      const batch = pending.current;
      pending.current = new Map();
      setLive((prev) => {
        const next = new Map(prev);
        for (const [k, v] of batch) next.set(k, v);
        return next;
      });
    }, flushMs);
  });
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return live;
}

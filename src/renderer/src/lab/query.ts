/**
 * Data from the LabApi that follows the engine: fetches on mount and when deps change, and again
 * when an event the caller cares about arrives. Refetches are throttled and never overlap (events
 * arrive many times a second while a job trains; one request in flight plus one pending is enough),
 * and the previous data stays on screen while a refetch runs, so nothing flickers.
 */
import { useCallback, useEffect, useRef, useState, type DependencyList } from 'react';
import type { LabEvent } from '../../../shared/api';
import type { LabClient } from '../lab-client';
import { useLab } from './context';
import { useLabEvents } from './events';

export interface QueryOptions {
  /** Which events make the data stale; default none (fetch once per deps change). */
  refetchOn?: (event: LabEvent) => boolean;
  /** Least time between two event-driven refetches; default 500 ms. */
  throttleMs?: number;
  /** Skip fetching (e.g. while an id is unknown); data stays null. */
  enabled?: boolean;
}

export interface QueryState<T> {
  data: T | null;
  error: Error | null;
  /** True until the first answer (or error) for the current deps. */
  loading: boolean;
  /** Fetch again now (after a command the UI issued itself). */
  refetch: () => void;
}

export function useQuery<T>(fn: (lab: LabClient) => Promise<T>, deps: DependencyList, options: QueryOptions = {}): QueryState<T> {
  const lab = useLab();
  const { refetchOn, throttleMs = 500, enabled = true } = options;
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({
    data: null,
    error: null,
    loading: enabled,
  });
  const fnRef = useRef(fn);
  fnRef.current = fn;
  // Answers to an older deps generation are dropped.
  const generation = useRef(0);
  // The generation of the request in flight, if any.
  const inFlight = useRef<number | null>(null);
  const again = useRef(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const lastRun = useRef(0);
  const enabledRef = useRef(enabled);
  enabledRef.current = enabled;

  const run = useCallback(() => {
    if (!enabledRef.current) return;
    const gen = generation.current;
    if (inFlight.current === gen) {
      again.current = true;
      return;
    }
    inFlight.current = gen;
    lastRun.current = Date.now();
    fnRef
      .current(lab)
      .then(
        (data) => {
          if (gen === generation.current) setState({ data, error: null, loading: false });
        },
        (err: unknown) => {
          if (gen === generation.current) {
            setState((s) => ({ data: s.data, error: err instanceof Error ? err : new Error(String(err)), loading: false }));
          }
        },
      )
      .finally(() => {
        if (inFlight.current !== gen) return;
        inFlight.current = null;
        if (again.current) {
          again.current = false;
          run();
        }
      });
  }, [lab]);

  useEffect(() => {
    generation.current += 1;
    // A request of the old generation may still be running; its answer is ignored, and this one starts now.
    again.current = false;
    if (!enabled) {
      setState({ data: null, error: null, loading: false });
      return;
    }
    setState((s) => ({ ...s, loading: true }));
    run();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lab, enabled, run, ...deps]);

  useEffect(
    () => () => {
      generation.current += 1;
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );

  useLabEvents((event) => {
    if (!refetchOn || !enabledRef.current || !refetchOn(event)) return;
    if (timer.current) return;
    const wait = Math.max(0, lastRun.current + throttleMs - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      run();
    }, wait);
  });

  return { ...state, refetch: run };
}

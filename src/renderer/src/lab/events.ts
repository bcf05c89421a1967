/**
 * Live engine events for a component: subscribes on mount, unsubscribes on unmount. The listener
 * may change every render (it usually closes over state); only the latest one is called, without
 * resubscribing.
 */
import { useEffect, useRef } from 'react';
import type { LabEvent, LabEventListener } from '../../../shared/api';
import { useLab } from './context';

export function useLabEvents(listener: LabEventListener): void {
  const lab = useLab();
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => lab.subscribe((event: LabEvent) => latest.current(event)), [lab]);
}

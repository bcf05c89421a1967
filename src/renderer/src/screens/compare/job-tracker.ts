/**
 * Jobs this screen queued (sampling, evaluation, analyses), followed to the end: progress and
 * status from engine events, and a slow poll of the job list as a safety net (a tiny job can end
 * before the screen starts listening for it, and an event stream can drop).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { JobInfo, JobStatusView } from '../../../../shared/api';
import { useLab, useLabEvents } from '../../lab';

export interface TrackedJob {
  jobId: number;
  runId: string;
  /** What the screen queued it for (a run id, an analysis kind...). */
  purpose: string;
  status: JobStatusView;
  step: number;
  stepsPlanned: number;
  etaSeconds: number | null;
  error: string | null;
}

const FINAL: ReadonlySet<JobStatusView> = new Set(['done', 'failed', 'cancelled', 'interrupted', 'paused']);
const POLL_MS = 3000;

export function isFinal(status: JobStatusView): boolean {
  return FINAL.has(status);
}

export function useJobTracker(onFinished: (job: TrackedJob) => void): {
  jobs: TrackedJob[];
  track: (job: JobInfo, purpose: string) => void;
  forget: (purpose?: string) => void;
} {
  const lab = useLab();
  const [jobs, setJobs] = useState<Map<number, TrackedJob>>(new Map());
  const jobsRef = useRef(jobs);
  jobsRef.current = jobs;
  const finished = useRef(onFinished);
  finished.current = onFinished;
  const reported = useRef(new Set<number>());

  const update = useCallback((jobId: number, patch: Partial<TrackedJob>) => {
    setJobs((prev) => {
      const cur = prev.get(jobId);
      if (!cur) return prev;
      const next = new Map(prev);
      const job = { ...cur, ...patch };
      next.set(jobId, job);
      return next;
    });
  }, []);

  // Report each job's end once, after the state holding it has rendered.
  useEffect(() => {
    for (const job of jobs.values()) {
      if (isFinal(job.status) && !reported.current.has(job.jobId)) {
        reported.current.add(job.jobId);
        finished.current(job);
      }
    }
  }, [jobs]);

  useLabEvents((e) => {
    if (e.type === 'job-progress' && jobsRef.current.has(e.jobId)) {
      update(e.jobId, { step: e.step, stepsPlanned: e.stepsPlanned, etaSeconds: e.etaSeconds });
    } else if (e.type === 'job-status' && jobsRef.current.has(e.jobId)) {
      update(e.jobId, { status: e.status, error: e.error });
    }
  });

  const pending = [...jobs.values()].filter((j) => !isFinal(j.status));
  const pendingKey = pending.map((j) => j.jobId).join(',');
  useEffect(() => {
    if (!pendingKey) return;
    const timer = setInterval(() => {
      const runIds = [...new Set([...jobsRef.current.values()].filter((j) => !isFinal(j.status)).map((j) => j.runId))];
      for (const runId of runIds) {
        lab.listJobs({ runId }).then(
          (list) => {
            for (const j of list) {
              const cur = jobsRef.current.get(j.id);
              if (cur && cur.status !== j.status) update(j.id, { status: j.status, error: j.error });
            }
          },
          () => undefined,
        );
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [lab, pendingKey, update]);

  const track = useCallback((job: JobInfo, purpose: string) => {
    setJobs((prev) => {
      if (prev.has(job.id)) return prev;
      const next = new Map(prev);
      next.set(job.id, {
        jobId: job.id,
        runId: job.runId,
        purpose,
        status: job.status,
        step: 0,
        stepsPlanned: 0,
        etaSeconds: null,
        error: job.error,
      });
      return next;
    });
  }, []);

  const forget = useCallback((purpose?: string) => {
    setJobs((prev) => new Map([...prev].filter(([, j]) => purpose !== undefined && j.purpose !== purpose)));
  }, []);

  return { jobs: [...jobs.values()], track, forget };
}

/** "sampling 40%, 12 s left" for a progress line. */
export function progressText(job: TrackedJob, verb: string): string {
  if (job.status === 'queued') return `${verb}: queued`;
  if (job.status === 'done') return `${verb}: done`;
  if (isFinal(job.status)) return `${verb}: ${job.status}${job.error ? ` — ${job.error}` : ''}`;
  if (!job.stepsPlanned) return `${verb}…`;
  const pct = Math.min(100, Math.round((100 * job.step) / job.stepsPlanned));
  const eta = job.etaSeconds !== null && Number.isFinite(job.etaSeconds) ? `, ~${Math.ceil(job.etaSeconds)} s left` : '';
  return `${verb}… ${pct}%${eta}`;
}

export function progressFraction(job: TrackedJob): number {
  if (job.status === 'done') return 1;
  return job.stepsPlanned ? Math.min(1, job.step / job.stepsPlanned) : 0;
}

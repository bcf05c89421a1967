/**
 * The job supervisor: claims queued jobs from the store and runs each in its own process, so a
 * crash or an out-of-memory kills one job, never the app. It lives in whatever process owns the
 * store for the UI (the Electron main process, `xlab serve`, `xlab jobs run`).
 *
 * Claiming: a job process is started first and the job is claimed under the job process's own
 * pid once it says it is ready. The pid in the jobs table is therefore always the process doing
 * the work, so after a crash of the supervisor (kill -9, power cut) a restarted one can tell a
 * job that is still finishing (pid alive) from one whose process is gone (interrupted).
 *
 * Stopping: cancel and pause are cooperative — the job polls its heartbeat, which fails once the
 * job is no longer 'running' in the store, and then writes a checkpoint and exits. The supervisor
 * also tells it over IPC and, after a grace period, kills it. The store is the shared medium, so a
 * cancel from another process (`xlab jobs cancel` while the app runs the job) works the same way.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobStatusEvent, LabEvent, LabEventListener, RunUpdatedEvent } from '../../shared/api';
import type { JobKind, JobRow, Store } from '../store/store';
import {
  type ForkJobProcess,
  type JobProcessHandle,
  type StopReason,
  LogTail,
  isJobToSupervisor,
} from './protocol';

export interface SupervisorOptions {
  store: Store;
  dataDir: string;
  /** Jobs running at once; default defaultConcurrency(). */
  concurrency?: number;
  fork: ForkJobProcess;
  /** How often the queue and the running jobs are checked. Default 1000 ms. */
  pollMs?: number;
  /** Time a stopping job gets to write its checkpoint before it is killed. Default 30 s. */
  graceMs?: number;
  /**
   * At start, a 'running' job whose heartbeat is older than this counts as dead even if a
   * process with its pid exists (the pid was reused after a reboot). Default 30 min: a heartbeat
   * comes between training steps, and one step of a large model on a CPU can take minutes.
   */
  staleAfterMs?: number;
  /** Only these kinds are claimed. */
  kinds?: readonly JobKind[];
  /** How long a job process may take to start before it is given up on. Default 120 s. */
  startTimeoutMs?: number;
}

export interface Supervisor {
  readonly concurrency: number;
  subscribe(listener: LabEventListener): () => void;
  /** Look at the queue now (after an enqueue) rather than at the next poll. */
  poke(): void;
  /** Asks a job this supervisor runs to stop; false when it does not run it. */
  stopJob(jobId: number, reason: StopReason): boolean;
  /** Job ids running in processes of this supervisor. */
  runningJobIds(): number[];
  /** pid of the process running a job, if this supervisor runs it. */
  pidOf(jobId: number): number | undefined;
  /** Resolves the next time nothing runs here and nothing is queued. */
  whenIdle(): Promise<void>;
  /** Stops claiming, asks every job to checkpoint and exit, kills stragglers after the grace period. */
  shutdown(opts?: { graceMs?: number }): Promise<void>;
}

function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** One job per two cores: each job gets two threads (its share), and the UI stays responsive. */
export function defaultConcurrency(): number {
  return Math.max(1, Math.floor(availableCores() / 2));
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Child {
  handle: JobProcessHandle;
  pid: number;
  job: JobRow | null;
  output: LogTail;
  stopReason: StopReason | null;
  /** Created to ask the job to stop (see SupervisorToJob 'start'). */
  stopFile: string;
  killTimer: NodeJS.Timeout | null;
  exited: Promise<void>;
}

export function startSupervisor(opts: SupervisorOptions): Supervisor {
  const { store, dataDir, fork } = opts;
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? defaultConcurrency()));
  // Each job gets an equal share of the cores, so concurrent jobs do not oversubscribe them.
  const threadsPerJob = Math.max(1, Math.floor(availableCores() / concurrency));
  const pollMs = opts.pollMs ?? 1000;
  const graceMs = opts.graceMs ?? 30_000;
  const startTimeoutMs = opts.startTimeoutMs ?? 120_000;
  const kinds = opts.kinds;

  const listeners = new Set<LabEventListener>();
  const children = new Set<Child>();
  let starting = 0;
  let shuttingDown = false;
  let ticking = false;
  let tickAgain = false;
  let idleWaiters: (() => void)[] = [];
  // A job process that cannot start (broken install, no memory) must not be re-forked in a loop.
  let failedStarts = 0;
  let nextLaunchAt = 0;
  const backOff = (): void => {
    failedStarts++;
    nextLaunchAt = Date.now() + Math.min(60_000, 1000 * 2 ** Math.min(failedStarts, 6));
  };

  const emit = (e: LabEvent): void => {
    for (const l of [...listeners]) {
      try {
        l(e);
      } catch {
        // a faulty subscriber must not break the supervisor
      }
    }
  };
  const jobStatusEvent = (job: JobRow): JobStatusEvent => {
    const run = store.getRun(job.runId);
    const paused = job.status === 'cancelled' && run?.status === 'paused';
    return {
      type: 'job-status',
      jobId: job.id,
      runId: job.runId,
      kind: job.kind,
      status: paused ? 'paused' : job.status,
      error: job.error,
      at: Date.now(),
    };
  };
  const runEvent = (runId: string): RunUpdatedEvent => {
    const run = store.getRun(runId);
    return {
      type: 'run-updated',
      runId,
      status: run?.status ?? null,
      stepsDone: run?.stepsDone ?? null,
      deleted: !run,
      at: Date.now(),
    };
  };
  const announce = (job: JobRow): void => {
    emit(jobStatusEvent(job));
    emit(runEvent(job.runId));
  };
  const safely = <T>(what: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      // The store may be busy past its timeout or the disk full; the next poll tries again.
      process.stderr.write(`xlab supervisor: ${what}: ${(err as Error).message}\n`);
      return undefined;
    }
  };

  const ownPids = (): Set<number> => new Set([...children].map((c) => c.pid));

  /** Running jobs whose process is gone become 'interrupted' (resumable). */
  const sweep = (staleAfterMs?: number): void => {
    const mine = ownPids();
    const marked =
      safely('marking dead jobs', () =>
        store.markDeadJobsInterrupted(
          (pid) => mine.has(pid) || isProcessAlive(pid),
          staleAfterMs === undefined ? {} : { staleAfterMs },
        ),
      ) ?? [];
    for (const j of marked) announce(j);
  };

  const stopChild = (child: Child, reason: StopReason, grace = graceMs): void => {
    child.stopReason ??= reason;
    try {
      fs.writeFileSync(child.stopFile, reason);
    } catch {
      // the message below and, failing that, the kill still stop it
    }
    child.handle.send({ type: 'stop', reason });
    if (child.killTimer === null) {
      child.killTimer = setTimeout(() => child.handle.kill('SIGKILL'), grace);
      child.killTimer.unref?.();
    }
  };

  const onChildExit = (child: Child, code: number | null, signal: string | null): void => {
    children.delete(child);
    if (child.killTimer) clearTimeout(child.killTimer);
    fs.rmSync(child.stopFile, { force: true });
    const job = child.job;
    if (job) {
      const row = safely('reading a finished job', () => store.getJob(job.id));
      if (row && row.status === 'running' && row.pid === child.pid) {
        if (signal !== null || code === 0) {
          // Killed from outside (or it left without a word): the work up to its last checkpoint
          // is intact, so the job is resumable rather than failed.
          safely('marking a killed job', () => store.markDeadJobsInterrupted((pid) => pid !== child.pid));
        } else {
          const tail = child.output.text();
          const lastLine = tail.trim().split('\n').pop() ?? '';
          safely('recording a failed job', () =>
            store.transaction(() => {
              store.failJob(job.id, `the job process exited with code ${code}${lastLine ? `: ${lastLine}` : ''}`, tail);
              const run = store.getRun(job.runId);
              if (run && (run.status === 'running' || run.status === 'queued')) {
                store.updateRun(job.runId, { status: 'failed', error: `the job process exited with code ${code}` });
              }
            }),
          );
        }
      }
      const final = safely('reading a finished job', () => store.getJob(job.id));
      if (final) announce(final);
    }
    schedule();
  };

  const attach = (child: Child): void => {
    child.handle.onOutput((chunk) => child.output.push(chunk));
    child.handle.onMessage((m) => {
      if (!isJobToSupervisor(m) || !child.job) return;
      const at = Date.now();
      switch (m.type) {
        case 'progress':
          emit({ type: 'job-progress', ...m.progress, at });
          break;
        case 'metrics':
          emit({ type: 'metrics-appended', runId: m.runId, names: m.names, fromStep: m.fromStep, toStep: m.toStep, at });
          break;
        case 'run-updated':
          emit({ type: 'run-updated', runId: m.runId, status: m.status, stepsDone: m.stepsDone, deleted: false, at });
          break;
        default:
          break;
      }
    });
  };

  /** Starts one job process and claims a job for it; false when there was nothing to claim. */
  const launch = async (): Promise<boolean> => {
    let handle: JobProcessHandle;
    try {
      handle = await fork({ dataDir, threads: threadsPerJob });
    } catch (err) {
      backOff();
      process.stderr.write(`xlab supervisor: cannot start a job process: ${(err as Error).message}\n`);
      return false;
    }
    let resolveExit!: () => void;
    const child: Child = {
      handle,
      pid: handle.pid,
      job: null,
      output: new LogTail(),
      stopReason: null,
      stopFile: path.join(os.tmpdir(), `xlab-stop-${process.pid}-${randomBytes(8).toString('hex')}`),
      killTimer: null,
      exited: new Promise<void>((r) => (resolveExit = r)),
    };
    children.add(child);
    attach(child);
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), startTimeoutMs);
      handle.onMessage((m) => {
        if (isJobToSupervisor(m) && m.type === 'ready') {
          clearTimeout(timer);
          resolve(true);
        }
      });
      handle.onExit((code, signal) => {
        clearTimeout(timer);
        resolve(false);
        onChildExit(child, code, signal);
        resolveExit();
      });
    });
    if (!(await ready) || shuttingDown) {
      handle.send({ type: 'exit' });
      handle.kill('SIGKILL');
      if (!shuttingDown) {
        backOff();
        await child.exited;
        process.stderr.write(`xlab supervisor: a job process did not start:\n${child.output.text()}\n`);
      }
      return false;
    }
    failedStarts = 0;
    const job = safely('claiming a job', () => store.claimNextJob(child.pid, kinds ? { kinds } : {}));
    if (!job) {
      handle.send({ type: 'exit' });
      return false;
    }
    child.job = job;
    handle.send({ type: 'start', jobId: job.id, stopFile: child.stopFile });
    announce(job);
    return true;
  };

  const queuedCount = (limit: number): number =>
    safely('reading the queue', () =>
      store.listJobs({ status: 'queued', limit: limit + 50 }).filter((j) => !kinds || kinds.includes(j.kind)).length,
    ) ?? 0;

  /** Notices jobs that stopped being 'running' under us (cancelled from another process). */
  const watchOwnJobs = (): void => {
    for (const child of children) {
      if (!child.job || child.stopReason !== null) continue;
      const row = safely('checking a running job', () => store.getJob(child.job!.id));
      if (row && (row.status !== 'running' || row.pid !== child.pid)) stopChild(child, 'cancel');
    }
  };

  const tick = async (): Promise<void> => {
    if (ticking) {
      tickAgain = true;
      return;
    }
    ticking = true;
    try {
      do {
        tickAgain = false;
        if (shuttingDown) break;
        sweep();
        watchOwnJobs();
        const slots = Date.now() < nextLaunchAt ? 0 : concurrency - children.size - starting;
        const queued = slots > 0 ? queuedCount(slots) : 0;
        const launches: Promise<boolean>[] = [];
        for (let i = 0; i < Math.min(slots, queued); i++) {
          starting++;
          launches.push(launch().finally(() => starting--));
        }
        if (launches.length) {
          const claimed = await Promise.all(launches);
          if (claimed.some(Boolean)) tickAgain = true;
        }
      } while (tickAgain && !shuttingDown);
    } finally {
      ticking = false;
    }
    checkIdle();
  };

  const checkIdle = (): void => {
    if (idleWaiters.length === 0 || children.size > 0 || starting > 0) return;
    if (queuedCount(1) > 0 && !shuttingDown) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  let scheduled = false;
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void tick();
    });
  };

  // A restarted supervisor first settles what the previous one left behind.
  sweep(opts.staleAfterMs ?? 30 * 60_000);
  const timer = setInterval(() => void tick(), pollMs);
  timer.unref?.();
  schedule();

  return {
    concurrency,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    poke: schedule,
    stopJob(jobId, reason) {
      const child = [...children].find((c) => c.job?.id === jobId);
      if (!child) return false;
      stopChild(child, reason);
      return true;
    },
    runningJobIds() {
      return [...children].flatMap((c) => (c.job ? [c.job.id] : []));
    },
    pidOf(jobId) {
      return [...children].find((c) => c.job?.id === jobId)?.pid;
    },
    whenIdle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        schedule();
      });
    },
    async shutdown(o = {}) {
      shuttingDown = true;
      clearInterval(timer);
      const grace = o.graceMs ?? graceMs;
      const all = [...children];
      for (const c of all) {
        if (c.job) stopChild(c, 'shutdown', grace);
        else {
          c.handle.send({ type: 'exit' });
          c.handle.kill('SIGKILL');
        }
      }
      await Promise.all(all.map((c) => c.exited));
      // Let claims that were in flight finish before the caller closes the store.
      while (starting > 0 || ticking) await new Promise((r) => setTimeout(r, 20));
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    },
  };
}

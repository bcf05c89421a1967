/**
 * What the supervisor and a job process say to each other, and the process handle the supervisor
 * drives. The handle hides whether the job runs under child_process.fork (Node: `xlab serve`,
 * `xlab jobs run`, tests) or Electron's utilityProcess.fork (the desktop app), so the supervisor
 * never imports electron; the shell injects its own ForkJobProcess.
 *
 * The database, not this channel, is the source of truth: a job records its metrics, checkpoints
 * and final status itself, so a lost message (or a dead supervisor) loses only a live update.
 */
import type { JobProgressEvent, RunStatus } from '../../shared/api';

/** Why a job is asked to stop. cancel/pause come from a user; shutdown from the app exiting. */
export type StopReason = 'cancel' | 'pause' | 'shutdown';

export type SupervisorToJob =
  /**
   * Run this job (already claimed in the store under the job process's pid). The supervisor asks
   * it to stop by creating stopFile (content: the StopReason) as well as by message, because a
   * training step is synchronous: messages wait until the next checkpoint, a file check does not.
   */
  | { type: 'start'; jobId: number; stopFile?: string }
  /** Write a checkpoint and exit. */
  | { type: 'stop'; reason: StopReason }
  /** No job after all (another supervisor claimed it first): exit. */
  | { type: 'exit' };

export type JobProgress = Omit<JobProgressEvent, 'type' | 'at'>;

export type JobToSupervisor =
  /** Listening for messages: the supervisor may claim a job for this process now. */
  | { type: 'ready' }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'metrics'; runId: string; names: string[]; fromStep: number; toStep: number }
  | { type: 'run-updated'; runId: string; status: RunStatus; stepsDone: number };

export function isJobToSupervisor(m: unknown): m is JobToSupervisor {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'progress' || t === 'metrics' || t === 'run-updated';
}

export function isSupervisorToJob(m: unknown): m is SupervisorToJob {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  if (t === 'start') return Number.isInteger((m as { jobId?: unknown }).jobId);
  if (t === 'stop') {
    const r = (m as { reason?: unknown }).reason;
    return r === 'cancel' || r === 'pause' || r === 'shutdown';
  }
  return t === 'exit';
}

/** A started job process, as the supervisor sees it. */
export interface JobProcessHandle {
  readonly pid: number;
  send(message: SupervisorToJob): void;
  onMessage(listener: (message: unknown) => void): void;
  /** stdout and stderr, as they arrive (kept for the failure record's log tail). */
  onOutput(listener: (chunk: string) => void): void;
  /** Called once; code is null when a signal ended it. */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
}

export interface ForkRequest {
  dataDir: string;
  /**
   * Cores this job may use (the machine's cores shared among the supervisor's concurrent jobs): the
   * threads of its ONNX Runtime sessions and training. Passed to the child as --threads.
   */
  threads: number;
}

/** Starts a job process; resolves once it has a pid (rejects if it could not be started). */
export type ForkJobProcess = (request: ForkRequest) => Promise<JobProcessHandle>;

/** The last lines of a process's output, bounded in lines and characters. */
export class LogTail {
  private lines: string[] = [];
  private partial = '';
  constructor(
    private readonly maxLines = 40,
    private readonly maxChars = 8000,
  ) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.add(p);
    // A progress bar without newlines must not grow without bound.
    if (this.partial.length > this.maxChars) this.partial = this.partial.slice(-this.maxChars);
  }

  add(line: string): void {
    this.lines.push(line.length > 2000 ? line.slice(0, 2000) + '...' : line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
  }

  text(): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    let out = all.join('\n');
    if (out.length > this.maxChars) out = out.slice(-this.maxChars);
    return out;
  }
}

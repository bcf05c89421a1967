/**
 * Entry of a job process: one training or sampling job, in its own process, started by the
 * supervisor (child_process.fork under Node, utilityProcess.fork under Electron — both give us a
 * message channel to the parent, read below without importing electron).
 *
 * It opens the store itself and records everything it does there; the channel only carries live
 * progress. It stops (after a checkpoint) when the supervisor asks, when its job is no longer
 * 'running' in the store (cancelled from anywhere), or when its supervisor has died — an orphan
 * must not go on writing a run that a restarted app may hand to another process.
 *
 * Training steps run synchronously, so between steps the event loop does not turn and IPC
 * messages wait until the next checkpoint; what is polled between steps instead is synchronous:
 * the store heartbeat, the supervisor's stop file and the parent pid.
 */
import * as fs from 'node:fs';
import { parseTrainConfig } from '../../shared/config';
import { initBackend } from '../nn/backend';
import { setOnnxThreads } from '../onnx/session';
import { openStore, type JobRow, type Store } from '../store/store';
import type { RunStatus } from '../../shared/api';
import { type JobProgress, type JobToSupervisor, type StopReason, LogTail, isSupervisorToJob } from './protocol';
import { type AnalysisArgs, isAnalysisArgs, recordJobFailure, runFolderOf } from './run-records';
import { runAnalysis } from './analysis-run';
import { runSampling, type SamplingArgs } from './sampling-run';
import { parseEvaluationArgs, runEvaluation } from './evaluation-run';
import { runTraining, type TrainingStop } from './training-run';

interface ParentChannel {
  send(message: JobToSupervisor): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** Electron's utilityProcess gives process.parentPort; Node's fork gives process.send. */
function parentChannel(): ParentChannel | null {
  const port = (process as unknown as { parentPort?: { postMessage(m: unknown): void; on(e: 'message', l: (e: { data: unknown }) => void): void } }).parentPort;
  if (port) {
    return {
      send: (m) => port.postMessage(m),
      onMessage: (l) => port.on('message', (e) => l(e.data)),
    };
  }
  if (typeof process.send === 'function') {
    return {
      send: (m) => {
        // The parent may be gone; the store has the record, a lost progress message is harmless.
        if (process.connected) process.send!(m, undefined, {}, () => undefined);
      },
      onMessage: (l) => process.on('message', l),
    };
  }
  return null;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const log = new LogTail(60, 12_000);
function say(line: string): void {
  log.add(line);
  process.stderr.write(line + '\n');
}

async function runJob(store: Store, dataDir: string, job: JobRow, channel: ParentChannel, stopRequested: () => TrainingStop | null): Promise<number> {
  const run = store.getRun(job.runId);
  if (!run) throw new Error(`run ${job.runId} of job ${job.id} no longer exists`);
  const onProgress = (progress: JobProgress) => channel.send({ type: 'progress', progress });
  const onRunUpdated = (runId: string, status: RunStatus, stepsDone: number) =>
    channel.send({ type: 'run-updated', runId, status, stepsDone });

  if (job.kind === 'train') {
    const config = parseTrainConfig(run.config);
    const backend = await initBackend(config.backend, 'train');
    say(`job ${job.id}: training run ${run.id} on ${backend.name} (${backend.provider})`);
    const outcome = await runTraining({
      store,
      dataDir,
      runId: run.id,
      jobId: job.id,
      config,
      outDir: runFolderOf(dataDir, run),
      resume: true,
      backend: backend.name,
      log,
      stopRequested,
      onProgress,
      onRunUpdated,
      onMetrics: (m) => channel.send({ type: 'metrics', ...m }),
      onLog: (line) => process.stderr.write(line + '\n'),
      // ONNX Runtime where it covers the config; either engine on this job's share of the cores.
      engine: 'auto',
      workers: 'auto',
    });
    return outcome.status === 'failed' ? 1 : 0;
  }
  if (job.kind === 'sample') {
    const args = job.args as unknown as SamplingArgs;
    await initBackend('auto', 'infer');
    say(`job ${job.id}: sampling run ${run.id}`);
    const outcome = await runSampling({
      store,
      dataDir,
      runId: run.id,
      jobId: job.id,
      args,
      log,
      stopRequested,
      onProgress,
      onRunUpdated,
      onLog: (line) => process.stderr.write(line + '\n'),
    });
    return outcome.status === 'failed' ? 1 : 0;
  }
  if (job.kind === 'evaluate' && job.args['type'] === 'evaluation') {
    const args = parseEvaluationArgs(job.args);
    await initBackend('auto', 'infer');
    say(`job ${job.id}: evaluation run ${run.id} of training run ${args.sourceRunId}`);
    const outcome = await runEvaluation({
      store,
      dataDir,
      runId: run.id,
      jobId: job.id,
      args,
      log,
      stopRequested,
      onProgress,
      onRunUpdated,
      onLog: (line) => process.stderr.write(line + '\n'),
    });
    return outcome.status === 'failed' ? 1 : 0;
  }
  // An exposure-bias analysis: an 'evaluate' job told apart from score evaluations by its args.
  if (job.kind === 'evaluate' && isAnalysisArgs(job.args)) {
    await initBackend('auto', 'infer');
    say(`job ${job.id}: analysis run ${run.id}`);
    const outcome = await runAnalysis({
      store,
      dataDir,
      runId: run.id,
      jobId: job.id,
      args: job.args as unknown as AnalysisArgs,
      log,
      stopRequested,
      onProgress,
      onRunUpdated,
      onLog: (line) => process.stderr.write(line + '\n'),
    });
    return outcome.status === 'failed' ? 1 : 0;
  }
  throw new Error(`jobs of kind '${job.kind}' are not supported by this version`);
}

async function main(): Promise<void> {
  const channel = parentChannel();
  const dataDir = argValue('--data-dir');
  if (!channel || !dataDir) {
    process.stderr.write('job-process: start me through the job supervisor (xlab serve, xlab jobs run or the app)\n');
    process.exit(2);
  }
  const threads = argValue('--threads');
  if (threads !== undefined) setOnnxThreads(Number(threads));
  // A vanished parent closes our pipes; writing to them must not crash the final checkpoint.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  // A terminal's Ctrl-C reaches the whole process group, us included. The supervisor owns it: it
  // asks us to stop (and we checkpoint), or we notice it is gone — dying mid-step would lose the
  // steps since the last checkpoint.
  process.on('SIGINT', () => undefined);

  const parentPid = process.ppid;
  let stopReason: StopReason | null = null;
  let stopFile: string | null = null;
  // Polled between training steps, when messages cannot be read: both checks are a syscall.
  const stopRequested = (): TrainingStop | null => {
    if (!stopReason && stopFile && fs.existsSync(stopFile)) {
      const reason = fs.readFileSync(stopFile, 'utf8').trim();
      stopReason = reason === 'cancel' || reason === 'pause' ? reason : 'shutdown';
    }
    if (stopReason) return stopReason;
    if (process.ppid !== parentPid) return 'orphaned';
    return null;
  };

  let started = false;
  // Before a job is assigned, a lost parent means there is nothing to do.
  const orphanWatch = setInterval(() => {
    if (!started && process.ppid !== parentPid) process.exit(0);
  }, 1000);

  channel.onMessage((m) => {
    if (!isSupervisorToJob(m)) return;
    if (m.type === 'exit') {
      if (!started) process.exit(0);
      stopReason ??= 'shutdown';
      return;
    }
    if (m.type === 'stop') {
      stopReason ??= m.reason;
      return;
    }
    if (started) return;
    started = true;
    stopFile = m.stopFile ?? null;
    clearInterval(orphanWatch);
    void (async () => {
      let code = 1;
      let store: Store | undefined;
      try {
        store = openStore(dataDir);
        const job = store.getJob(m.jobId);
        if (!job) throw new Error(`no job ${m.jobId}`);
        if (job.status !== 'running' || job.pid !== process.pid) {
          say(`job ${job.id} is ${job.status} (pid ${job.pid}); not running it`);
          code = 0;
        } else {
          try {
            code = await runJob(store, dataDir, job, channel, stopRequested);
          } catch (err) {
            recordJobFailure(store, job.id, job.runId, log, err, (l) => process.stderr.write(l + '\n'));
            code = 1;
          }
        }
      } catch (err) {
        say(`job-process: ${(err as Error).message}`);
        code = 1;
      } finally {
        try {
          store?.close();
        } catch {
          // closing is best effort; the data is committed
        }
      }
      process.exit(code);
    })();
  });
  channel.send({ type: 'ready' });
}

void main();

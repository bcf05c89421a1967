/** `xlab jobs list|cancel|pause|resume|run`: the job queue from the command line. */
import { Command, Option } from 'commander';
import { JOB_STATUSES, type JobInfo, type JobStatus } from '../../shared/api';
import { createLabApi } from '../api/lab-api';
import { nodeJobForker } from '../jobs/fork-node';
import { defaultConcurrency, startSupervisor } from '../jobs/supervisor';
import { addDataDirOption, formatDuration, formatTime, intArg, openLab, printJson, table, withLab } from './history';

function jobRows(jobs: JobInfo[]): string {
  return table(
    ['ID', 'RUN', 'KIND', 'STATUS', 'TRIES', 'CREATED', 'ERROR'],
    jobs.map((j) => [
      String(j.id),
      j.runId,
      j.kind,
      j.status,
      String(j.attempts),
      formatTime(j.createdAt),
      (j.error ?? '').split('\n')[0]!.slice(0, 80),
    ]),
  );
}

function listCommand(): Command {
  const cmd = new Command('list').description('list jobs in queue order');
  addDataDirOption(cmd)
    .addOption(new Option('--status <status...>', 'only these statuses').choices(JOB_STATUSES as unknown as string[]))
    .option('--run <run-id>', 'only jobs of this run')
    .option('--limit <n>', 'at most this many', intArg('--limit'))
    .option('--json', 'print JSON (includes each job\'s error and log tail)')
    .action(async (o) =>
      withLab(o, async ({ api }) => {
        const jobs = await api.listJobs({
          ...(o.status ? { status: o.status as JobStatus[] } : {}),
          ...(o.run ? { runId: o.run } : {}),
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
        });
        if (o.json) return printJson(jobs);
        process.stdout.write(jobs.length ? jobRows(jobs) : 'no jobs\n');
      }),
    );
  return cmd;
}

function actionCommand(name: 'cancel' | 'pause' | 'resume', description: string): Command {
  const cmd = new Command(name).description(description).argument('<job-ids...>');
  addDataDirOption(cmd)
    .option('--json', 'print the jobs as JSON')
    .action(async (ids: string[], o) =>
      withLab(o, async ({ api }) => {
        const out: JobInfo[] = [];
        for (const raw of ids) {
          const id = intArg('job id')(raw);
          out.push(await (name === 'cancel' ? api.cancelJob(id) : name === 'pause' ? api.pauseJob(id) : api.resumeJob(id)));
        }
        if (o.json) return printJson(out);
        for (const j of out) {
          const what =
            name === 'resume'
              ? 'queued again; it runs when `xlab serve`, the app or `xlab jobs run` is running'
              : `${j.status}; a running job writes a checkpoint and stops`;
          process.stdout.write(`job ${j.id} (run ${j.runId}): ${what}\n`);
        }
      }),
    );
  return cmd;
}

function runCommand(): Command {
  const cmd = new Command('run').description('run queued jobs in this terminal until the queue is empty (Ctrl-C checkpoints them and stops)');
  addDataDirOption(cmd)
    .option('--concurrency <n>', `jobs at once (default ${defaultConcurrency()} here: one per two cores)`, intArg('--concurrency'))
    .option('--json', 'print one JSON event per line on stdout')
    .action(async (o) => {
      const lab = openLab(o);
      const supervisor = startSupervisor({
        store: lab.store,
        dataDir: lab.dataDir,
        concurrency: o.concurrency || defaultConcurrency(),
        fork: nodeJobForker(),
      });
      const api = createLabApi({ store: lab.store, dataDir: lab.dataDir, supervisor });
      const lastPrinted = new Map<number, { at: number; step: number }>();
      api.subscribe((e) => {
        if (o.json) {
          process.stdout.write(JSON.stringify(e) + '\n');
          return;
        }
        if (e.type === 'job-status') {
          process.stderr.write(`job ${e.jobId} (${e.kind}, run ${e.runId}): ${e.status}${e.error ? ` - ${e.error}` : ''}\n`);
        } else if (e.type === 'job-progress') {
          const last = lastPrinted.get(e.jobId) ?? { at: 0, step: -1 };
          if (e.step === last.step || (e.at - last.at < 5000 && e.step !== e.stepsPlanned)) return;
          lastPrinted.set(e.jobId, { at: e.at, step: e.step });
          const loss = e.loss === null ? '' : ` loss ${e.loss.toFixed(4)}`;
          const rate = e.itPerSec === null ? '' : ` ${e.itPerSec.toFixed(2)} it/s`;
          process.stderr.write(`job ${e.jobId}: ${e.step}/${e.stepsPlanned}${loss}${rate} ETA ${formatDuration(e.etaSeconds)}\n`);
        }
      });
      let stopping = false;
      const onSignal = () => {
        if (stopping) process.exit(130);
        stopping = true;
        process.stderr.write('stopping: running jobs write a checkpoint first (Ctrl-C again to quit at once)\n');
        void supervisor.shutdown().then(() => {
          api.close();
          lab.close();
          process.exit(130);
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await supervisor.whenIdle();
      if (stopping) return;
      await supervisor.shutdown();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      api.close();
      lab.close();
      if (!o.json) process.stderr.write('queue empty\n');
    });
  return cmd;
}

export function jobsCommand(): Command {
  return new Command('jobs')
    .description('the job queue: list, cancel, pause, resume, run')
    .addCommand(listCommand())
    .addCommand(actionCommand('cancel', 'cancel jobs (a running one writes a checkpoint and stops)'))
    .addCommand(actionCommand('pause', 'pause running jobs (checkpoint and stop; resume continues)'))
    .addCommand(actionCommand('resume', 'queue interrupted, failed, cancelled or paused jobs again; training continues from its last checkpoint'))
    .addCommand(runCommand());
}

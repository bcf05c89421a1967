/** `xlab runs list|show|tag|note|delete`: the run history from the command line. */
import { Command, Option } from 'commander';
import { LabApiError, RUN_KINDS, RUN_ORDER_FIELDS, RUN_STATUSES, type RunStatus } from '../../shared/api';
import { addDataDirOption, formatTime, intArg, printJson, table, withLab } from './history';

function listCommand(): Command {
  const cmd = new Command('list').description('list runs, newest first');
  addDataDirOption(cmd)
    .addOption(new Option('--status <status...>', 'only these statuses').choices(RUN_STATUSES as unknown as string[]))
    .addOption(new Option('--kind <kind>', 'only this kind').choices(RUN_KINDS as unknown as string[]))
    .option('--tag <tag>', 'only runs with this tag')
    .option('--search <text>', 'substring of id, name, dataset, preset, objective or a tag')
    .option('--experiment <id>', 'only runs of this experiment', intArg('--experiment'))
    .option('--limit <n>', 'at most this many', intArg('--limit'))
    .option('--offset <n>', 'skip this many', intArg('--offset'))
    .addOption(new Option('--order-by <field>', 'sort key').choices(RUN_ORDER_FIELDS as unknown as string[]))
    .option('--json', 'print JSON ({ runs, total, offset, limit })')
    .action(async (o) =>
      withLab(o, async ({ api }) => {
        const page = await api.listRuns({
          ...(o.status ? { status: o.status as RunStatus[] } : {}),
          ...(o.kind ? { kind: o.kind } : {}),
          ...(o.tag ? { tag: o.tag } : {}),
          ...(o.search ? { search: o.search } : {}),
          ...(o.experiment !== undefined ? { experimentId: o.experiment } : {}),
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
          ...(o.offset !== undefined ? { offset: o.offset } : {}),
          ...(o.orderBy ? { orderBy: o.orderBy } : {}),
        });
        if (o.json) return printJson(page);
        if (page.runs.length === 0) {
          process.stdout.write('no runs\n');
          return;
        }
        process.stdout.write(
          table(
            ['ID', 'KIND', 'STATUS', 'STEPS', 'CREATED', 'NAME', 'TAGS'],
            page.runs.map((r) => [
              r.id,
              r.kind,
              r.status,
              r.stepsPlanned ? `${r.stepsDone}/${r.stepsPlanned}` : String(r.stepsDone),
              formatTime(r.createdAt),
              r.name,
              r.tags.join(','),
            ]),
          ),
        );
        if (page.runs.length < page.total) process.stdout.write(`(${page.runs.length} of ${page.total})\n`);
      }),
    );
  return cmd;
}

function showCommand(): Command {
  const cmd = new Command('show').description('show one run: config, status, jobs, checkpoints, sample sets, notes').argument('<run-id>');
  addDataDirOption(cmd)
    .option('--json', 'print JSON')
    .action(async (runId: string, o) =>
      withLab(o, async ({ api }) => {
        const detail = await api.getRun(runId);
        if (!detail) throw new LabApiError('NOT_FOUND', `no run with id ${JSON.stringify(runId)}`);
        const [checkpoints, sampleSets] = await Promise.all([api.listCheckpoints(runId), api.listSampleSets(runId)]);
        const loss = detail.metricNames.includes('loss')
          ? await api.metricSeries({ runId, name: 'loss', maxPoints: 2 })
          : null;
        if (o.json) return printJson({ ...detail, checkpoints, sampleSets });
        const r = detail.run;
        const lines = [
          `run        ${r.id}  ${r.name}`,
          `kind       ${r.kind}${r.parentRunId ? ` (from run ${r.parentRunId})` : ''}`,
          `status     ${r.status}${r.error ? `: ${r.error}` : ''}`,
          `steps      ${r.stepsDone}${r.stepsPlanned ? ` / ${r.stepsPlanned}` : ''}`,
          `objective  ${r.objective ?? '-'}${r.gamma !== null ? `  gamma ${r.gamma}` : ''}`,
          `data       ${r.dataset ?? '-'}  preset ${r.preset ?? '-'}  seed ${r.seed}`,
          `created    ${formatTime(r.createdAt)}  started ${formatTime(r.startedAt)}  finished ${formatTime(r.finishedAt)}`,
          `backend    ${r.backend ?? '-'}  app ${r.appVersion ?? '-'}  commit ${r.gitCommit?.slice(0, 12) ?? '-'}`,
          `tags       ${r.tags.join(', ') || '-'}`,
          `loss       ${loss && loss.value.length ? `${loss.value.at(-1)} at step ${loss.step.at(-1)} (${loss.total} points)` : '-'}`,
          `checkpoints ${checkpoints.length ? checkpoints.map((c) => c.step).join(', ') : '-'}`,
          `sample sets ${sampleSets.length ? sampleSets.map((s) => `#${s.id} step ${s.checkpointStep} ${s.stepsSpec || 'all'} steps n=${s.count}`).join('; ') : '-'}`,
        ];
        for (const j of detail.jobs) {
          lines.push(`job ${j.id}     ${j.kind} ${j.status}, attempts ${j.attempts}${j.error ? `: ${j.error}` : ''}`);
        }
        for (const n of detail.notes) lines.push(`note       ${formatTime(n.createdAt)}  ${n.text}`);
        lines.push('config     ' + JSON.stringify(r.config));
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
  return cmd;
}

function tagCommand(): Command {
  const cmd = new Command('tag').description('add tags to a run (or remove them with --remove)').argument('<run-id>').argument('<tags...>');
  addDataDirOption(cmd)
    .option('--remove', 'remove these tags instead')
    .option('--json', 'print the run\'s tags as JSON')
    .action(async (runId: string, tags: string[], o) =>
      withLab(o, async ({ api }) => {
        let now: string[] = [];
        for (const t of tags) now = o.remove ? await api.untag(runId, t) : await api.tag(runId, t);
        if (o.json) printJson({ runId, tags: now });
        else process.stdout.write(`${runId}: ${now.join(', ') || '(no tags)'}\n`);
      }),
    );
  return cmd;
}

function noteCommand(): Command {
  const cmd = new Command('note').description('add a note to a run').argument('<run-id>').argument('<text...>');
  addDataDirOption(cmd)
    .option('--json', 'print the note as JSON')
    .action(async (runId: string, words: string[], o) =>
      withLab(o, async ({ api }) => {
        const note = await api.addNote(runId, words.join(' '));
        if (o.json) printJson(note);
        else process.stdout.write(`note ${note.id} added to ${runId}\n`);
      }),
    );
  return cmd;
}

function deleteCommand(): Command {
  const cmd = new Command('delete').description('delete runs, their history and their folders under the data dir').argument('<run-ids...>');
  addDataDirOption(cmd)
    .option('--force', 'also delete a run still marked running whose process is gone')
    .option('--keep-files', 'keep the run folders on disk')
    .option('--json', 'print JSON')
    .action(async (runIds: string[], o) =>
      withLab(o, async ({ api }) => {
        const results: { runId: string; deleted: boolean }[] = [];
        for (const runId of runIds) {
          const r = await api.deleteRun(runId, { force: Boolean(o.force), keepFiles: Boolean(o.keepFiles) });
          results.push({ runId, deleted: r.deleted });
        }
        if (o.json) printJson(results);
        else for (const r of results) process.stdout.write(r.deleted ? `deleted ${r.runId}\n` : `no run ${r.runId}\n`);
        if (results.some((r) => !r.deleted)) process.exitCode = 1;
      }),
    );
  return cmd;
}

export function runsCommand(): Command {
  return new Command('runs')
    .description('the run history: list, show, tag, note, delete')
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(tagCommand())
    .addCommand(noteCommand())
    .addCommand(deleteCommand());
}

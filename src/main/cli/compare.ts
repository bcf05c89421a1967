/**
 * `xlab compare EXPERIMENT`: the paper's tables for an experiment's training runs — FID and sFID
 * per variant and T' (Tables 3 and 7), iterations to a target FID (Table 4) and paired tests
 * against the baseline — as Markdown (default), CSV or JSON. Scores under different comparability
 * keys are refused until one is chosen with --key (the message lists them).
 */
import { Command } from 'commander';
import { LabApiError, type CompareExperimentOptions } from '../../shared/api';
import { addDataDirOption, printJson, withLab, type Lab } from './history';

function positive(what: string) {
  return (s: string): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new LabApiError('INVALID', `${what}: expected a positive number, got '${s}'`);
    return n;
  };
}

/** An experiment by id or by name. */
async function experimentId(lab: Lab, ref: string): Promise<number> {
  const all = await lab.api.listExperiments();
  const byName = all.find((e) => e.name === ref);
  if (byName) return byName.id;
  if (/^\d+$/.test(ref)) {
    const byId = all.find((e) => e.id === Number(ref));
    if (byId) return byId.id;
  }
  throw new LabApiError(
    'NOT_FOUND',
    `no experiment named or numbered '${ref}'` + (all.length ? `; experiments: ${all.map((e) => `${e.id} '${e.name}'`).join(', ')}` : '; there are none yet'),
  );
}

export function compareCommand(): Command {
  const cmd = new Command('compare')
    .description("the paper's comparison tables for an experiment (FID/sFID by T', iterations to a target FID, paired tests)")
    .argument('<experiment>', 'experiment name or id')
    .option('--key <key>', 'comparability key the tables use (when scores span several)')
    .option('--target <fid>', "Table 4's target FID (default: the baseline's best FID at the largest T')", positive('--target'))
    .option('--baseline <run>', "a run of the baseline variant (default: the 'adm' runs)")
    .option('--markdown', 'print Markdown (the default)')
    .option('--csv', 'print CSV (one long table)')
    .option('--json', 'print the whole report as JSON');
  addDataDirOption(cmd).action(async (ref: string, o) =>
    withLab(o, async (lab) => {
      const formats = ['markdown', 'csv', 'json'].filter((f) => o[f]);
      if (formats.length > 1) throw new LabApiError('INVALID', `choose one of --markdown, --csv, --json (got ${formats.map((f) => `--${f}`).join(' ')})`);
      const options: CompareExperimentOptions = {
        ...(o.key !== undefined ? { key: o.key as string } : {}),
        ...(o.target !== undefined ? { targetFid: o.target as number } : {}),
        ...(o.baseline !== undefined ? { baselineRunId: o.baseline as string } : {}),
      };
      const report = await lab.api.compareExperiment(await experimentId(lab, ref), options);
      if (o.json) printJson(report);
      else process.stdout.write(o.csv ? report.csv : report.markdown);
    }),
  );
  return cmd;
}

/**
 * `xlab fid A B`: FID (plus sFID and KID where the inputs allow) between two sets, each a folder of
 * images, an .npz of images or of statistics, or an .npy feature matrix (see evaluation/fid-files.ts).
 * The result goes to stdout (one line, or JSON with --json); what was used goes to stderr.
 */
import { Command } from 'commander';
import { SCORE_METRICS } from '../../shared/config';
import { fidBetweenFiles, readFidInput, type FidFilesOptions } from '../evaluation/fid-files';
import { resolveDataDirPath } from '../store/data-dir';

const CLI_METRICS = ['fid', 'sfid', 'kid', 'precision', 'recall'] as const;
type CliMetric = (typeof CLI_METRICS)[number];

function metricList(v: string): CliMetric[] {
  const list = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const m of list) {
    if (!(CLI_METRICS as readonly string[]).includes(m)) {
      const hint = (SCORE_METRICS as readonly string[]).includes(m) ? ' (not available from files; it is computed by evaluations)' : '';
      throw new Error(`unknown metric '${m}'${hint}; choose from ${CLI_METRICS.join(', ')}`);
    }
  }
  return list as CliMetric[];
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
  return n;
}

const fmt = (x: number): string => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(4) : x.toExponential(3));

export function fidCommand(): Command {
  return new Command('fid')
    .description('FID (and sFID, KID) between two image sets, sample .npz files, statistics .npz files or .npy feature matrices')
    .argument('<A>', 'reference: image folder, .npz of images (arr_0) or statistics (mu, sigma), or .npy features')
    .argument('<B>', 'samples: same kinds as A')
    .option('--json', 'print JSON: {"fid", "sfid"?, "kid"?, "kidStd"?, "featureNetwork", "counts"}')
    .option('--network <net>', 'auto | mnist-classifier | fashion-mnist-classifier | inception | FILE.onnx', 'auto')
    .option('--inception <file>', 'the FID Inception as ONNX (default $XLAB_INCEPTION; see docs/inception.md)')
    .option('--metrics <list>', `comma-separated, from ${CLI_METRICS.join(', ')}`, metricList, ['fid', 'sfid', 'kid'] as CliMetric[])
    .option('--seed <n>', 'seed of KID subsets', int, 0)
    .option('--onnx-input <name>', 'name of the ONNX image input (default: detected)')
    .option('--onnx-pool <name>', 'name of the ONNX pooled output (default: detected, e.g. pool_3)')
    .option('--onnx-spatial <name>', 'name of the ONNX spatial output (default: detected, e.g. mixed_6/conv)')
    .option('--onnx-logits <name>', 'name of the ONNX logits output (default: detected)')
    .option('--data-dir <dir>', 'where trained classifiers are stored (default: $XLAB_HOME, else the platform data folder)')
    .action(async (a: string, b: string, o) => {
      const say = (line: string) => process.stderr.write(line + '\n');
      const opts: FidFilesOptions = {
        dataDir: resolveDataDirPath({ dataDirArg: o.dataDir }).path,
        network: o.network,
        metrics: o.metrics,
        seed: o.seed,
        onMessage: say,
      };
      if (o.inception) opts.inception = o.inception;
      const outputs = { input: o.onnxInput, pool: o.onnxPool, spatial: o.onnxSpatial, logits: o.onnxLogits };
      if (Object.values(outputs).some((v) => v !== undefined)) {
        opts.onnxOutputs = Object.fromEntries(Object.entries(outputs).filter(([, v]) => v !== undefined));
      }
      const [inA, inB] = [await readFidInput(a), await readFidInput(b)];
      const r = await fidBetweenFiles(inA, inB, opts);
      for (const note of r.notes) say(note);
      if (o.json) {
        const out: Record<string, unknown> = { fid: r.fid };
        for (const k of ['sfid', 'kid', 'kidStd', 'precision', 'recall'] as const) if (r[k] !== undefined) out[k] = r[k];
        out['featureNetwork'] = r.featureNetwork;
        out['counts'] = r.counts;
        process.stdout.write(JSON.stringify(out) + '\n');
        return;
      }
      const parts = [`FID ${fmt(r.fid)}`];
      if (r.sfid !== undefined) parts.push(`sFID ${fmt(r.sfid)}`);
      if (r.kid !== undefined) parts.push(`KID ${fmt(r.kid)} ± ${fmt(r.kidStd!)}`);
      if (r.precision !== undefined) parts.push(`precision ${r.precision.toFixed(4)}`);
      if (r.recall !== undefined) parts.push(`recall ${r.recall.toFixed(4)}`);
      const n = (c: number | null) => (c === null ? 'statistics' : `${c} samples`);
      process.stdout.write(
        `${parts.join(', ')}  (A: ${n(r.counts[0])}, B: ${n(r.counts[1])}; ${r.featureNetwork ? `network ${r.featureNetwork}` : 'precomputed features'})\n`,
      );
    });
}

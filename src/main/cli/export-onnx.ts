/**
 * `xlab export-onnx`: a checkpoint's U-Net as an ONNX model (opset 17, float32 weights inside),
 * for ONNX Runtime or any other ONNX consumer. Inputs x [N,H,W,C] NHWC in [-1, 1]-scaled image
 * space and t [N] (original timesteps, float); output eps [N,H,W,C] (or [eps, v], 2C channels,
 * for learned-variance models). Without -o the export goes next to the checkpoint, where sampling
 * finds and reuses it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { resolveCheckpoint } from '../generation/generate';
import { countParams, outChannels } from '../nn/unet';
import { cachedCheckpointOnnx, exportCheckpointOnnx, onnxExportPath } from '../onnx/checkpoint-onnx';
import { OPSET } from '../onnx/graph';

export function exportOnnxCommand(): Command {
  return new Command('export-onnx')
    .description('export a checkpoint\'s U-Net (EMA weights by default) as an ONNX model: inputs x [N,H,W,C] and t [N], output eps')
    .argument('<checkpoint>', 'checkpoint file (ckpt-*.xlab) or run folder (its latest checkpoint)')
    .addOption(new Option('--weights <which>', 'EMA (default, as the paper samples) or raw weights').choices(['ema', 'raw']).default('ema'))
    .option('-o, --out <file>', 'output file (default: next to the checkpoint, e.g. ckpt-0001000.ema.onnx, reused by sampling)')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (checkpoint: string, o: { weights: 'ema' | 'raw'; out?: string; json?: boolean }) => {
      const file = resolveCheckpoint(checkpoint);
      let out: string;
      if (o.out) {
        out = path.resolve(o.out);
        if (!out.endsWith('.onnx')) throw new Error(`output file ${o.out} should end in .onnx`);
      } else out = onnxExportPath(file, o.weights);
      const exp = o.out ? await exportCheckpointOnnx(file, o.weights, out) : await cachedCheckpointOnnx(file, o.weights);
      if (!exp.file) throw new Error(`could not write ${out}: is the folder writable? Choose another place with -o`);
      const { unet, step } = exp.record;
      const summary = {
        onnx: exp.file,
        bytes: fs.statSync(exp.file).size,
        reused: exp.reused,
        checkpoint: path.resolve(file),
        step,
        weights: o.weights,
        params: countParams(unet),
        opset: OPSET,
        inputs: { x: ['N', unet.imageSize, unet.imageSize, unet.inChannels], t: ['N'] },
        outputs: { eps: ['N', unet.imageSize, unet.imageSize, outChannels(unet)] },
      };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        const mb = (summary.bytes / 1e6).toFixed(1);
        process.stdout.write(
          `${exp.reused ? 'up to date' : 'wrote'} ${summary.onnx} (${mb} MB, ${summary.params.toLocaleString('en-US')} parameters, opset ${OPSET})\n` +
            `  from ${path.basename(file)} (step ${step}, ${o.weights} weights)\n` +
            `  inputs x [N,${unet.imageSize},${unet.imageSize},${unet.inChannels}] (NHWC), t [N] (original timesteps); output eps [N,${unet.imageSize},${unet.imageSize},${outChannels(unet)}]\n`,
        );
      }
    });
}

/** `xlab model-info` and `xlab schedule`: look at a network preset or a (respaced) noise process. */
import { Command, Option } from 'commander';
import { countParams, forwardFlops } from '../nn/unet';
import { presetByName } from '../nn/presets';
import { createProcess } from '../diffusion/schedule';
import { respaceBySpec } from '../diffusion/respacing';

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`expected an integer, got '${v}'`);
  return n;
}

export function modelInfoCommand(): Command {
  return new Command('model-info')
    .description('parameter count and forward FLOPs per image of a U-Net preset')
    .requiredOption('--preset <name>', 'bench-s-mnist16, bench-m-32, adm-cifar10, tiny-test')
    .option('--json', 'print JSON')
    .action((o) => {
      const cfg = presetByName(o.preset);
      const info = { params: countParams(cfg), fwd_flops: forwardFlops(cfg) };
      if (o.json) process.stdout.write(JSON.stringify(info) + '\n');
      else
        process.stdout.write(
          `${o.preset}: ${info.params.toLocaleString('en-US')} parameters, ${(info.fwd_flops / 1e9).toFixed(4)} GFLOP per image (forward)\n`,
        );
    });
}

export function scheduleCommand(): Command {
  return new Command('schedule')
    .description('the (respaced) diffusion process: kept timesteps, betas, alphas_cumprod')
    .option('--T <n>', 'diffusion steps', int, 1000)
    .addOption(new Option('--schedule <name>', 'noise schedule').choices(['linear', 'cosine']).default('linear'))
    .option('--respace <spec>', "kept steps: '100', '10,15,20' (sections) or 'ddim50'; default: all T")
    .option('--json', 'print JSON')
    .action((o) => {
      const base = createProcess(o.schedule, o.T);
      const p = o.respace ? respaceBySpec(base, o.respace) : base;
      const out = { timesteps: [...p.timestepMap], betas: [...p.betas], alphas_cumprod: [...p.ab] };
      if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
      else {
        process.stdout.write(`${out.timesteps.length} steps of ${o.T} (${o.schedule})\n`);
        process.stdout.write('  i   t      beta           alphas_cumprod\n');
        out.timesteps.forEach((t, i) => {
          process.stdout.write(`${String(i).padStart(4)} ${String(t).padStart(4)}  ${out.betas[i]!.toExponential(6)}  ${out.alphas_cumprod[i]!.toExponential(6)}\n`);
        });
      }
    });
}

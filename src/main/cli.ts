/**
 * `xlab`: the command line of Exposure Lab. Each command lives in src/main/cli/ and is a thin
 * layer over the engine; errors surface as one clear line and a non-zero exit code.
 */
import { Command } from 'commander';
import { trainCommand } from './cli/train';
import { sampleCommand } from './cli/sample';
import { modelInfoCommand, scheduleCommand } from './cli/inspect';
import { benchCommand } from './cli/bench';
import { demoCommand } from './cli/demo';
import { runsCommand } from './cli/runs';
import { jobsCommand } from './cli/jobs';
import { serveCommand } from './cli/serve';
import { fidCommand } from './cli/fid';
import { analyzeCommand } from './cli/analyze';
import { evalCommand } from './cli/eval';
import { compareCommand } from './cli/compare';
import { exportOnnxCommand } from './cli/export-onnx';

export function buildProgram(): Command {
  const program = new Command('xlab')
    .description('Exposure Lab: ADM vs ADM-IP (input perturbation) experiments on your own machine')
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.addCommand(demoCommand());
  program.addCommand(trainCommand());
  program.addCommand(sampleCommand());
  program.addCommand(modelInfoCommand());
  program.addCommand(scheduleCommand());
  program.addCommand(benchCommand());
  program.addCommand(runsCommand());
  program.addCommand(jobsCommand());
  program.addCommand(serveCommand());
  program.addCommand(fidCommand());
  program.addCommand(analyzeCommand());
  program.addCommand(evalCommand());
  program.addCommand(compareCommand());
  program.addCommand(exportOnnxCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    process.stderr.write(`xlab: ${(e as Error).message}\n`);
    if (process.env['XLAB_DEBUG']) process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = process.exitCode && process.exitCode !== 0 ? process.exitCode : 1;
  }
}

/**
 * Entry point of a training child process (child_process.fork with tsx): trains one config into one
 * run folder and reports progress to its parent over the IPC channel. Lets the demo train ADM and
 * ADM-IP side by side, one per core, each with its own single-threaded wasm instance.
 *
 * Parent -> child: { type: 'stop' } (checkpoint and exit). Child -> parent: TrainProcessMessage.
 */
import { parseTrainConfig } from '../../shared/config';
import { initBackend } from '../nn/backend';
import { train } from './trainer';

export type TrainProcessMessage =
  | { type: 'step'; step: number; stepsPlanned: number; loss: number; itPerSec: number }
  | { type: 'log'; line: string }
  | { type: 'done'; stepsDone: number; stopped: boolean; lastCheckpoint: string | null }
  | { type: 'error'; message: string };

function send(m: TrainProcessMessage): void {
  process.send?.(m);
}

async function run(): Promise<void> {
  const [configJson, outDir, resume] = process.argv.slice(2);
  if (!configJson || !outDir) throw new Error('usage: train-process <config-json> <out-dir> [resume]');
  const config = parseTrainConfig(JSON.parse(configJson));
  let stop = false;
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') stop = true;
  });
  // The parent owns Ctrl-C: it asks us to stop, so we checkpoint instead of dying mid-step.
  process.on('SIGINT', () => {
    stop = true;
  });
  const backend = await initBackend(config.backend, 'train');
  send({ type: 'log', line: `backend ${backend.name}` });
  const r = await train(config, outDir, {
    resume: resume === 'resume',
    hooks: {
      onStep: (s) => send({ type: 'step', step: s.step, stepsPlanned: s.stepsPlanned, loss: s.loss, itPerSec: s.itPerSec }),
      onLog: (line) => send({ type: 'log', line }),
      shouldStop: () => stop,
    },
  });
  send({ type: 'done', stepsDone: r.stepsDone, stopped: r.stopped, lastCheckpoint: r.lastCheckpoint });
}

run().then(
  () => process.disconnect?.(),
  (e: Error) => {
    send({ type: 'error', message: e.message });
    process.exitCode = 1;
    process.disconnect?.();
  },
);

/**
 * Job processes under plain Node (`xlab serve`, `xlab jobs run`, tests): child_process.fork of the
 * job-process entry. From the sources the entry is TypeScript, so the child loads tsx through an
 * absolute URL (it must not depend on the working directory the user started xlab from).
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ForkJobProcess, JobProcessHandle } from './protocol';

const require = createRequire(import.meta.url);

function defaultEntry(): string {
  for (const name of ['job-process.ts', 'job-process.js']) {
    const file = fileURLToPath(new URL(`./${name}`, import.meta.url));
    if (fs.existsSync(file)) return file;
  }
  throw new Error('cannot find the job-process entry next to fork-node');
}

export interface NodeForkOptions {
  /** The job-process entry; default src/main/jobs/job-process.ts beside this file. */
  entry?: string;
  /** Extra environment for the child. */
  env?: Record<string, string>;
}

export function nodeJobForker(opts: NodeForkOptions = {}): ForkJobProcess {
  const entry = opts.entry ?? defaultEntry();
  const execArgv = entry.endsWith('.ts') ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [];
  return (request) =>
    new Promise<JobProcessHandle>((resolve, reject) => {
      const child = fork(entry, ['--data-dir', request.dataDir, '--threads', String(request.threads)], {
        execArgv,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'json',
      });
      const exitListeners: ((code: number | null, signal: string | null) => void)[] = [];
      let exited: { code: number | null; signal: string | null } | null = null;
      // 'close' rather than 'exit': by then stdout/stderr are drained, so the log tail is complete.
      child.on('close', (code, signal) => {
        exited = { code, signal };
        for (const l of exitListeners) l(code, signal);
      });
      child.once('error', (err) => {
        if (child.pid === undefined) reject(err);
      });
      // A send to a child that just died raises EPIPE/ERR_IPC_CHANNEL_CLOSED; its exit is what counts.
      child.on('error', () => undefined);
      child.once('spawn', () => {
        const pid = child.pid!;
        resolve({
          pid,
          send(message) {
            if (child.connected) child.send(message, (err) => void err);
          },
          onMessage(listener) {
            child.on('message', listener);
          },
          onOutput(listener) {
            child.stdout?.setEncoding('utf8').on('data', listener);
            child.stderr?.setEncoding('utf8').on('data', listener);
          },
          onExit(listener) {
            if (exited) listener(exited.code, exited.signal);
            else exitListeners.push(listener);
          },
          kill(signal) {
            try {
              child.kill(signal);
            } catch {
              // already gone
            }
          },
        });
      });
    });
}

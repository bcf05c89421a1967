/** Terminal progress display for long jobs: a bar on stderr, so --json output on stdout stays clean. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  log(line: string): void;
  stop(): void;
}

export function progressBar(total: number, label: string, fields: string, quiet = false): Progress {
  if (quiet || !process.stderr.isTTY) {
    // Not a terminal (CI, piped, a job process): one line every ~5% keeps logs readable.
    let last = -1;
    return {
      update(value, payload) {
        const pct = Math.floor((value / total) * 20);
        if (!quiet && (pct !== last || value === total)) {
          last = pct;
          const extra = payload ? ' ' + Object.entries(payload).map(([k, v]) => `${k} ${v}`).join(' ') : '';
          process.stderr.write(`${label} ${value}/${total}${extra}\n`);
        }
      },
      log(line) {
        if (!quiet) process.stderr.write(line + '\n');
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} | ${fields} | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (value, payload) => bar.update(value, payload),
    log: (line) => {
      bar.stop();
      process.stderr.write(line + '\n');
      bar.start(total, (bar as unknown as { value: number }).value);
    },
    stop: () => bar.stop(),
  };
}

/** Several bars at once (e.g. ADM and ADM-IP training side by side); plain lines when not a TTY. */
export function multiProgress(quiet = false) {
  const tty = !quiet && process.stderr.isTTY;
  const multi = tty
    ? new cliProgress.MultiBar(
        {
          format: '{label} [{bar}] {value}/{total} | {fields} | ETA {eta_formatted}',
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  return {
    add(label: string, total: number, start = 0): Progress {
      if (!multi) return progressBar(total, label, '', quiet);
      const bar = multi.create(total, start, { label, fields: '' });
      return {
        update: (value, payload) =>
          bar.update(value, { label, fields: payload ? Object.entries(payload).map(([k, v]) => `${k} ${v}`).join(' ') : '' }),
        log: (line) => multi.log(line + '\n'),
        stop: () => bar.stop(),
      };
    },
    log(line: string) {
      if (multi) multi.log(line + '\n');
      else if (!quiet) process.stderr.write(line + '\n');
    },
    stop() {
      multi?.stop();
    },
  };
}

/** What a job run in this terminal gets: Ctrl-C as a stop request, and a progress bar. */
export interface ForegroundControls {
  stopRequested: () => 'interrupt' | null;
  onStep: (done: number, total: number) => void;
  /** A log line, printed above the bar (nothing with --json before the bar exists). */
  log: (line: string) => void;
}

/**
 * Runs a job in the foreground (`xlab sample`, `eval`, `analyze`): the first Ctrl-C asks it to stop
 * (it checkpoints or stops between steps), the second quits at once; one progress bar, stopped
 * whatever happens.
 */
export async function inForeground<T>(label: string, quiet: boolean, run: (c: ForegroundControls) => Promise<T>): Promise<T> {
  let bar: Progress | null = null;
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
  };
  process.on('SIGINT', onSigint);
  try {
    return await run({
      stopRequested: () => (stopRequested ? 'interrupt' : null),
      onStep: (done, total) => {
        bar ??= progressBar(total, label, '{rate}', quiet);
        bar.update(done, { rate: '' });
      },
      log: (line) => (bar ? bar.log(line) : quiet ? undefined : void process.stderr.write(line + '\n')),
    });
  } finally {
    (bar as Progress | null)?.stop();
    process.off('SIGINT', onSigint);
  }
}

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

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

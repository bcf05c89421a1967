/**
 * What the history commands share: the --data-dir option, opening the store and the LabApi over
 * it, and plain-text tables. The CLI goes through the same LabApi as the app and the browser, so a
 * command cannot do what the API would refuse.
 */
import type { Command } from 'commander';
import { LabApiError } from '../../shared/api';
import { createLabApi, type LabService } from '../api/lab-api';
import { isProcessAlive } from '../jobs/supervisor';
import { resolveDataDir } from '../store/data-dir';
import { openStore, type Store } from '../store/store';

export function addDataDirOption(cmd: Command): Command {
  return cmd.option('--data-dir <dir>', 'history folder (default: $XLAB_HOME, else ~/.local/share/exposure-lab or the platform equivalent)');
}

export interface Lab {
  dataDir: string;
  store: Store;
  api: LabService;
  close(): void;
}

export function openLab(o: { dataDir?: string }): Lab {
  const layout = resolveDataDir({ dataDirArg: o.dataDir });
  const store = openStore(layout.root);
  // A job whose process is gone (a killed terminal, a crashed app) shows as interrupted, not running.
  store.markDeadJobsInterrupted(isProcessAlive);
  const api = createLabApi({ store, dataDir: layout.root });
  return {
    dataDir: layout.root,
    store,
    api,
    close() {
      api.close();
      store.close();
    },
  };
}

/** Runs fn with an open lab, closing it afterwards whatever happens. */
export async function withLab<T>(o: { dataDir?: string }, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = openLab(o);
  try {
    return await fn(lab);
  } finally {
    lab.close();
  }
}

/** Parses a positive integer argument (job ids, limits). */
export function intArg(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new LabApiError('INVALID', `${what} must be a whole number, got '${v}'`);
    return n;
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function formatTime(ms: number | null): string {
  if (ms === null) return '-';
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Left-aligned columns, the last one unpadded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

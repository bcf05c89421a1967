/**
 * Placeholder shell of the desktop UI: the run history as a plain table, through the LabApi (IPC
 * under Electron, HTTP in a browser). The real screens (runs, live run, compare) come with the UI issue.
 */
import { useEffect, useState } from 'react';
import type { RunSummary } from '../../shared/api';
import { labClient } from './lab-client';

function useRuns(): { runs: RunSummary[]; total: number; error: string | null } {
  const [state, setState] = useState<{ runs: RunSummary[]; total: number; error: string | null }>({ runs: [], total: 0, error: null });
  useEffect(() => {
    const lab = labClient();
    let cancelled = false;
    let pending = false;
    const load = () => {
      if (pending) return;
      pending = true;
      lab
        .listRuns({ limit: 200 })
        .then((page) => !cancelled && setState({ runs: page.runs, total: page.total, error: null }))
        .catch((err: Error) => !cancelled && setState((s) => ({ ...s, error: err.message })))
        .finally(() => (pending = false));
    };
    load();
    // Progress events are frequent; the table only needs status and step changes.
    const unsubscribe = lab.subscribe((e) => {
      if (e.type === 'run-updated' || e.type === 'job-status') load();
    });
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }, []);
  return state;
}

const cell = { padding: '4px 10px', borderBottom: '1px solid #ddd', textAlign: 'left' as const };

export function App() {
  const { runs, total, error } = useRuns();
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', padding: 24, maxWidth: 1100 }}>
      <h1>Exposure Lab</h1>
      <p>
        Train ADM and ADM-IP (input perturbation, Ning et al. ICML 2023), sample them from the same noise and compare.
        The full screens are not built yet; the command line is <code>npx xlab --help</code>.
      </p>
      <h2>Runs {total > runs.length ? `(${runs.length} of ${total})` : `(${total})`}</h2>
      {error && <p style={{ color: '#b00' }}>{error}</p>}
      <table style={{ borderCollapse: 'collapse', fontSize: 14 }}>
        <thead>
          <tr>
            {['Run', 'Name', 'Kind', 'Status', 'Steps', 'Created', 'Tags'].map((h) => (
              <th key={h} style={cell}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id}>
              <td style={{ ...cell, fontFamily: 'monospace' }}>{r.id}</td>
              <td style={cell}>{r.name}</td>
              <td style={cell}>{r.kind}</td>
              <td style={cell} title={r.error ?? undefined}>
                {r.status}
              </td>
              <td style={cell}>{r.stepsPlanned ? `${r.stepsDone}/${r.stepsPlanned}` : r.stepsDone}</td>
              <td style={cell}>{new Date(r.createdAt).toLocaleString()}</td>
              <td style={cell}>{r.tags.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}

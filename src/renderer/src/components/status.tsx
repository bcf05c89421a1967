/** A run's status as a small badge, and its steps as a progress bar. */
import type { RunStatus } from '../../../shared/api';

export function StatusBadge({ status, title }: { status: RunStatus | string; title?: string | null }) {
  return (
    <span className={`status status-${status}`} title={title ?? undefined} data-testid="status">
      {status}
    </span>
  );
}

export function ProgressBar({ done, planned, testId }: { done: number; planned: number | null; testId?: string }) {
  const frac = planned ? Math.min(1, Math.max(0, done / planned)) : 0;
  const label = planned ? `${done.toLocaleString()} / ${planned.toLocaleString()}` : done.toLocaleString();
  return (
    <div
      className="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={planned ?? undefined}
      aria-valuenow={done}
      aria-label="steps done"
      data-testid={testId}
      data-steps-done={done}
    >
      <div className="bar" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
      <div className="label">{label}</div>
    </div>
  );
}

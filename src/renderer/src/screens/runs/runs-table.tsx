/**
 * The runs list: a virtualised grid (only the rows in view exist in the page), with sortable
 * headers, group headers when grouped by experiment, and per-row actions.
 */
import { memo, useEffect, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { RunSummary } from '../../../../shared/api';
import { formatNumber, formatTime, objectiveLabel } from '../../components/format';
import { ProgressBar, StatusBadge } from '../../components/status';
import { routeHref } from '../../lab';
import type { LiveProgress } from './live';
import type { RunPages } from './run-pages';

export type SortField = 'createdAt' | 'name' | 'status' | 'bestFid' | 'finishedAt' | 'stepsDone';
export type RowAction = 'cancel' | 'pause' | 'resume' | 'duplicate' | 'delete';

const ROW_HEIGHT = 34;
const HEADER_HEIGHT = 34;

interface Column {
  label: string;
  sort?: SortField;
  title?: string;
}

const COLUMNS: Column[] = [
  { label: '' },
  { label: 'Run', sort: 'name' },
  { label: 'Status', sort: 'status' },
  { label: 'Objective' },
  { label: 'γ', title: 'input perturbation strength gamma' },
  { label: 'Dataset' },
  { label: 'Preset' },
  { label: 'Steps', sort: 'stepsDone', title: 'training iterations done / planned' },
  { label: 'Best FID', sort: 'bestFid' },
  { label: 'Tags' },
  { label: 'Notes' },
  { label: 'Created', sort: 'createdAt' },
  { label: 'Actions' },
];

export interface RunsTableProps {
  pages: RunPages;
  orderBy: SortField;
  direction: 'asc' | 'desc';
  onSort: (field: SortField) => void;
  selected: ReadonlySet<string>;
  onToggleSelect: (runId: string) => void;
  onToggleGroup: (segmentKey: string) => void;
  onAction: (action: RowAction, run: RunSummary) => void;
  live: ReadonlyMap<string, LiveProgress>;
  busy: ReadonlySet<string>;
}

export function RunsTable(props: RunsTableProps) {
  const { pages, orderBy, direction, onSort } = props;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: pages.count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    // The sticky header sits above the rows inside the same scroller.
    scrollMargin: HEADER_HEIGHT,
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items[items.length - 1]?.index ?? -1;

  useEffect(() => {
    pages.ensure(first, last);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [first, last, pages.version, pages.count]);

  return (
    <div className="runs-table" role="table" aria-label="runs" aria-rowcount={pages.count} data-testid="runs-table">
      <div className="runs-body" ref={scrollRef} data-testid="runs-scroll">
        <div className="runs-head" role="row">
          {COLUMNS.map((c, i) => (
            <div key={i} role="columnheader" title={c.title} aria-sort={c.sort && c.sort === orderBy ? (direction === 'asc' ? 'ascending' : 'descending') : undefined}>
              {c.sort ? (
                <button type="button" className="sort" onClick={() => onSort(c.sort!)} data-testid={`runs-sort-${c.sort}`}>
                  {c.label}
                  {c.sort === orderBy ? (direction === 'asc' ? ' ▲' : ' ▼') : ''}
                </button>
              ) : (
                c.label
              )}
            </div>
          ))}
        </div>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }} role="rowgroup">
          {items.map((v) => {
            const item = pages.itemAt(v.index);
            const style = { top: v.start - HEADER_HEIGHT, height: v.size };
            if (item.type === 'group') {
              return (
                <div key={`g-${item.segment.key}`} className="group-row" style={style} data-testid="runs-group">
                  <button
                    type="button"
                    className="small"
                    aria-expanded={!item.collapsed}
                    onClick={() => props.onToggleGroup(item.segment.key)}
                    data-testid="runs-group-toggle"
                  >
                    {item.collapsed ? '▸' : '▾'}
                  </button>
                  <span>{item.segment.label}</span>
                  <span className="muted">{item.total === null ? '…' : `${item.total} run${item.total === 1 ? '' : 's'}`}</span>
                </div>
              );
            }
            if (!item.run) {
              return (
                <div key={`p-${item.segment.key}-${item.index}`} className="runs-row" style={style}>
                  <div />
                  <div className="muted">loading…</div>
                </div>
              );
            }
            return (
              <RunRow
                key={item.run.id}
                run={item.run}
                top={v.start - HEADER_HEIGHT}
                height={v.size}
                selected={props.selected.has(item.run.id)}
                live={props.live.get(item.run.id)}
                busy={props.busy.has(item.run.id)}
                onToggleSelect={props.onToggleSelect}
                onAction={props.onAction}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
}

interface RunRowProps {
  run: RunSummary;
  top: number;
  height: number;
  selected: boolean;
  live: LiveProgress | undefined;
  busy: boolean;
  onToggleSelect: (runId: string) => void;
  onAction: (action: RowAction, run: RunSummary) => void;
}

const RunRow = memo(function RunRow({ run, top, height, selected, live, busy, onToggleSelect, onAction }: RunRowProps) {
  const active = run.status === 'running' || run.status === 'queued';
  // The event stream is ahead of the last fetch while the job runs.
  const done = active && live && live.step > run.stepsDone ? live.step : run.stepsDone;
  const planned = run.stepsPlanned ?? (active && live ? live.stepsPlanned : null);
  const act = (a: RowAction) => () => onAction(a, run);
  return (
    <div
      className={`runs-row${selected ? ' selected' : ''}`}
      style={{ top, height }}
      role="row"
      data-testid="runs-row"
      data-run-id={run.id}
      data-status={run.status}
      data-objective={run.objective ?? ''}
    >
      <div>
        <input
          type="checkbox"
          checked={selected}
          onChange={() => onToggleSelect(run.id)}
          aria-label={`select ${run.name}`}
          data-testid="run-select"
        />
      </div>
      <div title={`${run.name}\n${run.id}`}>
        <a href={routeHref(`/run/${run.id}`)} data-testid="run-open">
          {run.name}
        </a>
      </div>
      <div>
        <StatusBadge status={run.status} title={run.error} />
      </div>
      <div>{run.kind === 'train' ? objectiveLabel(run.objective) : run.kind}</div>
      <div>{run.gamma !== null && (run.objective === 'adm-ip' || run.objective === 'adm-y') ? formatNumber(run.gamma, 3) : '—'}</div>
      <div title={run.dataset ?? undefined}>{run.dataset ?? '—'}</div>
      <div>{run.preset ?? '—'}</div>
      <div>
        <ProgressBar done={done} planned={planned} testId="run-progress" />
      </div>
      <div className="mono">{formatNumber(run.bestFid, 4)}</div>
      <div title={run.tags.join(', ')}>
        {run.tags.map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        ))}
      </div>
      <div title={notesTitle(run)} data-testid="run-notes" data-note-count={run.noteCount}>
        {run.noteCount > 1 ? `(${run.noteCount}) ` : ''}
        {run.lastNote ?? ''}
      </div>
      <div>{formatTime(run.createdAt)}</div>
      <div className="actions">
        {run.status === 'running' && (
          <button type="button" className="small" onClick={act('pause')} disabled={busy} data-testid="run-pause">
            Pause
          </button>
        )}
        {active && (
          <button type="button" className="small" onClick={act('cancel')} disabled={busy} data-testid="run-cancel">
            Cancel
          </button>
        )}
        {['paused', 'cancelled', 'failed', 'interrupted'].includes(run.status) && (
          <button type="button" className="small" onClick={act('resume')} disabled={busy} data-testid="run-resume">
            Resume
          </button>
        )}
        {run.kind === 'train' && (
          <button type="button" className="small" onClick={act('duplicate')} title="New experiment with this run's settings" data-testid="run-duplicate">
            Duplicate
          </button>
        )}
        {!active && (
          <button type="button" className="small danger" onClick={act('delete')} disabled={busy} data-testid="run-delete" aria-label={`delete ${run.name}`}>
            Delete
          </button>
        )}
      </div>
    </div>
  );
});

/** The cell clips the newest note to its width; the tooltip shows all the listing carries of it. */
function notesTitle(run: RunSummary): string | undefined {
  if (!run.lastNote) return undefined;
  return run.noteCount > 1 ? `${run.noteCount} notes; newest:\n${run.lastNote}` : run.lastNote;
}

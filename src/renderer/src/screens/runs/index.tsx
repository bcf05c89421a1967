/**
 * Runs: every run, filtered, sorted and (optionally) grouped by experiment on the server, shown
 * in a virtualised list that follows the engine live. Selected runs go to Compare or Analyses.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ListRunsRequest, RunSummary } from '../../../../shared/api';
import { OBJECTIVES, RUN_KINDS, RUN_STATUSES, type ObjectiveName, type RunKind, type RunStatus } from '../../../../shared/vocabulary';
import { ConfirmDialog } from '../../components/dialog';
import { errorMessage, objectiveLabel } from '../../components/format';
import { navigate, routeHref, useLab, useLabEvents, useQuery } from '../../lab';
import { useLiveProgress } from './live';
import { useRunPages, type Segment } from './run-pages';
import { RunsTable, type RowAction, type SortField } from './runs-table';

const SORT_FIELDS: SortField[] = ['createdAt', 'name', 'status', 'bestFid', 'finishedAt', 'stepsDone'];

interface Filters {
  search: string;
  status: RunStatus | '';
  kind: RunKind | '';
  objective: ObjectiveName | '';
  tag: string;
  /** '' = all, 'none' = runs in no experiment, else an experiment id. */
  experiment: string;
  grouped: boolean;
  orderBy: SortField;
  direction: 'asc' | 'desc';
}

function filtersFrom(params: URLSearchParams): Filters {
  const status = params.get('status') ?? '';
  const kind = params.get('kind') ?? '';
  const objective = params.get('objective') ?? '';
  const orderBy = params.get('sort') ?? 'createdAt';
  return {
    search: params.get('q') ?? '',
    status: (RUN_STATUSES as readonly string[]).includes(status) ? (status as RunStatus) : '',
    kind: (RUN_KINDS as readonly string[]).includes(kind) ? (kind as RunKind) : '',
    objective: (OBJECTIVES as readonly string[]).includes(objective) ? (objective as ObjectiveName) : '',
    tag: params.get('tag') ?? '',
    experiment: params.get('experiment') ?? '',
    grouped: params.get('group') === 'experiment',
    orderBy: (SORT_FIELDS as string[]).includes(orderBy) ? (orderBy as SortField) : 'createdAt',
    direction: params.get('dir') === 'asc' ? 'asc' : 'desc',
  };
}

/** Mirrors the filters into the address (without a navigation), so a reload keeps them. */
function rememberFilters(f: Filters): void {
  const href = routeHref('/runs', {
    q: f.search || null,
    status: f.status || null,
    kind: f.kind || null,
    objective: f.objective || null,
    tag: f.tag || null,
    experiment: f.experiment || null,
    group: f.grouped ? 'experiment' : null,
    sort: f.orderBy === 'createdAt' ? null : f.orderBy,
    dir: f.direction === 'desc' ? null : 'asc',
  });
  window.history.replaceState(null, '', href);
}

export function RunsScreen({ params }: { params: URLSearchParams }) {
  const lab = useLab();
  const [filters, setFiltersState] = useState(() => filtersFrom(params));
  const [searchDraft, setSearchDraft] = useState(filters.search);
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set());
  const [busy, setBusy] = useState<ReadonlySet<string>>(() => new Set());
  const [actionError, setActionError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<{ run: RunSummary; busy: boolean; error: string | null } | null>(null);
  const searchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const setFilters = (patch: Partial<Filters>) => {
    setFiltersState((f) => {
      const next = { ...f, ...patch };
      rememberFilters(next);
      return next;
    });
  };

  const experiments = useQuery((l) => l.listExperiments(), [], {
    refetchOn: (e) => e.type === 'run-updated',
    throttleMs: 2000,
  });
  const tags = useQuery((l) => l.listTags(), [], { refetchOn: (e) => e.type === 'run-updated', throttleMs: 2000 });

  const query = useMemo(() => {
    const q: Omit<ListRunsRequest, 'limit' | 'offset'> = { orderBy: filters.orderBy, direction: filters.direction };
    if (filters.search.trim()) q.search = filters.search.trim();
    if (filters.status) q.status = filters.status;
    if (filters.kind) q.kind = filters.kind;
    if (filters.objective) q.objective = filters.objective;
    if (filters.tag) q.tag = filters.tag;
    if (filters.experiment === 'none') q.experimentId = null;
    else if (filters.experiment) q.experimentId = Number(filters.experiment);
    return q;
  }, [filters]);

  const segments = useMemo<Segment[]>(() => {
    if (!filters.grouped) return [{ key: 'all', label: null }];
    const list: Segment[] = [];
    for (const e of experiments.data ?? []) {
      if (filters.experiment && filters.experiment !== String(e.id)) continue;
      list.push({ key: `e${e.id}`, label: e.name, experimentId: e.id });
    }
    if (!filters.experiment || filters.experiment === 'none') list.push({ key: 'none', label: 'No experiment', experimentId: null });
    return list;
  }, [filters.grouped, filters.experiment, experiments.data]);

  const pages = useRunPages(query, segments, collapsed);
  const live = useLiveProgress();

  // Status changes, new and deleted runs reorder the list: refetch what is in view (throttled).
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useLabEvents((e) => {
    if (e.type !== 'run-updated' && e.type !== 'job-status') return;
    if (refreshTimer.current) return;
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = null;
      pages.refresh();
    }, 400);
  });
  useEffect(() => () => {
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
    if (searchTimer.current) clearTimeout(searchTimer.current);
  }, []);

  const toggleSelect = useCallback((id: string) => {
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  }, []);
  const toggleGroup = useCallback((key: string) => {
    setCollapsed((s) => {
      const n = new Set(s);
      if (n.has(key)) n.delete(key);
      else n.add(key);
      return n;
    });
  }, []);
  const onSort = (field: SortField) => {
    setFilters(
      field === filters.orderBy
        ? { direction: filters.direction === 'asc' ? 'desc' : 'asc' }
        : { orderBy: field, direction: field === 'name' ? 'asc' : 'desc' },
    );
  };

  const withBusy = async (runId: string, fn: () => Promise<unknown>) => {
    setBusy((s) => new Set(s).add(runId));
    setActionError(null);
    try {
      await fn();
    } catch (err) {
      setActionError(errorMessage(err));
    } finally {
      setBusy((s) => {
        const n = new Set(s);
        n.delete(runId);
        return n;
      });
      pages.refresh();
    }
  };

  /** The run's current job: the newest one (resuming an older one is refused). */
  const latestJob = async (runId: string) => {
    const jobs = await lab.listJobs({ runId });
    const job = jobs[jobs.length - 1];
    if (!job) throw new Error(`run ${runId} has no job to act on`);
    return job;
  };

  const onAction = useCallback(
    (action: RowAction, run: RunSummary) => {
      switch (action) {
        case 'duplicate':
          navigate('/new', { from: run.id });
          return;
        case 'delete':
          setDeleting({ run, busy: false, error: null });
          return;
        case 'cancel':
          void withBusy(run.id, async () => lab.cancelJob((await latestJob(run.id)).id));
          return;
        case 'pause':
          void withBusy(run.id, async () => lab.pauseJob((await latestJob(run.id)).id));
          return;
        case 'resume':
          void withBusy(run.id, async () => lab.resumeJob((await latestJob(run.id)).id));
          return;
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [lab],
  );

  const confirmDelete = async () => {
    if (!deleting) return;
    const run = deleting.run;
    setDeleting({ run, busy: true, error: null });
    try {
      await lab.deleteRun(run.id);
      setDeleting(null);
      setSelected((s) => {
        const n = new Set(s);
        n.delete(run.id);
        return n;
      });
      pages.refresh();
    } catch (err) {
      setDeleting({ run, busy: false, error: errorMessage(err) });
    }
  };

  const selectedIds = [...selected];
  const filtered = Boolean(filters.search || filters.status || filters.kind || filters.objective || filters.tag || filters.experiment);

  return (
    <section className="screen fill" data-testid="screen-runs">
      <div className="toolbar">
        <h1 style={{ margin: 0, marginRight: 8 }}>Runs</h1>
        <span className="muted" data-testid="runs-total">
          {pages.total === null ? '…' : `${pages.total.toLocaleString()} run${pages.total === 1 ? '' : 's'}${filtered ? (pages.total === 1 ? ' matches' : ' match') : ''}`}
        </span>
        <span style={{ flex: 1 }} />
        <button
          type="button"
          className="primary"
          disabled={selectedIds.length < 1}
          onClick={() => navigate('/compare', { runs: selectedIds })}
          data-testid="runs-compare"
        >
          Compare{selectedIds.length ? ` (${selectedIds.length})` : ''}
        </button>
        <button type="button" disabled={selectedIds.length < 1} onClick={() => navigate('/analyses', { runs: selectedIds })} data-testid="runs-analyses">
          Analyses
        </button>
        <button type="button" disabled={selectedIds.length < 1} onClick={() => setSelected(new Set())} data-testid="runs-clear-selection">
          Clear selection
        </button>
        <a className="button" href={routeHref('/new')} data-testid="runs-new">
          New experiment
        </a>
      </div>
      <form
        className="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ search: searchDraft });
        }}
      >
        <input
          type="search"
          placeholder="Search name, id, dataset, preset, objective, tag"
          value={searchDraft}
          onChange={(e) => {
            const value = e.target.value;
            setSearchDraft(value);
            // Typing filters as it goes, once the typing pauses.
            if (searchTimer.current) clearTimeout(searchTimer.current);
            searchTimer.current = setTimeout(() => setFilters({ search: value }), value ? 250 : 0);
          }}
          style={{ width: 300 }}
          aria-label="search runs"
          data-testid="runs-search"
        />
        <label>
          Status
          <select value={filters.status} onChange={(e) => setFilters({ status: e.target.value as RunStatus | '' })} data-testid="runs-filter-status">
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select value={filters.kind} onChange={(e) => setFilters({ kind: e.target.value as RunKind | '' })} data-testid="runs-filter-kind">
            <option value="">any</option>
            {RUN_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label>
          Objective
          <select
            value={filters.objective}
            onChange={(e) => setFilters({ objective: e.target.value as ObjectiveName | '' })}
            data-testid="runs-filter-objective"
          >
            <option value="">any</option>
            {OBJECTIVES.map((o) => (
              <option key={o} value={o}>
                {objectiveLabel(o)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select value={filters.tag} onChange={(e) => setFilters({ tag: e.target.value })} data-testid="runs-filter-tag">
            <option value="">any</option>
            {(tags.data ?? []).map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
            {filters.tag && !(tags.data ?? []).includes(filters.tag) && <option value={filters.tag}>{filters.tag}</option>}
          </select>
        </label>
        <label>
          Experiment
          <select value={filters.experiment} onChange={(e) => setFilters({ experiment: e.target.value })} data-testid="runs-filter-experiment">
            <option value="">any</option>
            <option value="none">(none)</option>
            {(experiments.data ?? []).map((x) => (
              <option key={x.id} value={String(x.id)}>
                {x.name}
              </option>
            ))}
            {filters.experiment && filters.experiment !== 'none' && !(experiments.data ?? []).some((x) => String(x.id) === filters.experiment) && (
              <option value={filters.experiment}>experiment {filters.experiment}</option>
            )}
          </select>
        </label>
        <label>
          <input type="checkbox" checked={filters.grouped} onChange={(e) => setFilters({ grouped: e.target.checked })} data-testid="runs-group-by" />
          Group by experiment
        </label>
        {filtered && (
          <button
            type="button"
            onClick={() => {
              setSearchDraft('');
              setFilters({ search: '', status: '', kind: '', objective: '', tag: '', experiment: '' });
            }}
            data-testid="runs-clear-filters"
          >
            Clear filters
          </button>
        )}
      </form>
      {pages.error && (
        <div className="banner error" role="alert">
          Could not load runs: {pages.error}{' '}
          <button type="button" className="small" onClick={() => pages.refresh()}>
            Retry
          </button>
        </div>
      )}
      {actionError && (
        <div className="banner error" role="alert" data-testid="runs-action-error">
          {actionError}{' '}
          <button type="button" className="small" onClick={() => setActionError(null)}>
            Dismiss
          </button>
        </div>
      )}
      {pages.total === 0 && !pages.error ? (
        <div className="banner" data-testid="runs-empty">
          {filtered ? 'No run matches these filters.' : (
            <>
              No runs yet. <a href={routeHref('/new')}>Start an experiment</a> (ADM vs ADM-IP on MNIST takes a few minutes).
            </>
          )}
        </div>
      ) : (
        <RunsTable
          pages={pages}
          orderBy={filters.orderBy}
          direction={filters.direction}
          onSort={onSort}
          selected={selected}
          onToggleSelect={toggleSelect}
          onToggleGroup={toggleGroup}
          onAction={onAction}
          live={live}
          busy={busy}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.run.name}?`}
          confirmLabel="Delete run and files"
          danger
          busy={deleting.busy}
          error={deleting.error}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(null)}
          testId="confirm-delete"
        >
          <p>
            This removes the run <code>{deleting.run.id}</code>, its metrics, checkpoints, samples and evaluations, and its folder on
            disk. It cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

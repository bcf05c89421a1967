/**
 * The runs list as the server pages it. The table asks for the rows it is about to show; only
 * those pages (PAGE_SIZE runs each) are fetched, so 10,000 runs cost what 30 do. Grouped by
 * experiment, each group is its own paged query, shown under a header that can be collapsed.
 *
 * Events make loaded pages stale rather than dropping them: the old rows stay on screen until the
 * new page arrives, and only pages in view are fetched again.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ListRunsRequest, RunSummary } from '../../../../shared/api';
import { useLab } from '../../lab';

export const PAGE_SIZE = 100;

/** One block of the list: every matching run, or one experiment's runs when grouped. */
export interface Segment {
  key: string;
  /** Header text; null = no header (the ungrouped list). */
  label: string | null;
  /** Narrows the query to one experiment (null = runs in none); absent = no narrowing. */
  experimentId?: number | null;
}

export type ListItem =
  | { type: 'group'; segment: Segment; total: number | null; collapsed: boolean }
  | { type: 'row'; segment: Segment; index: number; run: RunSummary | null };

interface SegmentCache {
  total: number | null;
  pages: Map<number, { runs: RunSummary[]; epoch: number }>;
  pending: Set<number>;
  /** Epoch at which a page last failed: not retried until the next refresh. */
  failed: Map<number, number>;
}

interface Block {
  segment: Segment;
  /** Index of the header (grouped) or of the first row. */
  start: number;
  header: boolean;
  rows: number;
}

export interface RunPages {
  count: number;
  itemAt(index: number): ListItem;
  /** Fetches what rows [first, last] need. */
  ensure(first: number, last: number): void;
  /** Marks everything stale; pages in view are fetched again by the next ensure. */
  refresh(): void;
  /** Runs matching the filter, over all segments (null until known). */
  total: number | null;
  error: string | null;
  /** Changes whenever new data arrived (a dependency for effects). */
  version: number;
}

export function useRunPages(query: Omit<ListRunsRequest, 'limit' | 'offset'>, segments: Segment[], collapsed: ReadonlySet<string>): RunPages {
  const lab = useLab();
  const queryKey = JSON.stringify(query);
  const segmentsKey = JSON.stringify(segments);
  const listKey = `${queryKey}|${segmentsKey}`;
  const cache = useRef({ key: listKey, gen: 0, epoch: 0, segs: new Map<string, SegmentCache>() });
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const bump = useCallback(() => setVersion((v) => v + 1), []);

  // A new filter or grouping is a new list: forget everything (answers still in flight are dropped).
  if (cache.current.key !== listKey) {
    cache.current = { key: listKey, gen: cache.current.gen + 1, epoch: 0, segs: new Map() };
  }

  const segCache = (key: string): SegmentCache => {
    let c = cache.current.segs.get(key);
    if (!c) {
      c = { total: null, pages: new Map(), pending: new Set(), failed: new Map() };
      cache.current.segs.set(key, c);
    }
    return c;
  };

  const grouped = segments.some((s) => s.label !== null);
  const blocks: Block[] = [];
  let count = 0;
  let total: number | null = 0;
  for (const segment of segments) {
    const c = segCache(segment.key);
    if (c.total === null) total = null;
    else if (total !== null) total += c.total;
    // Empty groups are left out once known to be empty.
    if (grouped && c.total === 0) continue;
    const header = segment.label !== null;
    const rows = header && collapsed.has(segment.key) ? 0 : (c.total ?? 0);
    blocks.push({ segment, start: count, header, rows });
    count += (header ? 1 : 0) + rows;
  }

  const itemAt = (index: number): ListItem => {
    let block = blocks[0]!;
    for (const b of blocks) {
      if (b.start > index) break;
      block = b;
    }
    const c = segCache(block.segment.key);
    if (block.header && index === block.start) {
      return { type: 'group', segment: block.segment, total: c.total, collapsed: collapsed.has(block.segment.key) };
    }
    const row = index - block.start - (block.header ? 1 : 0);
    const page = c.pages.get(Math.floor(row / PAGE_SIZE));
    return { type: 'row', segment: block.segment, index: row, run: page?.runs[row % PAGE_SIZE] ?? null };
  };

  const fetchPage = (segment: Segment, pageNo: number) => {
    const c = segCache(segment.key);
    const { gen, epoch } = cache.current;
    if (c.pending.has(pageNo)) return;
    const have = c.pages.get(pageNo);
    if (have && have.epoch === epoch) return;
    if (c.failed.get(pageNo) === epoch) return;
    c.pending.add(pageNo);
    const request: ListRunsRequest = { ...query, limit: PAGE_SIZE, offset: pageNo * PAGE_SIZE };
    if (segment.experimentId !== undefined) request.experimentId = segment.experimentId;
    lab.listRuns(request).then(
      (page) => {
        if (gen !== cache.current.gen) return;
        c.pages.set(pageNo, { runs: page.runs, epoch });
        c.failed.delete(pageNo);
        c.total = page.total;
        setError(null);
      },
      (err: unknown) => {
        if (gen !== cache.current.gen) return;
        c.failed.set(pageNo, epoch);
        setError(err instanceof Error ? err.message : String(err));
      },
    ).finally(() => {
      if (gen !== cache.current.gen) return;
      c.pending.delete(pageNo);
      bump();
    });
  };

  const ensure = (first: number, last: number) => {
    // Every segment's first page once, for its total; after that only what is in view is kept
    // fresh (every page answer carries the total too), so a refresh costs a few requests however
    // many experiments there are.
    for (const s of segments) if (!segCache(s.key).pages.has(0)) fetchPage(s, 0);
    for (const b of blocks) {
      if (b.header && b.start >= first && b.start <= last) fetchPage(b.segment, 0);
      const firstRow = b.start + (b.header ? 1 : 0);
      const from = Math.max(first, firstRow) - firstRow;
      const to = Math.min(last, firstRow + b.rows - 1) - firstRow;
      if (to < from) continue;
      for (let p = Math.floor(from / PAGE_SIZE); p <= Math.floor(to / PAGE_SIZE); p++) fetchPage(b.segment, p);
    }
  };

  const refresh = useCallback(() => {
    cache.current.epoch += 1;
    bump();
  }, [bump]);

  // The first pages, before the table has measured itself; and, after a refresh, the segments
  // with nothing to show (no table rows ask for them, yet a new run may have just landed there).
  useEffect(() => {
    for (const s of segments) {
      const c = segCache(s.key);
      if (c.total === null || c.total === 0) fetchPage(s, 0);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [listKey, version]);

  return { count, itemAt, ensure, refresh, total, error, version };
}

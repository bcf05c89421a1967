/**
 * Paired sample grids: the runs' samples from the same noise, side by side, with one selection
 * shared by every grid (click a sample, or use the slider or the arrow keys, and the same sample
 * is enlarged for every run), a flicker view that alternates two runs in place, and |A - B|.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent } from 'react';
import type { SampleSetInfo } from '../../../../shared/api';
import { ImageExportButton } from '../../export/ExportButtons';
import { imagePng } from '../../export/image-png';
import { canvasToPng, pageColors } from '../../export/svg-capture';
import { formatNumber } from '../../export/table-text';
import { cellAt, cellRect, moveCell, type GridGeometry } from './grid-geometry';
import { composeSideBySide, drawCell, drawDifference, enlarged, exportScale, sharedGeometry } from './grid-canvas';
import { useGridImages, type LoadedGrid } from './grid-images';
import { cellMeanDifferences } from './pixel-difference';

export interface GridRun {
  runId: string;
  label: string;
  color: string;
  sampleSet: SampleSetInfo;
  url: string | null;
}

type View = 'side' | 'flicker' | 'difference';

function samplerText(s: SampleSetInfo): string {
  const kind = typeof s.sampler['name'] === 'string' ? s.sampler['name'] : typeof s.sampler['kind'] === 'string' ? s.sampler['kind'] : 'sampler';
  return `${kind} ${s.stepsSpec === null || s.stepsSpec === '' ? 'all T' : s.stepsSpec}`;
}

function Highlight({ g, k, color }: { g: GridGeometry; k: number; color: string }) {
  const r = cellRect(g, k);
  const pct = (v: number, total: number) => `${(100 * v) / total}%`;
  return (
    <div
      className="cell-highlight"
      style={{ left: pct(r.x - 1, g.width), top: pct(r.y - 1, g.height), width: pct(r.width + 2, g.width), height: pct(r.height + 2, g.height), borderColor: color }}
    />
  );
}

function GridCard({ run, grid, k, onSelect, shown, onShown }: {
  run: GridRun;
  grid: LoadedGrid | undefined;
  k: number;
  onSelect: (k: number) => void;
  /** The <img> has loaded. */
  shown: boolean;
  onShown: (runId: string) => void;
}) {
  const g = grid?.geometry ?? null;
  const pick = (e: MouseEvent<HTMLDivElement>) => {
    if (!g) return;
    const rect = e.currentTarget.getBoundingClientRect();
    const cell = cellAt(g, ((e.clientX - rect.left) / rect.width) * g.width, ((e.clientY - rect.top) / rect.height) * g.height);
    if (cell !== null) onSelect(cell);
  };
  const key = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!g) return;
    const next = moveCell(g, k, e.key);
    if (next !== null) {
      e.preventDefault();
      onSelect(next);
    }
  };
  const s = run.sampleSet;
  return (
    <div className="grid-card" data-testid="grid-card" data-run={run.runId}>
      <div className="grid-card-head">
        <span className="swatch" style={{ background: run.color }} /> <b>{run.label}</b>
        {grid && <ImageExportButton name={['samples', run.label, `ckpt${s.checkpointStep ?? ''}`, s.stepsSpec ?? '', `seed${s.seed}`]} label={`${run.label} grid`} png={() => imagePng(grid.url)} />}
      </div>
      <div className="muted grid-meta">
        checkpoint {s.checkpointStep ?? '?'} · {samplerText(s)} · seed {s.seed} · {s.count} samples
      </div>
      {run.url === null ? (
        <p className="muted">This sample set has no grid image.</p>
      ) : (
        <div
          className="grid-frame"
          tabIndex={0}
          role="group"
          aria-label={`Samples of ${run.label}; sample ${k + 1} of ${s.count} selected; arrow keys move the selection`}
          onClick={pick}
          onKeyDown={key}
        >
          {/* The <img> waits for the decode, so it loads from the cache instead of downloading a second copy alongside. */}
          {grid ? (
            <img
              src={run.url}
              alt={`${s.count} samples of ${run.label}`}
              className="sample-grid"
              data-testid="sample-grid"
              data-run={run.runId}
              data-count={s.count}
              data-decoded={shown && !grid.error ? 'true' : 'false'}
              draggable={false}
              onLoad={() => onShown(run.runId)}
            />
          ) : (
            <div className="sample-grid grid-pending" role="status" aria-label={`loading the samples of ${run.label}`} />
          )}
          {g && shown && <Highlight g={g} k={k} color={run.color} />}
        </div>
      )}
      {grid?.error && <p className="error">{grid.error}</p>}
    </div>
  );
}

function CellCanvas({ grid, k, zoom, label }: { grid: LoadedGrid; k: number; zoom: number; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current && grid.geometry && k < grid.geometry.count) drawCell(ref.current, grid, k, zoom);
  }, [grid, k, zoom]);
  return <canvas ref={ref} className="cell-canvas" role="img" aria-label={`sample ${k + 1} of ${label}, enlarged ${zoom} times`} />;
}

function prefersReducedMotion(): boolean {
  return typeof window !== 'undefined' && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

function PairPicker({ runs, a, b, setA, setB }: { runs: GridRun[]; a: string; b: string; setA: (v: string) => void; setB: (v: string) => void }) {
  const options = runs.map((r) => (
    <option key={r.runId} value={r.runId}>
      {r.label}
    </option>
  ));
  return (
    <>
      <label>
        A <select value={a} onChange={(e) => setA(e.target.value)}>{options}</select>
      </label>
      <label>
        B <select value={b} onChange={(e) => setB(e.target.value)}>{options}</select>
      </label>
    </>
  );
}

function FlickerView({ runs, a, b }: { runs: GridRun[]; a: string; b: string }) {
  const [playing, setPlaying] = useState(() => !prefersReducedMotion());
  const [hz, setHz] = useState(2);
  const [showB, setShowB] = useState(false);
  useEffect(() => {
    if (!playing) return;
    const t = setInterval(() => setShowB((v) => !v), 1000 / hz);
    return () => clearInterval(t);
  }, [playing, hz]);
  const ra = runs.find((r) => r.runId === a);
  const rb = runs.find((r) => r.runId === b);
  if (!ra?.url || !rb?.url) return <p className="muted">Both runs need a grid image to flicker between.</p>;
  const shown = showB ? rb : ra;
  return (
    <div className="flicker" data-testid="flicker-view">
      <div className="toolbar">
        <button type="button" onClick={() => setPlaying((p) => !p)} aria-pressed={playing}>
          {playing ? 'Pause' : 'Play'}
        </button>
        <button type="button" onClick={() => setShowB((v) => !v)} disabled={playing}>
          Show {showB ? 'A' : 'B'}
        </button>
        <label>
          rate{' '}
          <select value={hz} onChange={(e) => setHz(Number(e.target.value))}>
            <option value={1}>1 Hz</option>
            <option value={2}>2 Hz</option>
            <option value={4}>4 Hz</option>
          </select>
        </label>
        <span className="flicker-label" aria-live="off">
          <span className="swatch" style={{ background: shown.color }} /> showing <b>{showB ? 'B' : 'A'}</b>: {shown.label}
        </span>
      </div>
      <div className="flicker-stack">
        <img src={ra.url} alt={`samples of ${ra.label}`} className="sample-grid" style={{ visibility: showB ? 'hidden' : 'visible' }} />
        <img src={rb.url} alt={`samples of ${rb.label}`} className="sample-grid" style={{ visibility: showB ? 'visible' : 'hidden' }} />
      </div>
      {prefersReducedMotion() && <p className="muted">Your system asks for reduced motion, so flicker starts paused.</p>}
    </div>
  );
}

function DifferenceView({ runs, grids, a, b, onSelect }: {
  runs: GridRun[];
  grids: Map<string, LoadedGrid>;
  a: string;
  b: string;
  onSelect: (k: number) => void;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const [amplify, setAmplify] = useState(4);
  const [mode, setMode] = useState<'pixels' | 'blend' | null>(null);
  const ga = grids.get(a);
  const gb = grids.get(b);
  const ra = runs.find((r) => r.runId === a);
  const rb = runs.find((r) => r.runId === b);
  const sameSize = ga && gb && ga.width === gb.width && ga.height === gb.height;
  useEffect(() => {
    if (ref.current && ga && gb && sameSize) setMode(drawDifference(ref.current, ga, gb, amplify));
  }, [ga, gb, amplify, sameSize]);
  const perCell = useMemo(() => {
    if (!ga?.pixels || !gb?.pixels || !ga.geometry || !sameSize) return null;
    return cellMeanDifferences(ga.pixels, gb.pixels, ga.geometry);
  }, [ga, gb, sameSize]);
  if (!ga || !gb || !ra || !rb) return <p className="muted">Waiting for both grids…</p>;
  if (!sameSize) return <p className="error">The two grids differ in size: they are not paired sample sets.</p>;
  const mean = perCell ? perCell.reduce((s, v) => s + v, 0) / perCell.length : null;
  const top = perCell
    ? perCell
        .map((v, k) => ({ v, k }))
        .sort((x, y) => y.v - x.v)
        .slice(0, 5)
    : [];
  return (
    <div className="difference" data-testid="difference-view">
      <div className="toolbar">
        <label>
          amplify{' '}
          <select value={amplify} onChange={(e) => setAmplify(Number(e.target.value))}>
            {[1, 2, 4, 8, 16].map((v) => (
              <option key={v} value={v}>
                ×{v}
              </option>
            ))}
          </select>
        </label>
        <ImageExportButton
          name={['difference', ra.label, rb.label, `x${amplify}`]}
          label="difference image"
          text="Save difference (PNG)"
          png={() => canvasToPng(enlarged(ref.current!, exportScale(ref.current!.width)))}
        />
      </div>
      <p className="muted">
        |A − B| per pixel and channel, ×{amplify}: A = {ra.label}, B = {rb.label}. Black means the same pixel value.
      </p>
      <canvas ref={ref} className="sample-grid difference-canvas" role="img" aria-label={`absolute difference of ${ra.label} and ${rb.label}`} />
      {mean === 0 ? (
        <p>
          The two grids are identical (mean |A − B| = 0): the runs produced the same samples from the same noise.
        </p>
      ) : mean !== null ? (
        <p>
          Mean |A − B|: <b>{formatNumber(mean, 3)}</b> of 255. Most different samples:{' '}
          {top.map(({ v, k }) => (
            <button key={k} type="button" className="small" onClick={() => onSelect(k)}>
              #{k + 1} ({formatNumber(v, 3)})
            </button>
          ))}
        </p>
      ) : (
        mode === 'blend' && <p className="muted">Per-sample statistics need the image pixels, which this window may not read.</p>
      )}
    </div>
  );
}

export function SampleGrids({ runs, baselineId, onSettled }: {
  runs: GridRun[];
  baselineId: string | null;
  /** Called once every grid is on screen or has failed to load. */
  onSettled?: () => void;
}) {
  const sources = useMemo(
    () => runs.filter((r) => r.url).map((r) => ({ runId: r.runId, url: r.url!, count: r.sampleSet.count })),
    [runs],
  );
  const grids = useGridImages(sources);
  const loaded = runs.map((r) => grids.get(r.runId)).filter((g): g is LoadedGrid => Boolean(g));
  const allLoaded = loaded.length === sources.length && sources.length > 0;
  const geometry = allLoaded ? sharedGeometry(loaded) : null;
  const count = Math.min(...runs.map((r) => r.sampleSet.count));
  const [k, setK] = useState(0);
  const [zoom, setZoom] = useState(8);
  const [view, setView] = useState<View>('side');
  const defaultA = baselineId && runs.some((r) => r.runId === baselineId) ? baselineId : runs[0]!.runId;
  const [a, setA] = useState(defaultA);
  const [b, setB] = useState(() => runs.find((r) => r.runId !== defaultA)?.runId ?? defaultA);
  const frameRef = useRef<HTMLDivElement>(null);
  const selected = Math.min(k, Math.max(0, count - 1));

  // For timing (the e2e benchmark): the moment every grid is decoded and its <img> loaded.
  const [shown, setShown] = useState<ReadonlySet<string>>(new Set());
  const onShown = useCallback((runId: string) => setShown((prev) => (prev.has(runId) ? prev : new Set(prev).add(runId))), []);
  const marked = useRef(false);
  const decoded = allLoaded && loaded.every((g) => !g.error) && sources.every((s) => shown.has(s.runId));
  useEffect(() => {
    if (decoded && !marked.current) {
      marked.current = true;
      performance.mark('compare-grids-decoded');
    }
  }, [decoded]);
  const settled = decoded || (allLoaded && loaded.some((g) => g.error)) || sources.length === 0;
  useEffect(() => {
    if (settled) onSettled?.();
  }, [settled, onSettled]);

  const paired = runs.every((r) => r.sampleSet.count === runs[0]!.sampleSet.count && r.sampleSet.seed === runs[0]!.sampleSet.seed);

  return (
    <div className="sample-grids" ref={frameRef}>
      <div className="toolbar" role="group" aria-label="Grid view">
        {(['side', 'flicker', 'difference'] as const).map((v) => (
          <label key={v} className="segment">
            <input type="radio" name="grid-view" value={v} checked={view === v} onChange={() => setView(v)} disabled={v !== 'side' && runs.length < 2} />
            {v === 'side' ? 'Side by side' : v === 'flicker' ? 'Flicker' : 'Difference |A − B|'}
          </label>
        ))}
        {view !== 'side' && <PairPicker runs={runs} a={a} b={b} setA={setA} setB={setB} />}
        {allLoaded && (
          <ImageExportButton
            name={['paired-samples', ...runs.map((r) => r.label)]}
            label="side-by-side grids"
            text="Save side by side (PNG)"
            png={() => {
              const colors = pageColors(frameRef.current ?? document.body);
              const canvas = composeSideBySide(
                runs.flatMap((r) => (grids.get(r.runId) ? [{ grid: grids.get(r.runId)!, label: r.label, color: r.color }] : [])),
                colors.background,
                colors.foreground,
              );
              return canvasToPng(canvas);
            }}
          />
        )}
      </div>
      {!paired && (
        <p className="banner error" role="alert">
          These sample sets are not paired (their seeds or counts differ), so sample k of one run is not sample k of another.
        </p>
      )}
      {allLoaded && !geometry && loaded.every((g) => g.geometry) && (
        <p className="banner error">The grids are laid out differently; the shared selection is off.</p>
      )}

      <div className="grids-and-cells">
        <div className="grids-view">
          {view === 'side' && (
            <div className="grid-row" style={{ gridTemplateColumns: `repeat(${runs.length}, minmax(0, 1fr))` }}>
              {runs.map((r) => (
                <GridCard key={r.runId} run={r} grid={grids.get(r.runId)} k={selected} onSelect={setK} shown={shown.has(r.runId)} onShown={onShown} />
              ))}
            </div>
          )}
          {view === 'flicker' && <FlickerView runs={runs} a={a} b={b} />}
          {view === 'difference' && <DifferenceView runs={runs} grids={grids} a={a} b={b} onSelect={setK} />}
        </div>
        {count > 0 && (
          <div className="cell-strip">
            <div className="toolbar">
              <label>
                sample{' '}
                <input
                  type="range"
                  min={0}
                  max={count - 1}
                  value={selected}
                  onChange={(e) => setK(Number(e.target.value))}
                  aria-label="Selected sample (the same index in every grid)"
                  data-testid="sample-slider"
                />
                <span className="mono">
                  #{selected + 1} / {count}
                </span>
              </label>
              <label>
                zoom{' '}
                <select value={zoom} onChange={(e) => setZoom(Number(e.target.value))}>
                  {[4, 8, 12, 16].map((z) => (
                    <option key={z} value={z}>
                      ×{z}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <div className="cell-row">
              {runs.map((r) => {
                const g = grids.get(r.runId);
                return (
                  <figure key={r.runId} className="cell-figure">
                    {g?.geometry ? <CellCanvas grid={g} k={selected} zoom={zoom} label={r.label} /> : <div className="cell-placeholder" />}
                    <figcaption>
                      <span className="swatch" style={{ background: r.color }} /> {r.label}
                    </figcaption>
                  </figure>
                );
              })}
            </div>
          </div>
        )}
      </div>
    </div>
  );
}

/**
 * The grid PNGs of the paired sample sets, loaded and decoded once, with their layout recovered
 * (grid-geometry.ts) and, where the page may read them, their pixels.
 *
 * Fetched bytes decoded with createImageBitmap can always be read back; an <img> from another
 * origin cannot (Electron serves artifacts from lab://, and its page may not fetch there unless
 * its content-security policy allows it). So: fetch first, and fall back to an <img>, which still
 * draws, only without pixel statistics.
 *
 * An artifact URL names one file for good, so a decode is kept (a few, newest last) and shared:
 * the screen starts it as soon as it knows the URL (preloadGrid), before the grids mount, and a
 * grid shown again (the same sets asked for again) needs no second download.
 */
import { useEffect, useRef, useState } from 'react';
import type { SampleSetInfo } from '../../../../shared/api';
import type { LabClient } from '../../lab-client';
import { artifactUrlOf } from './artifact-urls';
import { gridGeometry, type GridGeometry } from './grid-geometry';

export interface GridSource {
  runId: string;
  url: string;
  count: number;
}

export interface LoadedGrid {
  runId: string;
  url: string;
  /** Decoded image, drawable on a canvas. */
  source: CanvasImageSource;
  width: number;
  height: number;
  geometry: GridGeometry | null;
  /** RGBA pixels, or null when the page may not read this image back. */
  pixels: Uint8ClampedArray | null;
  error: string | null;
}

interface Decoded {
  source: CanvasImageSource;
  width: number;
  height: number;
}

async function decode(url: string): Promise<Decoded> {
  try {
    const res = await fetch(url);
    if (res.ok) {
      const bitmap = await createImageBitmap(await res.blob());
      return { source: bitmap, width: bitmap.width, height: bitmap.height };
    }
  } catch {
    // not fetchable from this page: decode through an <img> below
  }
  const img = new Image();
  img.decoding = 'async';
  img.src = url;
  try {
    await img.decode();
  } catch {
    throw new Error(`the grid image at ${url} could not be loaded`);
  }
  return { source: img, width: img.naturalWidth, height: img.naturalHeight };
}

const KEEP = 12;
/** By URL, most recently used last; `done` once decoded, so a grid mounting later has it at once. */
const decodes = new Map<string, { promise: Promise<Decoded>; done: Decoded | null }>();

/** Starts downloading and decoding a grid image (once per URL); the grids pick it up when they mount. */
export function preloadGrid(url: string): Promise<Decoded> {
  let entry = decodes.get(url);
  if (entry) {
    decodes.delete(url);
  } else {
    const e: { promise: Promise<Decoded>; done: Decoded | null } = { promise: decode(url), done: null };
    e.promise.then(
      (d) => {
        e.done = d;
      },
      // A failure is not kept: the next mount tries again.
      () => decodes.get(url) === e && decodes.delete(url),
    );
    entry = e;
  }
  decodes.set(url, entry);
  while (decodes.size > KEEP) decodes.delete(decodes.keys().next().value!);
  return entry.promise;
}

/**
 * Looks up the grid URLs of these sample sets and starts their downloads, without waiting for a
 * render; resolves once every URL is known (not when the images are).
 */
export async function preloadSetGrids(lab: LabClient, sets: (SampleSetInfo | null)[]): Promise<void> {
  await Promise.all(
    sets.map(async (s) => {
      const url = s?.gridArtifactId ? await artifactUrlOf(lab, s.gridArtifactId).catch(() => null) : null;
      // A failed download shows on the grid that needs it.
      if (url) preloadGrid(url).catch(() => undefined);
    }),
  );
}

function readPixels(source: CanvasImageSource, width: number, height: number): Uint8ClampedArray | null {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return null;
  ctx.drawImage(source, 0, 0);
  try {
    return ctx.getImageData(0, 0, width, height).data;
  } catch {
    return null;
  }
}

function loaded(s: GridSource, { source, width, height }: Decoded): LoadedGrid {
  let geometry: GridGeometry | null = null;
  let error: string | null = null;
  try {
    geometry = gridGeometry(s.count, width, height);
  } catch (err) {
    error = (err as Error).message;
  }
  return { runId: s.runId, url: s.url, source, width, height, geometry, pixels: readPixels(source, width, height), error };
}

/** Decodes every grid; the map fills in as images arrive (at once for images decoded already). */
export function useGridImages(sources: GridSource[]): Map<string, LoadedGrid> {
  const [grids, setGrids] = useState<Map<string, LoadedGrid>>(() => {
    const ready = new Map<string, LoadedGrid>();
    for (const s of sources) {
      const done = decodes.get(s.url)?.done;
      if (done) ready.set(s.runId, loaded(s, done));
    }
    return ready;
  });
  const current = useRef(grids);
  current.current = grids;
  const key = sources.map((s) => `${s.runId}|${s.url}|${s.count}`).join(',');
  useEffect(() => {
    let cancelled = false;
    setGrids((prev) => new Map([...prev].filter(([runId, g]) => sources.some((s) => s.runId === runId && s.url === g.url))));
    for (const s of sources) {
      if (current.current.get(s.runId)?.url === s.url) continue;
      preloadGrid(s.url).then(
        (d) => {
          if (cancelled) return;
          const grid = loaded(s, d);
          setGrids((prev) => new Map(prev).set(s.runId, grid));
        },
        (err: Error) => {
          if (cancelled) return;
          const empty = document.createElement('canvas');
          setGrids((prev) =>
            new Map(prev).set(s.runId, { runId: s.runId, url: s.url, source: empty, width: 0, height: 0, geometry: null, pixels: null, error: err.message }),
          );
        },
      );
    }
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return grids;
}

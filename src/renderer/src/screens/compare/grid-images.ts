/**
 * The grid PNGs of the paired sample sets, loaded and decoded once, with their layout recovered
 * (grid-geometry.ts) and, where the page may read them, their pixels.
 *
 * Fetched bytes decoded with createImageBitmap can always be read back; an <img> from another
 * origin cannot (Electron serves artifacts from lab://, and its page may not fetch there unless
 * its content-security policy allows it). So: fetch first, and fall back to an <img>, which still
 * draws, only without pixel statistics.
 */
import { useEffect, useState } from 'react';
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

async function decode(url: string): Promise<{ source: CanvasImageSource; width: number; height: number }> {
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

/** Decodes every grid; the map fills in as images arrive. */
export function useGridImages(sources: GridSource[]): Map<string, LoadedGrid> {
  const [grids, setGrids] = useState<Map<string, LoadedGrid>>(new Map());
  const key = sources.map((s) => `${s.runId}|${s.url}|${s.count}`).join(',');
  useEffect(() => {
    let cancelled = false;
    setGrids((prev) => new Map([...prev].filter(([runId, g]) => sources.some((s) => s.runId === runId && s.url === g.url))));
    for (const s of sources) {
      decode(s.url).then(
        ({ source, width, height }) => {
          if (cancelled) return;
          let geometry: GridGeometry | null = null;
          let error: string | null = null;
          try {
            geometry = gridGeometry(s.count, width, height);
          } catch (err) {
            error = (err as Error).message;
          }
          const pixels = readPixels(source, width, height);
          setGrids((prev) => new Map(prev).set(s.runId, { runId: s.runId, url: s.url, source, width, height, geometry, pixels, error }));
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

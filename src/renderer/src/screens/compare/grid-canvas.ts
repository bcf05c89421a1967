/**
 * Canvas work for the sample grids: enlarged tiles, the |A - B| image, and the composed images that
 * are saved as PNG. Pixels are scaled by whole factors with smoothing off, so a saved 16x16 sample
 * still shows its real pixels.
 */
import { absDifference } from './pixel-difference';
import { cellRect, type GridGeometry } from './grid-geometry';
import type { LoadedGrid } from './grid-images';

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas available');
  ctx.imageSmoothingEnabled = false;
  return ctx;
}

export function drawCell(canvas: HTMLCanvasElement, grid: LoadedGrid, k: number, zoom: number): void {
  if (!grid.geometry) return;
  const r = cellRect(grid.geometry, k);
  canvas.width = r.width * zoom;
  canvas.height = r.height * zoom;
  context(canvas).drawImage(grid.source, r.x, r.y, r.width, r.height, 0, 0, r.width * zoom, r.height * zoom);
}

/**
 * |A - B| into the canvas, amplified. From the pixels when the browser lets us read them; otherwise
 * with the canvas' own 'difference' blend and a brightness filter, which draw the same image
 * without reading anything back.
 */
export function drawDifference(canvas: HTMLCanvasElement, a: LoadedGrid, b: LoadedGrid, amplify: number): 'pixels' | 'blend' {
  const w = a.width;
  const h = a.height;
  canvas.width = w;
  canvas.height = h;
  const ctx = context(canvas);
  if (a.pixels && b.pixels && a.pixels.length === b.pixels.length) {
    ctx.putImageData(new ImageData(absDifference(a.pixels, b.pixels, amplify), w, h), 0, 0);
    return 'pixels';
  }
  const scratch = document.createElement('canvas');
  scratch.width = w;
  scratch.height = h;
  const s = context(scratch);
  s.fillStyle = '#000';
  s.fillRect(0, 0, w, h);
  s.drawImage(a.source, 0, 0);
  s.globalCompositeOperation = 'difference';
  s.drawImage(b.source, 0, 0);
  ctx.filter = amplify === 1 ? 'none' : `brightness(${amplify})`;
  ctx.drawImage(scratch, 0, 0);
  ctx.filter = 'none';
  return 'blend';
}

/** A whole-factor enlargement that makes a small grid about `target` pixels wide. */
export function exportScale(width: number, target = 600): number {
  return Math.max(1, Math.min(16, Math.floor(target / Math.max(1, width))));
}

export function enlarged(source: CanvasImageSource & { width: number; height: number }, scale: number): HTMLCanvasElement {
  const out = document.createElement('canvas');
  out.width = source.width * scale;
  out.height = source.height * scale;
  context(out).drawImage(source, 0, 0, out.width, out.height);
  return out;
}

/** The grids side by side, each under its run's label: the picture of a comparison. */
export function composeSideBySide(
  grids: { grid: LoadedGrid; label: string; color: string }[], background: string, foreground: string,
): HTMLCanvasElement {
  const scale = exportScale(Math.max(...grids.map((g) => g.grid.width)), 480);
  const gap = 16;
  const labelHeight = 28;
  const widths = grids.map((g) => g.grid.width * scale);
  const heights = grids.map((g) => g.grid.height * scale);
  const canvas = document.createElement('canvas');
  canvas.width = widths.reduce((a, b) => a + b, 0) + gap * (grids.length + 1);
  canvas.height = Math.max(...heights) + labelHeight + 2 * gap;
  const ctx = context(canvas);
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let x = gap;
  grids.forEach((g, i) => {
    ctx.fillStyle = g.color;
    ctx.fillRect(x, gap + 6, 12, 12);
    ctx.fillStyle = foreground;
    ctx.font = '14px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillText(g.label, x + 18, gap + 12, widths[i]! - 18);
    ctx.drawImage(g.grid.source, x, gap + labelHeight, widths[i]!, heights[i]!);
    x += widths[i]! + gap;
  });
  return canvas;
}

/** The geometry all grids share, or null when they are not laid out alike (not paired). */
export function sharedGeometry(grids: LoadedGrid[]): GridGeometry | null {
  const [first, ...rest] = grids;
  if (!first?.geometry) return null;
  const g = first.geometry;
  return rest.every(
    (o) => o.geometry && o.geometry.count === g.count && o.geometry.width === g.width && o.geometry.height === g.height,
  )
    ? g
    : null;
}

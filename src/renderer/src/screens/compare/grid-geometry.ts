/**
 * Where each sample sits in a grid PNG. The engine writes grids like torchvision's make_grid
 * (src/main/formats/image-grid.ts): ceil(sqrt(n)) columns, `pad` pixels around and between tiles.
 * Here the layout is recovered from the image's size and the sample count, and checked, so a grid
 * written some other way is reported instead of being cut up wrongly.
 */

export interface GridGeometry {
  count: number;
  cols: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
  pad: number;
  width: number;
  height: number;
}

export function gridGeometry(count: number, width: number, height: number, pad = 2): GridGeometry {
  if (!Number.isInteger(count) || count < 1) throw new Error(`grid: the sample count must be a positive integer, got ${count}`);
  const cols = Math.min(Math.ceil(Math.sqrt(count)), count);
  const rows = Math.ceil(count / cols);
  const tileWidth = (width - pad) / cols - pad;
  const tileHeight = (height - pad) / rows - pad;
  if (!Number.isInteger(tileWidth) || !Number.isInteger(tileHeight) || tileWidth < 1 || tileHeight < 1) {
    throw new Error(
      `grid: a ${width}x${height} image is not ${count} tiles in ${cols} columns and ${rows} rows with ${pad}px padding`,
    );
  }
  return { count, cols, rows, tileWidth, tileHeight, pad, width, height };
}

/** The pixel rectangle of sample k (row-major, like the grid writer). */
export function cellRect(g: GridGeometry, k: number): { x: number; y: number; width: number; height: number } {
  if (!Number.isInteger(k) || k < 0 || k >= g.count) throw new Error(`grid: no sample ${k} in a grid of ${g.count}`);
  const col = k % g.cols;
  const row = Math.floor(k / g.cols);
  return { x: g.pad + col * (g.tileWidth + g.pad), y: g.pad + row * (g.tileHeight + g.pad), width: g.tileWidth, height: g.tileHeight };
}

/** The sample under a pixel, or null on the padding and the empty cells after the last sample. */
export function cellAt(g: GridGeometry, x: number, y: number): number | null {
  const cx = x - g.pad;
  const cy = y - g.pad;
  if (cx < 0 || cy < 0) return null;
  const col = Math.floor(cx / (g.tileWidth + g.pad));
  const row = Math.floor(cy / (g.tileHeight + g.pad));
  if (col >= g.cols || row >= g.rows) return null;
  if (cx - col * (g.tileWidth + g.pad) >= g.tileWidth || cy - row * (g.tileHeight + g.pad) >= g.tileHeight) return null;
  const k = row * g.cols + col;
  return k < g.count ? k : null;
}

/** Keyboard movement through the grid: arrows by cell and row, Home/End to the ends. */
export function moveCell(g: GridGeometry, k: number, key: string): number | null {
  switch (key) {
    case 'ArrowLeft':
      return Math.max(0, k - 1);
    case 'ArrowRight':
      return Math.min(g.count - 1, k + 1);
    case 'ArrowUp':
      return k - g.cols >= 0 ? k - g.cols : k;
    case 'ArrowDown':
      return k + g.cols < g.count ? k + g.cols : k;
    case 'Home':
      return 0;
    case 'End':
      return g.count - 1;
    default:
      return null;
  }
}

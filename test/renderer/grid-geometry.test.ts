import { describe, expect, it } from 'vitest';
import { cellAt, cellRect, gridGeometry, moveCell } from '../../src/renderer/src/screens/compare/grid-geometry';
import { absDifference, cellMeanDifferences } from '../../src/renderer/src/screens/compare/pixel-difference';

describe('gridGeometry', () => {
  it('recovers the make_grid layout: 64 samples of 16x16 are 8x8 tiles in a 146x146 image', () => {
    // 8 * (16 + 2) + 2 = 146, as the engine's gridLayout computes.
    expect(gridGeometry(64, 146, 146)).toEqual({ count: 64, cols: 8, rows: 8, tileWidth: 16, tileHeight: 16, pad: 2, width: 146, height: 146 });
  });

  it('handles a last row that is not full (10 samples: 4 columns, 3 rows)', () => {
    // 4 * (28 + 2) + 2 = 122 wide, 3 * 30 + 2 = 92 high.
    const g = gridGeometry(10, 122, 92);
    expect([g.cols, g.rows, g.tileWidth, g.tileHeight]).toEqual([4, 3, 28, 28]);
  });

  it('refuses an image that is not that many tiles, saying so', () => {
    expect(() => gridGeometry(64, 150, 146)).toThrow(/150x146 image is not 64 tiles in 8 columns and 8 rows/);
    expect(() => gridGeometry(0, 10, 10)).toThrow(/positive integer/);
  });
});

describe('cells', () => {
  const g = gridGeometry(10, 122, 92);

  it('places sample k row-major with padding', () => {
    expect(cellRect(g, 0)).toEqual({ x: 2, y: 2, width: 28, height: 28 });
    expect(cellRect(g, 5)).toEqual({ x: 32, y: 32, width: 28, height: 28 });
    expect(() => cellRect(g, 10)).toThrow(/no sample 10/);
  });

  it('maps a pixel back to its sample, and padding or empty cells to none', () => {
    for (let k = 0; k < g.count; k++) {
      const r = cellRect(g, k);
      expect(cellAt(g, r.x, r.y)).toBe(k);
      expect(cellAt(g, r.x + r.width - 1, r.y + r.height - 1)).toBe(k);
    }
    expect(cellAt(g, 0, 0)).toBeNull();
    expect(cellAt(g, 30, 10)).toBeNull(); // the gap between columns 0 and 1
    expect(cellAt(g, 2 + 2 * 30, 2 + 2 * 30)).toBeNull(); // row 2, column 2: after sample 10
  });

  it('moves the selection with the arrow keys without leaving the grid', () => {
    expect(moveCell(g, 0, 'ArrowLeft')).toBe(0);
    expect(moveCell(g, 3, 'ArrowRight')).toBe(4);
    expect(moveCell(g, 1, 'ArrowDown')).toBe(5);
    expect(moveCell(g, 7, 'ArrowDown')).toBe(7); // no sample 11
    expect(moveCell(g, 5, 'ArrowUp')).toBe(1);
    expect(moveCell(g, 5, 'End')).toBe(9);
    expect(moveCell(g, 5, 'x')).toBeNull();
  });
});

describe('pixel differences', () => {
  it('is |A - B| per channel with opaque alpha, amplified and clamped', () => {
    const a = new Uint8ClampedArray([10, 200, 0, 255, 0, 0, 0, 0]);
    const b = new Uint8ClampedArray([30, 100, 0, 7, 0, 0, 0, 255]);
    expect([...absDifference(a, b)]).toEqual([20, 100, 0, 255, 0, 0, 0, 255]);
    expect([...absDifference(a, b, 4)]).toEqual([80, 255, 0, 255, 0, 0, 0, 255]);
    expect(() => absDifference(a, b.subarray(4))).toThrow(/differ in size/);
  });

  it('averages per sample tile, ignoring the padding', () => {
    // 2 samples of 1x1 in a 2-column grid with pad 2: a 8x5 image.
    const g = gridGeometry(2, 8, 5);
    const a = new Uint8ClampedArray(8 * 5 * 4).fill(9); // padding differs everywhere: must not count
    const b = new Uint8ClampedArray(8 * 5 * 4);
    const set = (img: Uint8ClampedArray, k: number, v: [number, number, number]) => {
      const r = cellRect(g, k);
      img.set([...v, 255], (r.y * 8 + r.x) * 4);
    };
    set(a, 0, [10, 20, 30]);
    set(b, 0, [10, 20, 30]);
    set(a, 1, [0, 0, 0]);
    set(b, 1, [30, 60, 90]);
    expect(cellMeanDifferences(a, b, g)).toEqual([0, 60]);
  });
});

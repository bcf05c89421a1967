import { describe, expect, it } from 'vitest';
import { logTicks, mergeSeries, seriesTable, valueRange, type ChartSeries } from '../../src/renderer/src/charts/chart-data';

const adm: ChartSeries = {
  id: 'a',
  label: 'ADM',
  color: '#000',
  points: [
    { x: 100, y: 30, low: 28, high: 33 },
    { x: 200, y: 20 },
  ],
};
const ip: ChartSeries = { id: 'b', label: 'ADM-IP', color: '#111', points: [{ x: 200, y: 15, low: -1, high: 16 }, { x: 300, y: 10 }] };

describe('mergeSeries', () => {
  it('makes one row per x, ascending, with every series named (null where it has no point)', () => {
    const { rows, hasErrors, dropped } = mergeSeries([ip, adm]);
    expect(rows.map((r) => r.x)).toEqual([100, 200, 300]);
    expect(rows[0]).toEqual({ x: 100, s0: null, s1: 30, e1: [2, 3] });
    expect(rows[1]).toEqual({ x: 200, s0: 15, e0: [16, 1], s1: 20 });
    expect(rows[2]).toEqual({ x: 300, s0: 10, s1: null });
    expect(hasErrors).toEqual([true, true]);
    expect(dropped).toBe(0);
  });

  it('on a log y axis drops values <= 0 and the lower half of bars reaching below zero', () => {
    const zero: ChartSeries = { id: 'z', label: 'z', color: '#000', points: [{ x: 1, y: 0 }, { x: 2, y: 5, low: -2, high: 6 }] };
    const { rows, dropped } = mergeSeries([zero], { logY: true });
    expect(dropped).toBe(1);
    expect(rows).toEqual([{ x: 2, s0: 5, e0: [0, 1] }]);
  });

  it('on a log x axis drops x <= 0', () => {
    const s: ChartSeries = { id: 'f', label: 'f', color: '#000', points: [{ x: 0, y: 1 }, { x: 0.25, y: 2 }] };
    expect(mergeSeries([s], { logX: true }).rows.map((r) => r.x)).toEqual([0.25]);
  });
});

describe('logTicks', () => {
  it('covers the range with powers of ten, and 2x/5x steps when the range is short', () => {
    expect(logTicks(3, 40)).toEqual({ domain: [2, 50], ticks: [2, 5, 10, 20, 50] });
    expect(logTicks(0.003, 4000)).toEqual({ domain: [0.001, 10000], ticks: [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000] });
  });

  it('gives a single value an axis with length', () => {
    const { domain } = logTicks(10, 10);
    expect(domain[0]).toBeLessThan(domain[1]);
    expect(domain[0]).toBeLessThanOrEqual(10);
    expect(domain[1]).toBeGreaterThanOrEqual(10);
  });

  it('refuses a range a log axis cannot show', () => {
    expect(() => logTicks(0, 10)).toThrow(/positive and finite/);
  });
});

describe('valueRange and seriesTable', () => {
  it('includes interval ends in the range', () => {
    expect(valueRange([adm, ip])).toEqual([-1, 33]);
    expect(valueRange([adm, ip], { logY: true })).toEqual([10, 33]);
  });

  it('lists every point in long form, with CI columns when any point has one', () => {
    const t = seriesTable([adm, ip], 'training iterations', 'FID');
    expect(t.columns).toEqual(['series', 'training iterations', 'FID', 'ci low', 'ci high']);
    expect(t.rows).toEqual([
      ['ADM', 100, 30, 28, 33],
      ['ADM', 200, 20, null, null],
      ['ADM-IP', 200, 15, -1, 16],
      ['ADM-IP', 300, 10, null, null],
    ]);
  });
});

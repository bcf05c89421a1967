import { describe, expect, it } from 'vitest';
import { parseRoute, routeHref } from '../../src/renderer/src/lab/route';

describe('parseRoute', () => {
  it('reads each screen from the hash', () => {
    expect(parseRoute('').screen).toBe('runs');
    expect(parseRoute('#/runs?experiment=3').params.get('experiment')).toBe('3');
    expect(parseRoute('#/new?from=abc').params.get('from')).toBe('abc');
    expect(parseRoute('#/run/1m8e-x')).toMatchObject({ screen: 'run', runId: '1m8e-x' });
    expect(parseRoute('#/compare?runs=a,b,,c')).toMatchObject({ screen: 'compare', runIds: ['a', 'b', 'c'] });
    expect(parseRoute('#/analyses?runs=a')).toMatchObject({ screen: 'analyses', runIds: ['a'] });
    expect(parseRoute('#/compare')).toMatchObject({ screen: 'compare', runIds: [] });
  });

  it('falls back to the runs screen for unknown or incomplete routes', () => {
    expect(parseRoute('#/nowhere').screen).toBe('runs');
    expect(parseRoute('#/run/').screen).toBe('runs');
  });
});

describe('routeHref', () => {
  it('builds what parseRoute reads, leaving out empty values', () => {
    const href = routeHref('/compare', { runs: ['a1', 'b2'], empty: '', none: null });
    expect(href).toBe('#/compare?runs=a1,b2');
    expect(parseRoute(href)).toMatchObject({ screen: 'compare', runIds: ['a1', 'b2'] });
    expect(routeHref('runs', { experiment: 4 })).toBe('#/runs?experiment=4');
    expect(routeHref('/new')).toBe('#/new');
  });

  it('escapes values so they come back unchanged', () => {
    const href = routeHref('/runs', { q: 'a&b=c d' });
    expect(parseRoute(href).params.get('q')).toBe('a&b=c d');
  });
});

/**
 * Screens are addressed by the location hash, so reloading (or a link in a note) lands on the same
 * screen under Electron's file:// page and the served page alike:
 *   #/runs[?experiment=<id>&status=...]   #/new[?from=<runId>]   #/run/<runId>
 *   #/compare?runs=<id>,<id>              #/analyses?runs=<id>,<id>
 */
import { useEffect, useState } from 'react';

export type Route =
  | { screen: 'runs'; params: URLSearchParams }
  | { screen: 'new'; params: URLSearchParams }
  | { screen: 'run'; runId: string; params: URLSearchParams }
  | { screen: 'compare'; runIds: string[]; params: URLSearchParams }
  | { screen: 'analyses'; runIds: string[]; params: URLSearchParams };

function idList(value: string | null): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)).replace(/^\/+|\/+$/g, '');
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const [head, ...rest] = path.split('/');
  switch (head) {
    case 'new':
      return { screen: 'new', params };
    case 'run':
      if (rest[0]) return { screen: 'run', runId: decodeURIComponent(rest[0]), params };
      break;
    case 'compare':
      return { screen: 'compare', runIds: idList(params.get('runs')), params };
    case 'analyses':
      return { screen: 'analyses', runIds: idList(params.get('runs')), params };
  }
  return { screen: 'runs', params };
}

/** Builds a hash route: routeHref('/compare', { runs: ['a', 'b'] }) -> '#/compare?runs=a,b'. */
export function routeHref(path: string, params: Record<string, string | number | string[] | null | undefined> = {}): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    // Run ids are [0-9a-z_-], so a comma list stays readable unescaped.
    const value = Array.isArray(v) ? v.map(encodeURIComponent).join(',') : encodeURIComponent(String(v));
    parts.push(`${encodeURIComponent(k)}=${value}`);
  }
  return `#${path.startsWith('/') ? path : `/${path}`}${parts.length ? `?${parts.join('&')}` : ''}`;
}

/** Goes to a route: navigate('#/run/abc'), navigate('/runs'), or navigate('/compare', { runs: ids }). */
export function navigate(route: string, params?: Record<string, string | number | string[] | null | undefined>): void {
  const href = route.startsWith('#') && !params ? route : routeHref(route.replace(/^#/, ''), params);
  if (window.location.hash !== href) window.location.hash = href;
}

export function useRoute(): Route {
  const [hash, setHash] = useState(() => window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parseRoute(hash);
}

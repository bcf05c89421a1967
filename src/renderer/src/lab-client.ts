/**
 * The renderer's LabApi: `window.lab` (the preload's bridge) under Electron, fetch + EventSource
 * against `xlab serve` in a browser. Screens use only this, so they run unchanged in both.
 */
import type { LabApi, LabEvent, LabEventListener } from '../../shared/api';
import { LAB_METHOD_PARAMS, LAB_METHODS, type LabMethod } from '../../shared/lab-methods';
import { LabApiError, isLabErrorCode } from '../../shared/vocabulary';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser. */
    lab?: LabApi;
  }
}

export interface LabClient extends LabApi {
  readonly transport: 'ipc' | 'http';
}

/** The preload sends errors as "CODE: message" (contextBridge drops custom error properties). */
function restoreError(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  const m = /^(?:Error: )?([A-Z_]+): ([\s\S]*)$/.exec(message);
  if (m && isLabErrorCode(m[1])) return new LabApiError(m[1], m[2]!);
  return err instanceof Error ? err : new Error(message);
}

function ipcClient(bridge: LabApi): LabClient {
  const client: Record<string, unknown> = { transport: 'ipc' };
  for (const method of LAB_METHODS) {
    client[method] = async (...args: unknown[]) => {
      try {
        return await (bridge[method] as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        throw restoreError(err);
      }
    };
  }
  client['subscribe'] = (listener: LabEventListener) => bridge.subscribe(listener);
  return client as unknown as LabClient;
}

export interface HttpClientOptions {
  /** Default: the page's origin. */
  baseUrl?: string;
  /** Needed when the server was started with --allow-remote; default: ?token= of the page, kept for the tab. */
  token?: string | null;
}

const TOKEN_KEY = 'exposure-lab-token';

/** Takes ?token= off the address bar (so it is not bookmarked or shared) and keeps it for this tab. */
function pageToken(): string | null {
  if (typeof window === 'undefined') return null;
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    try {
      window.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    } catch {
      // storage disabled: the token still works for this page load
    }
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.toString());
    return fromUrl;
  }
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function httpClient(opts: HttpClientOptions = {}): LabClient {
  const base = (opts.baseUrl ?? window.location.origin).replace(/\/+$/, '');
  const token = opts.token === undefined ? pageToken() : opts.token;
  const withToken = (url: string) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);

  const call = async (method: LabMethod, args: unknown[]): Promise<unknown> => {
    const names = LAB_METHOD_PARAMS[method] as readonly string[];
    const body: Record<string, unknown> = {};
    names.forEach((name, i) => {
      if (args[i] !== undefined) body[name] = args[i];
    });
    let res: Response;
    try {
      res = await fetch(`${base}/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new LabApiError('UNAVAILABLE', `cannot reach the Exposure Lab server at ${base}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      const code = isLabErrorCode(e?.code) ? e.code : res.status === 404 ? 'NOT_FOUND' : res.status < 500 ? 'INVALID' : 'INTERNAL';
      throw new LabApiError(code, typeof e?.message === 'string' ? e.message : `${method}: HTTP ${res.status}`);
    }
    return parsed;
  };

  // One EventSource for all subscribers, open only while someone listens.
  const listeners = new Set<LabEventListener>();
  let source: EventSource | null = null;
  const subscribe = (listener: LabEventListener): (() => void) => {
    listeners.add(listener);
    if (!source) {
      source = new EventSource(withToken(`${base}/api/events`));
      source.onmessage = (m: MessageEvent<string>) => {
        let event: LabEvent;
        try {
          event = JSON.parse(m.data) as LabEvent;
        } catch {
          return;
        }
        for (const l of [...listeners]) l(event);
      };
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && source) {
        source.close();
        source = null;
      }
    };
  };

  const client: Record<string, unknown> = { transport: 'http', subscribe };
  for (const method of LAB_METHODS) client[method] = (...args: unknown[]) => call(method, args);
  // `xlab serve` serves every artifact at /artifacts/<id> (server.ts), so the page builds the address
  // itself instead of asking for it: one round trip less before each image. The ids come from the
  // server's own records; an unknown one gets a 404 from the file route, which the image shows.
  client['artifactUrl'] = async (artifactId: string) => withToken(new URL(`artifacts/${encodeURIComponent(artifactId)}`, `${base}/`).toString());
  return client as unknown as LabClient;
}

let shared: LabClient | null = null;

/** The LabApi for this page: Electron's bridge when present, else the server that served the page. */
export function labClient(): LabClient {
  shared ??= typeof window !== 'undefined' && window.lab ? ipcClient(window.lab) : httpClient();
  return shared;
}

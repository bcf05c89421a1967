/**
 * Browser mode: the LabApi over HTTP + server-sent events, on node:http (the API is small and the
 * rules below are easier to audit without a framework in between).
 *
 *   POST /api/<method>    body: JSON object of the method's parameters by name -> JSON result
 *   GET  /api/events      server-sent events: one LabEvent (JSON) per message
 *   GET  /api/info        { app, version }
 *   GET  /artifacts/<id>  a file of the history, by opaque artifact id only
 *   GET  /*               the built renderer (out/renderer), when present
 *
 * Exposure: binds 127.0.0.1 unless told otherwise; any other address needs allowRemote and then
 * every /api and /artifacts request needs the bearer token printed at start (a header, or
 * ?token= for EventSource and <img>, which cannot set headers). On loopback the Host header must
 * name a loopback host (a DNS-rebinding page cannot reach the API) and a cross-origin Origin is
 * refused, as is a POST that is not application/json (no form-based CSRF).
 *
 * Bad input: every request is validated (zod, through the LabApi) before anything is written; a
 * bad one gets 400 with a message naming the field. Unknown routes get 404.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabApiError, isLabMethod, type LabErrorCode } from '../shared/api';
import { dispatchLabCall, toLabError, type LabService } from './api/lab-api';
import { appInfo } from './jobs/run-records';
import { resolveArtifact } from './store/artifacts';
import { ARTIFACT_ID_PATTERN } from './store/ids';
import type { Store } from './store/store';

export const DEFAULT_PORT = 4780;
const MAX_BODY_BYTES = 1 << 20;
const SSE_HEARTBEAT_MS = 15_000;
/** A client that stops reading is dropped (EventSource reconnects) rather than buffered forever. */
const SSE_MAX_BUFFER = 4 << 20;

export interface ServeOptions {
  api: LabService;
  /** For artifact look-ups by id (the LabApi never hands out paths). */
  store: Pick<Store, 'getArtifact'>;
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  allowRemote?: boolean;
  /** Only used with a non-loopback host; generated when not given. */
  token?: string;
  /** The built renderer; default out/renderer of the app when it exists; null serves no UI. */
  rendererDir?: string | null;
}

export interface LabServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Required on every API request when not null. */
  readonly token: string | null;
  close(): Promise<void>;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Throws unless the host is loopback or remote access was asked for explicitly. */
export function checkBindHost(host: string, allowRemote: boolean): void {
  if (!isLoopbackHost(host) && !allowRemote) {
    throw new Error(
      `refusing to listen on ${host}: the API can start jobs and delete runs, so only this machine (127.0.0.1) may reach it by default. ` +
        'Pass --allow-remote to serve other machines; a token is then generated and required on every request.',
    );
  }
}

export function defaultRendererDir(): string | null {
  // src/main/server.ts and out/main/index.js are both two levels below the app root.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = path.resolve(here, '..', '..', 'out', 'renderer');
  return fs.existsSync(path.join(dir, 'index.html')) ? dir : null;
}

const HTTP_STATUS: Record<LabErrorCode, number> = {
  INVALID: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAUTHORIZED: 401,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.npz': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.xlab': 'application/octet-stream',
};

/** The browser UI may talk only to this server and show only its images. */
const PAGE_CSP =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: LabErrorCode | 'FORBIDDEN' | 'UNSUPPORTED' | 'TOO_LARGE' | 'METHOD',
    message: string,
  ) {
    super(message);
  }
}

function baseHeaders(res: http.ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body === undefined ? null : body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: { code, message } });
}

/**
 * The request body as text. An oversized body is still read to its end (and discarded) before the
 * 413 goes out: answering mid-upload makes clients see a reset connection instead of the reason.
 */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = () => new HttpError(413, 'TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES * 64) {
        reject(tooLarge());
        req.destroy();
      } else if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => (size > MAX_BODY_BYTES ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/**
 * Path segments of the raw request target, percent-decoded, refusing anything that could walk
 * out of a folder: '.', '..', separators or NUL inside a segment (also when encoded).
 */
function safeSegments(rawPath: string): string[] {
  const segments = rawPath.split('/').slice(1);
  return segments.map((seg) => {
    let s: string;
    try {
      s = decodeURIComponent(seg);
    } catch {
      throw new HttpError(400, 'INVALID', 'malformed percent-encoding in the path');
    }
    if (s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0')) {
      throw new HttpError(400, 'INVALID', `path segment ${JSON.stringify(s)} is not allowed`);
    }
    return s;
  });
}

function hostnameOf(hostHeader: string): string {
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(hostHeader.trim());
  return m ? m[1]! : '';
}

function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startServer(opts: ServeOptions): Promise<LabServer> {
  const host = opts.host ?? '127.0.0.1';
  const allowRemote = opts.allowRemote === true;
  checkBindHost(host, allowRemote);
  const loopback = isLoopbackHost(host);
  const token = loopback ? null : (opts.token ?? randomBytes(24).toString('base64url'));
  const rendererDir = opts.rendererDir === undefined ? defaultRendererDir() : opts.rendererDir;
  const rendererRoot = rendererDir ? fs.realpathSync(rendererDir) : null;
  const { api, store, dataDir } = opts;
  const version = appInfo().version;

  const authorize = (req: http.IncomingMessage, query: URLSearchParams): void => {
    if (!token) return;
    const header = req.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : null;
    if (!tokenMatches(token, bearer) && !tokenMatches(token, query.get('token'))) {
      throw new HttpError(401, 'UNAUTHORIZED', 'this server needs its access token (Authorization: Bearer <token>, or ?token=)');
    }
  };

  const checkOrigin = (req: http.IncomingMessage): void => {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      throw new HttpError(403, 'FORBIDDEN', 'malformed Origin header');
    }
    if (originHost !== req.headers.host) throw new HttpError(403, 'FORBIDDEN', `cross-origin requests are not accepted (Origin ${origin})`);
  };

  const handleApiCall = async (req: http.IncomingMessage, res: http.ServerResponse, method: string): Promise<void> => {
    checkOrigin(req);
    const text = await readBody(req);
    let body: unknown = {};
    if (text.trim() !== '') {
      const type = String(req.headers['content-type'] ?? '');
      if (!/^application\/json\b/i.test(type)) {
        throw new HttpError(415, 'UNSUPPORTED', 'send the parameters as a JSON object with Content-Type: application/json');
      }
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new HttpError(400, 'INVALID', `${method}: the body is not valid JSON (${(err as Error).message})`);
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'INVALID', `${method}: the body must be a JSON object of parameters by name`);
    }
    const value = await dispatchLabCall(api, method, body);
    sendJson(res, 200, value);
  };

  const sseClients = new Set<http.ServerResponse>();
  const handleEvents = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    checkOrigin(req);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 3000\n: connected\n\n');
    sseClients.add(res);
    const drop = () => {
      unsubscribe();
      clearInterval(beat);
      sseClients.delete(res);
    };
    const write = (chunk: string) => {
      if (res.writableLength > SSE_MAX_BUFFER) {
        drop();
        res.destroy();
        return;
      }
      res.write(chunk);
    };
    const unsubscribe = api.subscribe((e) => write(`data: ${JSON.stringify(e)}\n\n`));
    const beat = setInterval(() => write(': ping\n\n'), SSE_HEARTBEAT_MS);
    beat.unref?.();
    req.on('close', drop);
  };

  const serveFile = (req: http.IncomingMessage, res: http.ServerResponse, file: string, headers: Record<string, string>): void => {
    const st = fs.statSync(file);
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size, ...headers });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = fs.createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  const handleArtifact = (req: http.IncomingMessage, res: http.ServerResponse, segments: string[]): void => {
    if (segments.length !== 2 || !segments[1]) throw new HttpError(404, 'NOT_FOUND', 'use /artifacts/<artifact id>');
    const id = segments[1];
    if (!ARTIFACT_ID_PATTERN.test(id)) throw new HttpError(400, 'INVALID', 'artifactId: expected an artifact id (files are served by id only)');
    let file: string | undefined;
    try {
      file = resolveArtifact(store, dataDir, id);
    } catch {
      // a row pointing outside the data dir: the id is as good as unknown
      file = undefined;
    }
    if (!file || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      throw new HttpError(404, 'NOT_FOUND', `no artifact ${id}`);
    }
    const inline = /\.(png|jpe?g|json|txt)$/i.test(file);
    serveFile(req, res, file, {
      'Cache-Control': 'private, max-age=300',
      'Content-Security-Policy': "default-src 'none'; sandbox",
      ...(inline ? {} : { 'Content-Disposition': `attachment; filename="${path.basename(file).replace(/[^\w.-]/g, '_')}"` }),
    });
  };

  const handleStatic = (req: http.IncomingMessage, res: http.ServerResponse, segments: string[]): void => {
    if (!rendererRoot) {
      if (segments.length === 1 && segments[0] === '') {
        const text =
          '<!doctype html><meta charset="utf-8"><title>Exposure Lab</title>' +
          '<p>The Exposure Lab API is running, but the browser UI is not built. Run <code>npm run web</code> ' +
          '(or <code>npx electron-vite build</code>, then restart <code>xlab serve</code>).</p>';
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': PAGE_CSP });
        res.end(text);
        return;
      }
      throw new HttpError(404, 'NOT_FOUND', 'not found');
    }
    const rel = segments.filter((s) => s !== '');
    let file = path.join(rendererRoot, ...rel);
    let st = fs.statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      file = path.join(file, 'index.html');
      st = fs.statSync(file, { throwIfNoEntry: false });
    }
    // Client-side routes (/runs/abc) get the app; missing assets (/x.js) a 404.
    if (!st && !path.extname(file) && String(req.headers.accept ?? '').includes('text/html')) {
      file = path.join(rendererRoot, 'index.html');
      st = fs.statSync(file, { throwIfNoEntry: false });
    }
    if (!st?.isFile()) throw new HttpError(404, 'NOT_FOUND', 'not found');
    const real = fs.realpathSync(file);
    if (real !== rendererRoot && !real.startsWith(rendererRoot + path.sep)) throw new HttpError(404, 'NOT_FOUND', 'not found');
    const isHtml = real.endsWith('.html');
    serveFile(req, res, real, {
      'Cache-Control': isHtml ? 'no-cache' : 'public, max-age=31536000, immutable',
      ...(isHtml ? { 'Content-Security-Policy': PAGE_CSP } : {}),
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    baseHeaders(res);
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const rawPath = q >= 0 ? target.slice(0, q) : target;
    const query = new URLSearchParams(q >= 0 ? target.slice(q + 1) : '');
    if (!rawPath.startsWith('/')) throw new HttpError(400, 'INVALID', 'request target must be a path');
    if (loopback && !isLoopbackHost(hostnameOf(String(req.headers.host ?? '')))) {
      throw new HttpError(403, 'FORBIDDEN', 'this server answers only to localhost / 127.0.0.1 (Host header)');
    }
    const segments = safeSegments(rawPath);
    const method = req.method ?? 'GET';

    if (segments[0] === 'api') {
      authorize(req, query);
      const name = segments[1] ?? '';
      if (segments.length === 2 && name === 'events') {
        if (method !== 'GET') throw new HttpError(405, 'METHOD', 'use GET for /api/events');
        handleEvents(req, res);
        return;
      }
      if (segments.length === 2 && name === 'info') {
        sendJson(res, 200, { app: 'exposure-lab', version });
        return;
      }
      if (segments.length !== 2 || !isLabMethod(name)) throw new HttpError(404, 'NOT_FOUND', `no route ${rawPath}`);
      if (method !== 'POST') {
        res.setHeader('Allow', 'POST');
        throw new HttpError(405, 'METHOD', `call ${name} with POST and a JSON body`);
      }
      await handleApiCall(req, res, name);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'METHOD', `${method} is not supported here`);
    if (segments[0] === 'artifacts') {
      authorize(req, query);
      handleArtifact(req, res, segments);
      return;
    }
    handleStatic(req, res, segments);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        sendError(res, err.status, err.code, err.message);
        return;
      }
      const labErr = err instanceof LabApiError ? err : toLabError(err);
      if (labErr.code === 'INTERNAL') process.stderr.write(`xlab serve: ${(err as Error)?.stack ?? String(err)}\n`);
      sendError(res, HTTP_STATUS[labErr.code], labErr.code, labErr.message);
    });
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${urlHost}:${addr.port}/`,
    host: addr.address,
    port: addr.port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of sseClients) res.end();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/**
 * Electron shell: one window, a sandboxed renderer that sees nothing but the LabApi (through the
 * preload), and the engine behind it — the store, the LabApi and the job supervisor, whose jobs
 * run in utility processes so a crash or an out-of-memory kills a job, never the app. This is the
 * only file that imports electron; everything it serves is the same code `xlab serve` uses.
 *
 * Hardening: single-instance lock; contextIsolation + sandbox, no node integration; every IPC call
 * checked to come from our own page; a Content-Security-Policy; navigation, new windows, webviews
 * and permission prompts denied; images through lab://artifact/<opaque id> (never a path).
 */
import { app, BrowserWindow, dialog, ipcMain, protocol, session, shell, utilityProcess, type WebFrameMain } from 'electron';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IPC_CALL, IPC_EVENT, type IpcResult } from '../shared/lab-methods';
import { createLabApi, dispatchLabCall, toLabError, type LabService } from './api/lab-api';
import type { ForkJobProcess, JobProcessHandle } from './jobs/protocol';
import { defaultConcurrency, startSupervisor, type Supervisor } from './jobs/supervisor';
import { resolveArtifact } from './store/artifacts';
import { resolveDataDir } from './store/data-dir';
import { openStore, type Store } from './store/store';

const RENDERER_INDEX = join(__dirname, '../renderer/index.html');
const DEV_URL = process.env['ELECTRON_RENDERER_URL'];

const CSP =
  "default-src 'self'; script-src 'self'; img-src 'self' data: lab:; style-src 'self' 'unsafe-inline'; " +
  "connect-src 'self' lab:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg' };

// Must happen before 'ready': lab:// behaves like a secure standard origin (fetch, <img>).
protocol.registerSchemesAsPrivileged([
  { scheme: 'lab', privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
]);

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

/** Our page and nothing else may call the API: the dev server's origin, or our index.html file. */
function isOwnFrame(frame: WebFrameMain | null | undefined): boolean {
  if (!frame) return false;
  let url: URL;
  try {
    url = new URL(frame.url);
  } catch {
    return false;
  }
  if (DEV_URL) return url.origin === new URL(DEV_URL).origin;
  return url.protocol === 'file:' && fileURLToPath(url) === RENDERER_INDEX;
}

/** Jobs under Electron: utility processes running the bundled job-process entry. */
const electronFork: ForkJobProcess = ({ dataDir, threads }) =>
  new Promise<JobProcessHandle>((resolve, reject) => {
    const child = utilityProcess.fork(join(__dirname, 'job-process.js'), ['--data-dir', dataDir, '--threads', String(threads)], {
      stdio: 'pipe',
      serviceName: 'Exposure Lab job',
    });
    const exitListeners: ((code: number | null, signal: string | null) => void)[] = [];
    let exited: { code: number | null } | null = null;
    let killedWith: string | null = null;
    child.on('exit', (code) => {
      exited = { code };
      for (const l of exitListeners) l(killedWith ? null : code, killedWith);
    });
    child.once('spawn', () => {
      const pid = child.pid;
      if (pid === undefined) {
        reject(new Error('the job process has no pid'));
        return;
      }
      resolve({
        pid,
        send: (m) => child.postMessage(m),
        onMessage: (l) => child.on('message', l),
        onOutput: (l) => {
          child.stdout?.setEncoding('utf8').on('data', l);
          child.stderr?.setEncoding('utf8').on('data', l);
        },
        onExit: (l) => {
          if (exited) l(killedWith ? null : exited.code, killedWith);
          else exitListeners.push(l);
        },
        kill: (signal) => {
          killedWith = signal;
          try {
            // utilityProcess.kill() can only send SIGTERM; the grace-period kill must be SIGKILL.
            if (signal === 'SIGKILL') process.kill(pid, 'SIGKILL');
            else child.kill();
          } catch {
            // already gone
          }
        },
      });
    });
    // A child that never spawns reports only 'exit'.
    child.once('exit', () => {
      if (child.pid === undefined) reject(new Error('the job process could not be started'));
    });
  });

interface Engine {
  store: Store;
  dataDir: string;
  supervisor: Supervisor;
  api: LabService;
}

function startEngine(): Engine {
  const layout = resolveDataDir({ dataDirArg: argValue('--data-dir') });
  const store = openStore(layout.root);
  const supervisor = startSupervisor({ store, dataDir: layout.root, concurrency: defaultConcurrency(), fork: electronFork });
  const api = createLabApi({ store, dataDir: layout.root, supervisor, artifactUrl: (id) => `lab://artifact/${id}` });
  return { store, dataDir: layout.root, supervisor, api };
}

function serveArtifacts(engine: Engine): void {
  protocol.handle('lab', async (request) => {
    const url = new URL(request.url);
    const id = url.pathname.replace(/^\//, '');
    // Ids only: lab://artifact/<id>. resolveArtifact rejects malformed and unknown ids and re-checks
    // that the stored path stays inside the data dir.
    const file = url.hostname === 'artifact' && !id.includes('/') ? resolveArtifact(engine.store, engine.dataDir, id) : undefined;
    const type = file ? IMAGE_TYPES[file.slice(file.lastIndexOf('.')).toLowerCase()] : undefined;
    if (!file || !type) return new Response('not found', { status: 404 });
    try {
      const body = await fs.promises.readFile(file);
      return new Response(body, {
        headers: { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'private, max-age=300' },
      });
    } catch {
      return new Response('not found', { status: 404 });
    }
  });
}

function exposeApi(engine: Engine): void {
  ipcMain.handle(IPC_CALL, async (event, method: unknown, args: unknown): Promise<IpcResult> => {
    if (!isOwnFrame(event.senderFrame)) {
      return { ok: false, error: { code: 'UNAUTHORIZED', message: 'IPC from a page that is not Exposure Lab' } };
    }
    try {
      const value = await dispatchLabCall(engine.api, String(method), Array.isArray(args) ? args : []);
      return { ok: true, value };
    } catch (err) {
      const e = toLabError(err);
      return { ok: false, error: { code: e.code, message: e.message } };
    }
  });
}

function harden(): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  if (!DEV_URL) {
    session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
    });
  }
  app.on('web-contents-created', (_e, contents) => {
    // Navigation away from the app and new windows are never allowed; https links open in the OS browser.
    contents.on('will-navigate', (e) => e.preventDefault());
    contents.on('will-attach-webview', (e) => e.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      if (url.startsWith('https://')) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}

function createWindow(engine: Engine): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'Exposure Lab',
    webPreferences: {
      preload: join(__dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webviewTag: false,
    },
  });
  const unsubscribe = engine.api.subscribe((e) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENT, e);
  });
  win.on('closed', unsubscribe);
  if (DEV_URL) void win.loadURL(DEV_URL);
  else void win.loadFile(RENDERER_INDEX);
  return win;
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  harden();
  app.whenReady().then(() => {
    let engine: Engine;
    try {
      engine = startEngine();
    } catch (err) {
      // A refused data dir (newer schema, corrupt file, read-only disk) is shown, never overwritten.
      dialog.showErrorBox('Exposure Lab cannot open its history', (err as Error).message);
      app.exit(1);
      return;
    }
    serveArtifacts(engine);
    exposeApi(engine);
    const win = createWindow(engine);
    app.on('second-instance', () => {
      if (win.isMinimized()) win.restore();
      win.focus();
    });
    let stopping = false;
    app.on('before-quit', (e) => {
      if (stopping) return;
      // Running jobs write a checkpoint before the app goes; they resume from it next time.
      e.preventDefault();
      stopping = true;
      void engine.supervisor
        .shutdown({ graceMs: 15_000 })
        .finally(() => {
          engine.api.close();
          engine.store.close();
          app.quit();
        });
    });
  });
  app.on('window-all-closed', () => app.quit());
}

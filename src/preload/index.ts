/**
 * Preload: the only bridge between the sandboxed renderer and the main process. It exposes the
 * LabApi as `window.lab` and nothing else — no ipcRenderer, no generic invoke — so a compromised
 * page can do only what the API allows, and the main process validates even that.
 *
 * A sandboxed preload can load no npm package, so this imports only electron and the zod-free
 * method list. Errors cross contextBridge as plain Errors (custom properties are dropped), so the
 * error code travels in the message as "CODE: message"; src/renderer/src/lab-client.ts restores it.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { IPC_CALL, IPC_EVENT, LAB_METHODS, type IpcResult } from '../shared/lab-methods';

const lab: Record<string, unknown> = {};
for (const method of LAB_METHODS) {
  lab[method] = async (...args: unknown[]): Promise<unknown> => {
    const r = (await ipcRenderer.invoke(IPC_CALL, method, args)) as IpcResult;
    if (r.ok) return r.value;
    throw new Error(`${r.error.code}: ${r.error.message}`);
  };
}
lab['subscribe'] = (listener: (event: unknown) => void): (() => void) => {
  const handler = (_e: Electron.IpcRendererEvent, event: unknown) => listener(event);
  ipcRenderer.on(IPC_EVENT, handler);
  return () => {
    ipcRenderer.removeListener(IPC_EVENT, handler);
  };
};

contextBridge.exposeInMainWorld('lab', lab);

/**
 * Preload: the only bridge between the sandboxed renderer and the main process. It exposes nothing
 * yet beyond the app version; the typed LabApi is added with the store/API issue.
 */
import { contextBridge, ipcRenderer } from 'electron';

contextBridge.exposeInMainWorld('lab', {
  version: (): Promise<string> => ipcRenderer.invoke('lab:version'),
});

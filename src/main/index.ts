/**
 * Electron shell: one window, sandboxed renderer, nothing but the preload's bridge exposed.
 * The engine (training, sampling) runs in job processes, never in this process.
 */
import { app, BrowserWindow, ipcMain, shell } from 'electron';
import { join } from 'node:path';

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'Exposure Lab',
    webPreferences: {
      preload: join(__dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
    },
  });
  // Navigation away from the app and new windows are never allowed; links open in the OS browser.
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  if (process.env['ELECTRON_RENDERER_URL']) void win.loadURL(process.env['ELECTRON_RENDERER_URL']);
  else void win.loadFile(join(__dirname, '../renderer/index.html'));
  return win;
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.whenReady().then(() => {
    ipcMain.handle('lab:version', () => app.getVersion());
    const win = createWindow();
    app.on('second-instance', () => {
      if (win.isMinimized()) win.restore();
      win.focus();
    });
  });
  app.on('window-all-closed', () => app.quit());
}

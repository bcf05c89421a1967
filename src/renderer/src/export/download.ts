/**
 * Saving a file from the page: a Blob behind an <a download> link. Works the same in a browser and
 * in Electron (which shows its save dialog or writes to Downloads, as the user configured).
 */

export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // The download has started by the time the click returns; revoke later anyway, as some engines
  // read the blob asynchronously.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function downloadText(text: string, fileName: string, mime: string): void {
  downloadBlob(new Blob([text], { type: `${mime};charset=utf-8` }), fileName);
}

export const MIME = {
  csv: 'text/csv',
  markdown: 'text/markdown',
  svg: 'image/svg+xml',
  png: 'image/png',
} as const;

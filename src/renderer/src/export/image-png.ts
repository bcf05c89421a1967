/**
 * An image on screen as a PNG file: the bytes as served when the page may fetch them, otherwise
 * redrawn from the decoded image (the same pixels for a PNG without colour profile).
 */
import { canvasToPng } from './svg-capture';

export async function imagePng(url: string): Promise<Blob> {
  try {
    const res = await fetch(url);
    if (res.ok) return await res.blob();
  } catch {
    // the page may not be allowed to fetch this origin: redraw instead
  }
  const img = new Image();
  img.src = url;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas available');
  ctx.drawImage(img, 0, 0);
  return canvasToPng(canvas);
}

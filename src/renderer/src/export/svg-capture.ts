/**
 * Capturing what is on screen: a chart's <svg> with its computed styles written into the markup
 * (CSS variables and stylesheet rules do not travel with a saved file), an SVG figure drawn onto a
 * canvas for PNG, and canvases as PNG blobs.
 */
import { composeFigureSvg, type Figure, type LegendEntry } from './figure-svg';

// Everything that decides how SVG shapes and text look; layout properties are in the attributes.
const STYLE_PROPERTIES = [
  'fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'stroke-linecap',
  'stroke-linejoin', 'opacity', 'font-family', 'font-size', 'font-weight', 'font-style', 'text-anchor',
  'dominant-baseline', 'visibility',
] as const;

/** The serialised <svg> with every element's computed style inlined; hidden elements dropped. */
export function serializeWithStyles(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const originals = [svg, ...Array.from(svg.querySelectorAll('*'))];
  const copies = [clone, ...Array.from(clone.querySelectorAll('*'))];
  const hidden: Element[] = [];
  originals.forEach((el, i) => {
    const copy = copies[i]!;
    const cs = getComputedStyle(el);
    if (cs.display === 'none') {
      hidden.push(copy);
      return;
    }
    const decl = STYLE_PROPERTIES.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(';');
    copy.setAttribute('style', decl);
    copy.removeAttribute('class');
  });
  for (const el of hidden) el.remove();
  const { width, height } = svg.getBoundingClientRect();
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('width', String(Math.round(width)));
  clone.setAttribute('height', String(Math.round(height)));
  return new XMLSerializer().serializeToString(clone);
}

/** The chart's drawing surface: the largest recharts <svg> (legend icons are small ones). */
export function findChartSvg(container: Element): SVGSVGElement | null {
  let best: SVGSVGElement | null = null;
  let bestArea = 0;
  for (const svg of Array.from(container.querySelectorAll('svg'))) {
    if (svg.closest('.recharts-legend-wrapper')) continue;
    const r = svg.getBoundingClientRect();
    if (r.width * r.height > bestArea) {
      best = svg;
      bestArea = r.width * r.height;
    }
  }
  return best;
}

/** The colours the element is really drawn with (background from the nearest painted ancestor). */
export function pageColors(el: Element): { background: string; foreground: string } {
  const foreground = getComputedStyle(el).color || '#000';
  let node: Element | null = el;
  while (node) {
    const bg = getComputedStyle(node).backgroundColor;
    if (bg && bg !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(bg)) return { background: bg, foreground };
    node = node.parentElement;
  }
  return { background: '#ffffff', foreground };
}

export function chartFigure(container: Element, meta: { title: string; legend: LegendEntry[]; caption: string[] }): Figure {
  const svg = findChartSvg(container);
  if (!svg) throw new Error('nothing to export: the chart has not been drawn yet');
  const rect = svg.getBoundingClientRect();
  const colors = pageColors(container);
  return composeFigureSvg({
    chartSvg: serializeWithStyles(svg),
    chartWidth: rect.width,
    chartHeight: rect.height,
    title: meta.title,
    legend: meta.legend,
    caption: meta.caption,
    background: colors.background,
    foreground: colors.foreground,
    fontFamily: getComputedStyle(container).fontFamily,
  });
}

function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('the image could not be decoded'));
    img.src = src;
  });
}

export function canvasToPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => {
    try {
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas could not be encoded as PNG'))), 'image/png');
    } catch (err) {
      // A canvas holding images from another origin cannot be read back (the browser's rule).
      reject(new Error(`this image cannot be saved from here: ${(err as Error).message}`));
    }
  });
}

/**
 * An SVG figure rasterised at `scale` x its size. Loaded from a data: URL, which the page's
 * content-security policy allows for images (blob: is not allowed in Electron).
 */
export async function svgToPng(figure: Figure, scale = 2): Promise<Blob> {
  const img = await loadImage('data:image/svg+xml;charset=utf-8,' + encodeURIComponent(figure.svg));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(figure.width * scale);
  canvas.height = Math.round(figure.height * scale);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas available');
  ctx.scale(scale, scale);
  ctx.drawImage(img, 0, 0, figure.width, figure.height);
  return canvasToPng(canvas);
}

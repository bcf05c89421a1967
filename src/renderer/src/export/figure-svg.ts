/**
 * A chart as a self-contained SVG figure: title, the chart itself, a legend and caption lines (the
 * comparability key), so a saved file says what it shows without the app around it. recharts draws
 * its legend and tooltips in HTML, outside the <svg>; the legend is therefore redrawn here in SVG.
 * Pure string work (no DOM): the caller hands over the chart's serialised <svg> markup.
 */

export interface LegendEntry {
  label: string;
  color: string;
  /** Dashed stroke in the chart (drawn dashed here too). */
  dashed?: boolean;
}

export interface FigureSpec {
  /** Serialised <svg ...>...</svg> of the chart, styles already inlined. */
  chartSvg: string;
  chartWidth: number;
  chartHeight: number;
  title: string;
  legend: LegendEntry[];
  /** Lines under the chart, e.g. the comparability key in words. */
  caption: string[];
  background: string;
  foreground: string;
  fontFamily?: string;
}

export interface Figure {
  svg: string;
  width: number;
  height: number;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

/**
 * Width of a text run without a DOM to measure it: ~0.6 em per character is an upper estimate for
 * proportional sans-serif fonts, so laid-out items never overlap (they may leave a little air).
 */
export function estimateTextWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.6;
}

/** Places legend entries left to right, wrapping to new rows within maxWidth. */
export function layoutLegend(
  entries: LegendEntry[], maxWidth: number, fontSize: number,
): { items: { entry: LegendEntry; x: number; row: number }[]; rows: number } {
  const swatch = 22;
  const gap = 18;
  const items: { entry: LegendEntry; x: number; row: number }[] = [];
  let x = 0;
  let row = 0;
  for (const entry of entries) {
    const w = swatch + estimateTextWidth(entry.label, fontSize);
    if (x > 0 && x + w > maxWidth) {
      row++;
      x = 0;
    }
    items.push({ entry, x, row });
    x += w + gap;
  }
  return { items, rows: entries.length ? row + 1 : 0 };
}

/** Splits text into lines of at most maxChars, at spaces where possible. */
export function wrapText(text: string, maxChars: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!line) line = word;
    else if (line.length + 1 + word.length <= maxChars) line += ' ' + word;
    else {
      out.push(line);
      line = word;
    }
    while (line.length > maxChars) {
      out.push(line.slice(0, maxChars));
      line = line.slice(maxChars);
    }
  }
  if (line) out.push(line);
  return out;
}

/** The chart's own <svg> keeps its content; only its position changes (it is nested in ours). */
function placeChart(chartSvg: string, y: number): string {
  const open = /^\s*<svg\b([^>]*)>/.exec(chartSvg);
  if (!open) throw new Error('figure: the chart markup does not start with an <svg> element');
  const attrs = open[1]!.replace(/\s(x|y)="[^"]*"/g, '');
  return `<svg x="0" y="${y}"${attrs}>` + chartSvg.slice(open[0].length);
}

export function composeFigureSvg(spec: FigureSpec): Figure {
  const font = spec.fontFamily ?? 'system-ui, -apple-system, "Segoe UI", sans-serif';
  const pad = 16;
  const width = Math.max(1, Math.round(spec.chartWidth));
  const titleSize = 16;
  const legendSize = 12;
  const captionSize = 11;
  const legendRowHeight = 18;
  const captionLineHeight = 15;
  const chartY = pad + titleSize + 10;
  const legend = layoutLegend(spec.legend, width - 2 * pad, legendSize);
  const legendY = chartY + spec.chartHeight + 8;
  const captionChars = Math.max(20, Math.floor((width - 2 * pad) / (captionSize * 0.6)));
  const captionLines = spec.caption.flatMap((c) => wrapText(c, captionChars));
  const captionY = legendY + legend.rows * legendRowHeight + (legend.rows ? 6 : 0);
  const height = Math.round(captionY + captionLines.length * captionLineHeight + pad);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="${escapeXml(spec.background)}"/>`);
  parts.push(
    `<text x="${pad}" y="${pad + titleSize}" font-family="${escapeXml(font)}" font-size="${titleSize}" font-weight="600" fill="${escapeXml(spec.foreground)}">${escapeXml(spec.title)}</text>`,
  );
  parts.push(placeChart(spec.chartSvg, chartY));
  for (const { entry, x, row } of legend.items) {
    const y = legendY + row * legendRowHeight + legendRowHeight / 2;
    const x0 = pad + x;
    parts.push(
      `<line x1="${x0}" y1="${y}" x2="${x0 + 16}" y2="${y}" stroke="${escapeXml(entry.color)}" stroke-width="3"${entry.dashed ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${x0 + 22}" y="${y + legendSize * 0.35}" font-family="${escapeXml(font)}" font-size="${legendSize}" fill="${escapeXml(spec.foreground)}">${escapeXml(entry.label)}</text>`,
    );
  }
  captionLines.forEach((line, i) => {
    parts.push(
      `<text x="${pad}" y="${captionY + (i + 1) * captionLineHeight - 4}" font-family="${escapeXml(font)}" font-size="${captionSize}" fill="${escapeXml(spec.foreground)}" fill-opacity="0.75">${escapeXml(line)}</text>`,
    );
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), width, height };
}

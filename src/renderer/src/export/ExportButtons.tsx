/**
 * Small "save as" button rows: charts as SVG and PNG, tables as CSV and Markdown, images as PNG.
 * A failure (a chart not drawn yet, an image the browser will not let us read back) is shown next
 * to the buttons; nothing throws into the screen.
 */
import { useState, type RefObject } from 'react';
import { MIME, downloadBlob, downloadText } from './download';
import { exportFileName } from './file-name';
import type { LegendEntry } from './figure-svg';
import { chartFigure, svgToPng } from './svg-capture';
import { toCsv, toMarkdown, type DataTable } from './table-text';
import './export.css';

function useExportError(): [string | null, (work: () => Promise<void> | void) => void] {
  const [error, setError] = useState<string | null>(null);
  const run = (work: () => Promise<void> | void) => {
    setError(null);
    Promise.resolve()
      .then(work)
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };
  return [error, run];
}

function ExportError({ error }: { error: string | null }) {
  return error ? (
    <span className="export-error" role="alert">
      {error}
    </span>
  ) : null;
}

export interface ChartExportProps {
  /** The element holding the chart's <svg>. */
  target: RefObject<HTMLElement | null>;
  /** File name parts, e.g. ['fid-vs-iterations', ...runNames]. */
  name: (string | number)[];
  title: string;
  legend: LegendEntry[];
  /** Caption lines saved under the chart (the comparability key). */
  caption: string[];
  /** The chart's data as a table, for CSV. */
  data?: DataTable;
}

export function ChartExportButtons({ target, name, title, legend, caption, data }: ChartExportProps) {
  const [error, run] = useExportError();
  const figure = () => {
    if (!target.current) throw new Error('nothing to export: the chart is not on screen');
    return chartFigure(target.current, { title, legend, caption });
  };
  return (
    <span className="export-buttons" role="group" aria-label={`Export ${title}`}>
      <button type="button" className="small" onClick={() => run(() => downloadText(figure().svg, exportFileName(name, 'svg'), MIME.svg))}>
        SVG
      </button>
      <button
        type="button"
        className="small"
        onClick={() => run(async () => downloadBlob(await svgToPng(figure(), 2), exportFileName(name, 'png')))}
      >
        PNG
      </button>
      {data && (
        <button type="button" className="small" onClick={() => run(() => downloadText(toCsv(data), exportFileName(name, 'csv'), MIME.csv))}>
          CSV
        </button>
      )}
      <ExportError error={error} />
    </span>
  );
}

export interface TableExportProps {
  name: (string | number)[];
  label: string;
  /** The table as shown; used unless csv/markdown text is given. */
  table?: DataTable;
  csv?: string;
  markdown?: string;
}

export function TableExportButtons({ name, label, table, csv, markdown }: TableExportProps) {
  const [error, run] = useExportError();
  const csvText = () => csv ?? (table ? toCsv(table) : '');
  const mdText = () => markdown ?? (table ? toMarkdown(table) : '');
  return (
    <span className="export-buttons" role="group" aria-label={`Export ${label}`}>
      <button type="button" className="small" onClick={() => run(() => downloadText(csvText(), exportFileName(name, 'csv'), MIME.csv))}>
        CSV
      </button>
      <button
        type="button"
        className="small"
        onClick={() => run(() => downloadText(mdText(), exportFileName(name, 'md'), MIME.markdown))}
      >
        Markdown
      </button>
      <ExportError error={error} />
    </span>
  );
}

export interface ImageExportProps {
  name: (string | number)[];
  label: string;
  /** Produces the PNG: an artifact fetched as is, or a composed canvas encoded. */
  png: () => Promise<Blob>;
  /** Button text; default "PNG". */
  text?: string;
}

export function ImageExportButton({ name, label, png, text = 'PNG' }: ImageExportProps) {
  const [error, run] = useExportError();
  return (
    <span className="export-buttons">
      <button type="button" className="small" aria-label={`Save ${label} as PNG`} onClick={() => run(async () => downloadBlob(await png(), exportFileName(name, 'png')))}>
        {text}
      </button>
      <ExportError error={error} />
    </span>
  );
}

/**
 * The paper's tables for the experiment the runs belong to: FID and sFID per variant per T' with
 * intervals (Tables 3 and 7), training iterations to reach a target FID (Table 4), and paired
 * tests of each variant against the baseline over seeds.
 */
import { useState } from 'react';
import type { ComparisonReport, LabEvent } from '../../../../shared/api';
import { KeyCaption } from '../../charts/KeyCaption';
import { TableExportButtons } from '../../export/ExportButtons';
import { formatNumber, toCsv, toMarkdown, type CellValue, type DataTable } from '../../export/table-text';
import { useQuery } from '../../lab';
import { ApiError, errorText, isCode } from './api-error';
import { KeyPicker } from './KeyPicker';
import { keyOptions } from './key-options';
import { iterationsTable, pairedTestsTable, stepsTables } from './report-tables';

const scoresChanged = (e: LabEvent) => e.type === 'job-status' && e.kind === 'evaluate' && e.status === 'done';

function Table({ table, bold, testId }: { table: DataTable; bold?: (row: number, col: number) => boolean; testId?: string }) {
  const cell = (v: CellValue) => (typeof v === 'number' ? formatNumber(v) : v === null || v === undefined ? '—' : String(v));
  return (
    <div className="table-scroll">
      <table className="plain report-table" data-testid={testId}>
        <thead>
          <tr>
            {table.columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {table.rows.map((r, i) => (
            <tr key={i}>
              {r.map((v, j) =>
                j === 0 ? (
                  <th key={j} scope="row">
                    {cell(v)}
                  </th>
                ) : (
                  <td key={j} className={bold?.(i, j) ? 'best' : undefined}>
                    {cell(v)}
                  </td>
                ),
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function pValueTable(report: ComparisonReport): DataTable {
  const t = pairedTestsTable(report);
  // p-values read better with a fixed number of decimals; everything else as usual.
  return { ...t, rows: t.rows.map((r) => r.map((v, j) => (j === 6 && typeof v === 'number' ? (v < 0.001 ? '< 0.001' : v.toFixed(3)) : v))) };
}

function ReportView({ report, name }: { report: ComparisonReport; name: string }) {
  const steps = stepsTables(report);
  const iterations = iterationsTable(report);
  const tests = pairedTestsTable(report);
  return (
    <div data-testid="report">
      <div className="toolbar">
        <span>
          Experiment <b>{report.experiment.name}</b>: {report.variants.reduce((n, v) => n + v.runIds.length, 0)} training runs in{' '}
          {report.variants.length} variants (runs that differ only in seed form one variant)
        </span>
        <TableExportButtons name={['report', name]} label="the whole report" csv={report.csv} markdown={report.markdown} />
      </div>
      {report.key !== null ? <KeyCaption parts={report.key} prefix="Comparability key (T' varies by column)" /> : <p className="muted">Nothing is scored yet.</p>}
      {steps.map((t) => (
        <div key={t.metric} className="report-block">
          <div className="report-head">
            <h3>{t.title}</h3>
            <TableExportButtons name={[t.metric, 'by-steps', name]} label={t.title} csv={toCsv(t.numeric)} markdown={toMarkdown(t.display)} />
          </div>
          <Table table={t.display} bold={(row, col) => t.best[col - 1] === row} testId={`table-${t.metric}`} />
        </div>
      ))}
      {iterations && (
        <div className="report-block">
          <div className="report-head">
            <h3>{iterations.title}</h3>
            <TableExportButtons name={['iterations-to-target', name]} label={iterations.title} table={iterations.table} />
          </div>
          <Table table={iterations.table} testId="table-iterations" />
        </div>
      )}
      {tests.rows.length > 0 && (
        <div className="report-block">
          <div className="report-head">
            <h3>Paired tests against the baseline (one-sided: the variant has the lower score)</h3>
            <TableExportButtons name={['paired-tests', name]} label="paired tests" table={tests} />
          </div>
          <Table table={pValueTable(report)} testId="table-tests" />
        </div>
      )}
    </div>
  );
}

export function ReportTables({ experimentId, baselineId, runIds, labels, refresh }: {
  experimentId: number | null;
  baselineId: string | null;
  runIds: string[];
  labels: Map<string, string>;
  refresh: number;
}) {
  const [key, setKey] = useState<string | undefined>(undefined);
  const report = useQuery(
    (lab) => lab.compareExperiment(experimentId!, { ...(baselineId ? { baselineRunId: baselineId } : {}), ...(key ? { key } : {}) }),
    [experimentId, baselineId, key, refresh],
    { enabled: experimentId !== null, refetchOn: scoresChanged, throttleMs: 1000 },
  );
  const conflict = isCode(report.error, 'CONFLICT');
  const keys = useQuery((lab) => lab.evaluationKeys({ runIds }), [runIds.join(','), refresh], { enabled: conflict });

  return (
    <section className="panel" aria-labelledby="tables-title">
      <h2 id="tables-title">Tables</h2>
      {experimentId === null ? (
        <p className="muted">The paper-style tables compare the runs of one experiment; these runs are not all in the same experiment.</p>
      ) : conflict ? (
        <KeyPicker
          message={errorText(report.error)}
          options={keys.data ? keyOptions(keys.data, ['steps']) : keys.error ? [] : null}
          labels={labels}
          onPick={setKey}
          name="report-key"
        />
      ) : report.error && !report.data ? (
        <ApiError error={report.error} what="The comparison report" />
      ) : !report.data ? (
        <p className="muted">Loading the report…</p>
      ) : (
        <ReportView report={report.data} name={report.data.experiment.name} />
      )}
    </section>
  );
}

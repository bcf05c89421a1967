/** One card per compared run: what it is, how far it trained, its best FID, and its difference from the pinned baseline. */
import type { RunInfo } from '../../../../shared/api';
import { formatNumber } from '../../export/table-text';
import { routeHref } from '../../lab';
import { delta, gammaText, objectiveName } from './run-set';

function DeltaText({ value, better }: { value: number | null; better: 'lower' | 'higher' }) {
  if (value === null || value === 0) return null;
  const good = better === 'lower' ? value < 0 : value > 0;
  const sign = value > 0 ? '+' : value < 0 ? '−' : '±';
  return (
    <span className={value === 0 ? 'muted' : good ? 'ok' : 'error'}>
      {' '}
      ({sign}
      {formatNumber(Math.abs(value), 3)} vs baseline)
    </span>
  );
}

export function RunCards({ runs, colors, labels, baselineId, onBaseline }: {
  runs: RunInfo[];
  colors: Map<string, string>;
  labels: Map<string, string>;
  baselineId: string | null;
  onBaseline: (runId: string) => void;
}) {
  const baseline = runs.find((r) => r.id === baselineId) ?? null;
  return (
    <div className="run-cards" role="radiogroup" aria-label="Baseline run">
      {runs.map((r) => {
        const isBase = r.id === baselineId;
        const gamma = gammaText(r);
        const steps = r.stepsPlanned ? `${r.stepsDone.toLocaleString('en-US')} / ${r.stepsPlanned.toLocaleString('en-US')}` : r.stepsDone.toLocaleString('en-US');
        return (
          <article key={r.id} className={`card run-card${isBase ? ' baseline' : ''}`} data-testid="run-card" data-run={r.id} style={{ borderTopColor: colors.get(r.id) }}>
            <header>
              <span className="swatch" style={{ background: colors.get(r.id) }} /> <b>{labels.get(r.id) ?? r.name}</b>
              <a className="run-link mono" href={routeHref(`/run/${r.id}`)}>
                {r.id}
              </a>
              <label className="baseline-pick">
                <input type="radio" name="baseline" checked={isBase} onChange={() => onBaseline(r.id)} /> {isBase ? 'baseline' : 'make baseline'}
              </label>
            </header>
            <dl className="kv run-kv">
              <dt>objective</dt>
              <dd>{objectiveName(r.objective)}</dd>
              <dt>gamma</dt>
              <dd>{gamma ?? '—'}</dd>
              <dt>dataset</dt>
              <dd>{r.dataset ?? '—'}</dd>
              <dt>training steps</dt>
              <dd>
                {steps} <span className={`status status-${r.status}`}>{r.status}</span>
                {baseline && !isBase && <DeltaText value={delta(r.stepsDone, baseline.stepsDone)} better="higher" />}
              </dd>
              <dt>best FID</dt>
              <dd data-testid="best-fid">
                {formatNumber(r.bestFid)}
                {baseline && !isBase && <DeltaText value={delta(r.bestFid, baseline.bestFid)} better="lower" />}
              </dd>
            </dl>
          </article>
        );
      })}
    </div>
  );
}

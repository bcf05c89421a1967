/**
 * When scores were measured under several comparability keys, the engine refuses to plot them on
 * one chart (CONFLICT). This lists the keys in words with what separates them, so the user picks
 * one, or asks for one chart per key; nothing mixes them silently.
 */
import type { KeyOption } from './key-options';
import { describeDifference, describeKey } from '../../charts/key-text';

export function KeyPicker({ message, options, labels, onPick, onShowAll, name }: {
  message: string;
  options: KeyOption[] | null;
  labels: Map<string, string>;
  onPick: (key: string) => void;
  /** Offered where separate charts per key make sense. */
  onShowAll?: () => void;
  name: string;
}) {
  return (
    <div className="banner key-picker" role="alert" data-testid="key-conflict">
      <p>
        <b>These scores were measured under different comparability keys</b> and are not the same metric: {message}
      </p>
      {options === null ? (
        <p className="muted">Loading the keys…</p>
      ) : (
        <fieldset>
          <legend>Plot one key</legend>
          {options.map((o, i) => (
            <label key={o.key} className="key-option">
              <input type="radio" name={name} value={o.key} onChange={() => onPick(o.key)} />{' '}
              <span>
                {describeKey(o.key)}
                <br />
                <span className="muted">
                  {o.count} score{o.count === 1 ? '' : 's'} from {o.runIds.map((r) => labels.get(r) ?? r).join(', ')}
                  {i > 0 && options[0] ? ` — ${describeDifference(o.key, options[0].key)} from the first` : ''}
                </span>
              </span>
            </label>
          ))}
        </fieldset>
      )}
      {onShowAll && (
        <button type="button" onClick={onShowAll}>
          Show each key as its own chart
        </button>
      )}
    </div>
  );
}

/** The comparability key under a chart or table, in words (see key-text.ts). */
import type { ComparabilityKeyParts } from '../../../shared/comparability';
import { keyFields } from './key-text';
import './charts.css';

export function KeyCaption({ parts, prefix = 'Comparability key' }: { parts: string | Partial<ComparabilityKeyParts>; prefix?: string }) {
  const fields = keyFields(parts);
  return (
    <p className="key-caption" data-testid="key-caption">
      <span className="key-caption-title">{prefix}:</span>{' '}
      {fields.length === 0 ? (
        <span>none (nothing scored)</span>
      ) : (
        fields.map((f, i) => (
          <span key={f.field} className="key-field">
            {i > 0 && ' · '}
            <span className="muted">{f.label}</span> <span className="mono">{f.value}</span>
          </span>
        ))
      )}
    </p>
  );
}

/** The keys a user can choose among when scores span several comparability keys. */
import type { EvaluationKeyInfo } from '../../../../shared/api';
import { keyWithout, type ComparabilityField } from '../../../../shared/comparability';

export interface KeyOption {
  key: string;
  count: number;
  runIds: string[];
}

/** evaluationKeys' keys with the chart's x field dropped, merged where that makes them equal. */
export function keyOptions(keys: EvaluationKeyInfo[], drop: ComparabilityField[]): KeyOption[] {
  const byKey = new Map<string, KeyOption>();
  for (const k of keys) {
    const key = keyWithout(k.key, drop);
    const cur = byKey.get(key) ?? { key, count: 0, runIds: [] };
    cur.count += k.count;
    cur.runIds = [...new Set([...cur.runIds, ...k.runIds])];
    byKey.set(key, cur);
  }
  return [...byKey.values()].sort((a, b) => b.runIds.length - a.runIds.length || b.count - a.count);
}

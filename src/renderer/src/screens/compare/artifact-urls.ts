/**
 * URLs of several artifacts at once (the shell's useArtifactUrl takes one id per hook call). An
 * artifact id names one file for good, so its URL is asked for once per client: the screen can
 * resolve ids before the grids mount (and start their downloads), and the grids then find the
 * URLs at once.
 */
import { useEffect, useState } from 'react';
import type { LabClient } from '../../lab-client';
import { useLab } from '../../lab';

const asked = new WeakMap<LabClient, Map<string, Promise<string | null>>>();
const known = new WeakMap<LabClient, Map<string, string | null>>();

/** The artifact's URL (null for an unknown id), asked of the engine once per client. */
export function artifactUrlOf(lab: LabClient, id: string): Promise<string | null> {
  let pending = asked.get(lab);
  if (!pending) asked.set(lab, (pending = new Map()));
  let p = pending.get(id);
  if (!p) {
    p = lab.artifactUrl(id).then(
      (url) => {
        let m = known.get(lab);
        if (!m) known.set(lab, (m = new Map()));
        m.set(id, url);
        return url;
      },
      (err: unknown) => {
        // A failed look-up may succeed later (the engine restarted): ask again next time.
        pending!.delete(id);
        throw err;
      },
    );
    pending.set(id, p);
  }
  return p;
}

/** Maps each id to its URL (null for an unknown id); ids not resolved yet are absent. */
export function useArtifactUrls(ids: (string | null)[]): Map<string, string | null> {
  const lab = useLab();
  const wanted = [...new Set(ids.filter((i): i is string => Boolean(i)))];
  const [urls, setUrls] = useState<Map<string, string | null>>(new Map());
  const key = wanted.join(',');
  useEffect(() => {
    let cancelled = false;
    for (const id of wanted) {
      if (urls.has(id)) continue;
      artifactUrlOf(lab, id).then(
        (url) => !cancelled && setUrls((m) => new Map(m).set(id, url)),
        () => !cancelled && setUrls((m) => new Map(m).set(id, null)),
      );
    }
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lab, key]);
  // URLs resolved before this render (by the screen, or an earlier mount) need no round of effects.
  const resolved = known.get(lab);
  const missing = wanted.filter((id) => !urls.has(id) && resolved?.has(id));
  if (missing.length === 0) return urls;
  const merged = new Map(urls);
  for (const id of missing) merged.set(id, resolved!.get(id)!);
  return merged;
}

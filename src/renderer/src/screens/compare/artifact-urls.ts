/** URLs of several artifacts at once (the shell's useArtifactUrl takes one id per hook call). */
import { useEffect, useState } from 'react';
import { useLab } from '../../lab';

/** Maps each id to its URL (null for an unknown id); ids not resolved yet are absent. */
export function useArtifactUrls(ids: (string | null)[]): Map<string, string | null> {
  const lab = useLab();
  const [urls, setUrls] = useState<Map<string, string | null>>(new Map());
  const key = ids.filter(Boolean).join(',');
  useEffect(() => {
    let cancelled = false;
    for (const id of new Set(ids.filter((i): i is string => Boolean(i)))) {
      if (urls.has(id)) continue;
      lab.artifactUrl(id).then(
        (url) => !cancelled && setUrls((m) => new Map(m).set(id, url)),
        () => !cancelled && setUrls((m) => new Map(m).set(id, null)),
      );
    }
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lab, key]);
  return urls;
}

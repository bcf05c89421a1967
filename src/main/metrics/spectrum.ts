/**
 * Radially averaged power spectrum of images: the frequency-content comparison behind "input
 * perturbation keeps more high frequencies". Per image and channel: 2-D DFT, power |F|^2 / (H W)
 * (so that, by Parseval, the powers sum to the sum of squared pixels), frequencies centred as after
 * fftshift, averaged over annuli of integer radius round(sqrt(fy^2 + fx^2)); then averaged over
 * channels and images.
 *
 * Images here are 16-64 px, so the transform is a separable DFT: radix-2 FFT for power-of-two sides,
 * a direct O(n^2) transform with a twiddle table otherwise (28 px MNIST).
 */

/** NHWC images; any numeric array (uint8 or float). */
export interface ImageBatch {
  data: ArrayLike<number>;
  count: number;
  height: number;
  width: number;
  channels: number;
}

export interface RadialSpectrum {
  /** Integer radii 0..max, in cycles per image side (for square images). */
  radius: number[];
  /** Mean power over each annulus, averaged over channels and images. */
  power: number[];
  /** Number of frequency bins per annulus (corners beyond min(H, W)/2 are only partly covered). */
  bins: number[];
}

export interface SpectrumOptions {
  /** Subtract each channel's mean first, removing the DC term (radius 0 then holds 0). */
  subtractMean?: boolean;
}

/** In-place 1-D DFT of (re, im) at offset/stride, length n. */
type Transform = (re: Float64Array, im: Float64Array, offset: number, stride: number) => void;

function makeTransform(n: number): Transform {
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = -Math.sin((2 * Math.PI * k) / n);
  }
  const bufRe = new Float64Array(n);
  const bufIm = new Float64Array(n);
  if ((n & (n - 1)) === 0) {
    const bits = Math.log2(n);
    const rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
      rev[i] = r;
    }
    return (re, im, offset, stride) => {
      for (let i = 0; i < n; i++) {
        bufRe[rev[i]!] = re[offset + i * stride]!;
        bufIm[rev[i]!] = im[offset + i * stride]!;
      }
      for (let size = 2; size <= n; size <<= 1) {
        const half = size >> 1;
        const step = n / size;
        for (let start = 0; start < n; start += size) {
          for (let k = 0; k < half; k++) {
            const wr = cos[k * step]!;
            const wi = sin[k * step]!;
            const a = start + k;
            const b = a + half;
            const tr = bufRe[b]! * wr - bufIm[b]! * wi;
            const ti = bufRe[b]! * wi + bufIm[b]! * wr;
            bufRe[b] = bufRe[a]! - tr;
            bufIm[b] = bufIm[a]! - ti;
            bufRe[a] = bufRe[a]! + tr;
            bufIm[a] = bufIm[a]! + ti;
          }
        }
      }
      for (let i = 0; i < n; i++) {
        re[offset + i * stride] = bufRe[i]!;
        im[offset + i * stride] = bufIm[i]!;
      }
    };
  }
  return (re, im, offset, stride) => {
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < n; j++) {
        const t = (j * k) % n;
        const xr = re[offset + j * stride]!;
        const xi = im[offset + j * stride]!;
        sr += xr * cos[t]! - xi * sin[t]!;
        si += xr * sin[t]! + xi * cos[t]!;
      }
      bufRe[k] = sr;
      bufIm[k] = si;
    }
    for (let k = 0; k < n; k++) {
      re[offset + k * stride] = bufRe[k]!;
      im[offset + k * stride] = bufIm[k]!;
    }
  };
}

/** Signed frequency of DFT index u (numpy's fftfreq * n: the Nyquist bin counts as negative). */
const signedFrequency = (u: number, n: number): number => (u <= Math.floor((n - 1) / 2) ? u : u - n);

export function radialPowerSpectrum(images: ImageBatch, opts: SpectrumOptions = {}): RadialSpectrum {
  const { count, height: H, width: W, channels: C } = images;
  if (!(count >= 1 && H >= 1 && W >= 1 && C >= 1)) throw new Error(`spectrum: bad image batch shape ${count}x${H}x${W}x${C}`);
  if (images.data.length !== count * H * W * C) {
    throw new Error(`spectrum: ${images.data.length} values for ${count}x${H}x${W}x${C} images`);
  }
  const rowT = makeTransform(W);
  const colT = makeTransform(H);
  const binOf = new Int32Array(H * W);
  let maxR = 0;
  for (let u = 0; u < H; u++) {
    const fy = signedFrequency(u, H);
    for (let v = 0; v < W; v++) {
      const fx = signedFrequency(v, W);
      const r = Math.round(Math.sqrt(fy * fy + fx * fx));
      binOf[u * W + v] = r;
      maxR = Math.max(maxR, r);
    }
  }
  const bins = new Array<number>(maxR + 1).fill(0);
  for (let i = 0; i < H * W; i++) bins[binOf[i]!]!++;
  const total = new Float64Array(maxR + 1);
  const re = new Float64Array(H * W);
  const im = new Float64Array(H * W);
  const data = images.data;
  for (let img = 0; img < count; img++) {
    for (let c = 0; c < C; c++) {
      let mean = 0;
      for (let p = 0; p < H * W; p++) {
        re[p] = data[(img * H * W + p) * C + c]!;
        mean += re[p]!;
      }
      im.fill(0);
      if (opts.subtractMean) {
        mean /= H * W;
        for (let p = 0; p < H * W; p++) re[p] -= mean;
      }
      for (let y = 0; y < H; y++) rowT(re, im, y * W, 1);
      for (let x = 0; x < W; x++) colT(re, im, x, W);
      for (let p = 0; p < H * W; p++) total[binOf[p]!] += (re[p]! * re[p]! + im[p]! * im[p]!) / (H * W);
    }
  }
  const power = Array.from(total, (t, r) => (bins[r]! > 0 ? t / bins[r]! / (count * C) : 0));
  return { radius: Array.from({ length: maxR + 1 }, (_, r) => r), power, bins };
}

/**
 * Grey <-> RGB for 8-bit interleaved pixels, so a dataset can be fed to a model of either width.
 * RGB -> grey is PIL's convert('L') bit for bit (ITU-R 601-2 luma in 16-bit fixed point), the
 * conversion the Python reference pipelines would apply.
 */
export function convertChannels(pixels: Uint8Array, count: number, from: number, to: number): Uint8Array {
  if (pixels.length !== count * from) throw new Error(`channel conversion: expected ${count}x${from} bytes, got ${pixels.length}`);
  if (from === to) return pixels;
  if (from === 1 && to === 3) {
    const out = new Uint8Array(count * 3);
    for (let i = 0, o = 0; i < count; i++, o += 3) {
      const v = pixels[i]!;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
    return out;
  }
  if (from === 3 && to === 1) {
    const out = new Uint8Array(count);
    for (let i = 0, s = 0; i < count; i++, s += 3) {
      out[i] = (pixels[s]! * 19595 + pixels[s + 1]! * 38470 + pixels[s + 2]! * 7471 + 0x8000) >>> 16;
    }
    return out;
  }
  throw new Error(`channel conversion from ${from} to ${to} channels is not supported (only 1 <-> 3)`);
}

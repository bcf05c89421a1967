import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR10_RECORD_BYTES, loadCifar10, parseCifar10Batch } from '../../src/main/data/cifar10';
import { loadDataset } from '../../src/main/data/dataset';

const root = mkdtempSync(join(tmpdir(), 'xlab-cifar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Record k: label (k + batch) % 10; channel ch, pixel p holds (k * 7 + ch * 50 + p) mod 256. */
function batch(n: number, batchNo: number): Buffer {
  const b = Buffer.alloc(n * CIFAR10_RECORD_BYTES);
  for (let k = 0; k < n; k++) {
    const r = k * CIFAR10_RECORD_BYTES;
    b[r] = (k + batchNo) % 10;
    for (let ch = 0; ch < 3; ch++) for (let p = 0; p < 1024; p++) b[r + 1 + ch * 1024 + p] = (k * 7 + ch * 50 + p + batchNo) & 255;
  }
  return b;
}

function writeCifarFolder(dir: string, perBatch: number, withTest = true): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), batch(perBatch, i));
  if (withTest) writeFileSync(join(dir, 'test_batch.bin'), batch(perBatch, 0));
  writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\n');
}

describe('CIFAR-10 binary', () => {
  it('turns CHW records into NHWC pixels with labels', () => {
    const { n, pixels, labels } = parseCifar10Batch(batch(3, 0), 'b.bin');
    expect(n).toBe(3);
    expect(Array.from(labels)).toEqual([0, 1, 2]);
    // image 2, pixel (y=1, x=5) = p 37: R = 14 + 37, G = 14 + 50 + 37, B = 14 + 100 + 37
    const o = (2 * 1024 + 37) * 3;
    expect(Array.from(pixels.subarray(o, o + 3))).toEqual([51, 101, 151]);
  });

  it('a folder means the five training batches, in order; a file means itself', async () => {
    const dir = join(root, 'cifar-10-batches-bin');
    writeCifarFolder(dir, 4);
    const train = await loadCifar10(dir);
    expect([train.n, train.height, train.width, train.channels]).toEqual([20, 32, 32, 3]);
    expect(Array.from(train.labels!.subarray(0, 8))).toEqual([1, 2, 3, 4, 2, 3, 4, 5]);
    // first pixel of record 0 of data_batch_2 (image 4): R = 0 + 2
    expect(train.pixels[4 * 3072]).toBe(2);
    const test = await loadDataset(`cifar10:${join(dir, 'test_batch.bin')}`);
    expect(test.n).toBe(4);
    expect(test.flipAllowed).toBe(true);
    expect(test.labelNames?.[0]).toBe('airplane');
    const viaSpec = await loadDataset(`cifar10:${dir}`, { imageSize: 16, channels: 1, limit: 10 });
    expect([viaSpec.n, viaSpec.height, viaSpec.width, viaSpec.channels]).toEqual([10, 16, 16, 1]);
    expect(Array.from(viaSpec.labels!)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18].map((i) => train.labels![i]));
  });

  it('wrong record size names the file and the expected layout', async () => {
    const f = join(root, 'short.bin');
    writeFileSync(f, batch(2, 0).subarray(0, CIFAR10_RECORD_BYTES * 2 - 100));
    await expect(loadCifar10(f)).rejects.toThrow(/short\.bin: wrong record size: 6046 bytes is not a whole number of 3073-byte records.*truncated/);
    const c100 = join(root, 'train.bin');
    writeFileSync(c100, Buffer.alloc(3074 * 2, 1));
    await expect(loadCifar10(c100)).rejects.toThrow(/train\.bin: wrong record size.*CIFAR-100/);
    const pickle = join(root, 'data_batch_1');
    writeFileSync(pickle, Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(5000)]));
    await expect(loadCifar10(pickle)).rejects.toThrow(/data_batch_1: wrong record size.*python/);
    const empty = join(root, 'empty.bin');
    writeFileSync(empty, '');
    await expect(loadCifar10(empty)).rejects.toThrow(/empty\.bin: empty file/);
  });

  it('a label outside 0..9 is corruption', async () => {
    const b = batch(2, 0);
    b[CIFAR10_RECORD_BYTES] = 42;
    const f = join(root, 'badlabel.bin');
    writeFileSync(f, b);
    await expect(loadCifar10(f)).rejects.toThrow(/badlabel\.bin: record 1 has label 42/);
  });

  it('an incomplete folder says what is missing', async () => {
    const dir = join(root, 'partial');
    mkdirSync(dir);
    writeFileSync(join(dir, 'data_batch_1.bin'), batch(1, 1));
    writeFileSync(join(dir, 'data_batch_3.bin'), batch(1, 3));
    await expect(loadCifar10(dir)).rejects.toThrow(/partial: incomplete CIFAR-10 training set: missing data_batch_2\.bin, data_batch_4\.bin, data_batch_5\.bin/);
    const testOnly = join(root, 'testonly');
    mkdirSync(testOnly);
    writeFileSync(join(testOnly, 'test_batch.bin'), batch(1, 0));
    await expect(loadCifar10(testOnly)).rejects.toThrow(/holds only test_batch\.bin.*cifar10:/);
    await expect(loadCifar10(join(root, 'nothing-here'))).rejects.toThrow(/nothing-here: no such file or folder/);
  });
});

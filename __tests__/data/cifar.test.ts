import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { loadCifar, parseCifar, readCifar } from '../../src/data/index.js';
import { expectThrowsNoLeak, useBackend } from '../helpers.js';

/** The byte of record `r` at channel `c` (0 = R), row `i`, column `j`: distinct enough to catch any mix-up. */
function pixel(r: number, c: number, i: number, j: number): number {
  return (r * 7 + c * 50 + i * 3 + j) % 256;
}

/**
 * Builds CIFAR records by hand, as the format describes them: the label byte(s), then the red plane, the
 * green plane and the blue plane, each 32 rows of 32 bytes.
 */
function cifarBytes(labels: number[][], first = 0): Uint8Array {
  const out: number[] = [];
  labels.forEach((recordLabels, k) => {
    out.push(...recordLabels);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) out.push(pixel(first + k, c, i, j));
  });
  return Uint8Array.from(out);
}

/** Checks that `images` holds records `first …` in NHWC order, every byte. */
function expectNhwc(images: Uint8Array, count: number, first = 0): void {
  expect(images.length).toBe(count * 3072);
  let wrong = 0;
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < 32; i++) {
      for (let j = 0; j < 32; j++) {
        for (let c = 0; c < 3; c++) if (images[((r * 32 + i) * 32 + j) * 3 + c] !== pixel(first + r, c, i, j)) wrong++;
      }
    }
  }
  expect(wrong).toBe(0);
}

describe('CIFAR binary reader', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-cifar-'));
  });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('decodes CIFAR-10 records: labels, and colour planes rearranged to [N, 32, 32, 3]', () => {
    const { shape, images, labels } = parseCifar(cifarBytes([[3], [0], [9]]), { variant: 10 }, 'hand-made');
    expect(shape).toEqual([3, 32, 32, 3]);
    expect(Array.from(labels)).toEqual([3, 0, 9]);
    // By hand: record 0, row 0, column 1 is R = 1, G = 51, B = 101 (bytes 1, 1025, 2049 after the label byte).
    expect(Array.from(images.subarray(3, 6))).toEqual([1, 51, 101]);
    // Record 1, row 2, column 5: R = 7 + 6 + 5 = 18, G = 68, B = 118.
    const o = ((1 * 32 + 2) * 32 + 5) * 3;
    expect(Array.from(images.subarray(o, o + 3))).toEqual([18, 68, 118]);
    expectNhwc(images, 3);
  });

  it('decodes CIFAR-100 records with fine (default) or coarse labels', () => {
    const bytes = cifarBytes([[4, 77], [19, 0], [0, 99]]);
    const fine = parseCifar(bytes, { variant: 100 });
    expect(Array.from(fine.labels)).toEqual([77, 0, 99]);
    expect(Array.from(parseCifar(bytes, { variant: 100, labels: 'fine' }).labels)).toEqual([77, 0, 99]);
    expect(Array.from(parseCifar(bytes, { variant: 100, labels: 'coarse' }).labels)).toEqual([4, 19, 0]);
    expectNhwc(fine.images, 3);
  });

  it('names the source and the fault for truncated, empty or corrupt data', () => {
    const ten = cifarBytes([[1], [2]]);
    expect(() => parseCifar(ten.subarray(0, 6145), { variant: 10 }, 'a.bin')).toThrow(
      /^parseCifar: a.bin must hold whole CIFAR-10 records of 3073 bytes \(1 label byte \+ 3072 pixel bytes\) \(got "6145 bytes: 1 records and 3072 bytes over \(truncated, or not CIFAR-10\)"\)$/
    );
    expect(() => parseCifar(new Uint8Array(0), { variant: 10 }, 'empty.bin')).toThrow(/^parseCifar: empty.bin must hold whole CIFAR-10 records .* \(got "0 bytes"\)$/);
    // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
    expect(() => parseCifar(ten, { variant: 100 }, 'b.bin')).toThrow(/^parseCifar: b.bin must hold whole CIFAR-100 records of 3074 bytes \(2 label bytes/);
    const badLabel = cifarBytes([[1], [10]]);
    expect(() => parseCifar(badLabel, { variant: 10 }, 'c.bin')).toThrow(
      /^parseCifar: c.bin must hold CIFAR-10 labels in 0…9 \(got "10 in record 1 at byte 3073"\)$/
    );
    expect(() => parseCifar(cifarBytes([[20, 5]]), { variant: 100 }, 'd.bin')).toThrow(/^parseCifar: d.bin must hold CIFAR-100 coarse labels in 0…19 \(got "20 in record 0 at byte 0"\)$/);
    // The fine labels are checked even when the coarse ones are used: a bad byte means a corrupt file.
    expect(() => parseCifar(cifarBytes([[2, 5], [3, 100]]), { variant: 100, labels: 'coarse' }, 'e.bin')).toThrow(
      /^parseCifar: e.bin must hold CIFAR-100 fine labels in 0…99 \(got "100 in record 1 at byte 3075"\)$/
    );
  });

  it('rejects bad options and arguments', () => {
    const bytes = cifarBytes([[1]]);
    expect(() => parseCifar(bytes, { variant: 12 as 10 })).toThrow(/^parseCifar: variant must be 10 or 100 \(got 12\)$/);
    expect(() => parseCifar(bytes, { variant: 10, labels: 'fine' })).toThrow(/^parseCifar: labels must be left out for variant 10/);
    expect(() => parseCifar(bytes, { variant: 100, labels: 'super' as 'fine' })).toThrow(/^parseCifar: labels must be "fine" or "coarse" \(got "super"\)$/);
    expect(() => parseCifar(bytes, { variant: 10, lables: 'fine' } as never)).toThrow(/^parseCifar: options must only have the keys variant, labels \(got "lables"\)$/);
    expect(() => parseCifar(Array.from(bytes) as never, { variant: 10 })).toThrow(TypeError);
    expect(() => parseCifar(bytes, undefined as never)).toThrow(/^parseCifar: options must be an object with a variant/);
  });

  it('reads raw and gzipped files in order, and names unreadable or corrupt files', async () => {
    fs.writeFileSync(path.join(dir, 'one.bin'), cifarBytes([[5], [6], [7]]));
    fs.writeFileSync(path.join(dir, 'two.bin.gz'), zlib.gzipSync(cifarBytes([[8], [9]], 3)));
    fs.writeFileSync(path.join(dir, 'short.bin'), cifarBytes([[1]]).subarray(0, 3000));
    const both = await readCifar([path.join(dir, 'one.bin'), path.join(dir, 'two.bin.gz')], { variant: 10 });
    expect(both.shape).toEqual([5, 32, 32, 3]);
    expect(Array.from(both.labels)).toEqual([5, 6, 7, 8, 9]);
    expectNhwc(both.images, 5);
    const single = await readCifar(path.join(dir, 'two.bin.gz'), { variant: 10 });
    expect(Array.from(single.labels)).toEqual([8, 9]);
    await expect(readCifar(path.join(dir, 'missing.bin'), { variant: 10 })).rejects.toThrow(/^readCifar: cannot read .*missing.bin/);
    await expect(readCifar([path.join(dir, 'one.bin'), path.join(dir, 'short.bin')], { variant: 10 })).rejects.toThrow(
      /^readCifar: .*short.bin must hold whole CIFAR-10 records of 3073 bytes .*\(got "3000 bytes: 0 records and 3000 bytes over/
    );
    await expect(readCifar([], { variant: 10 })).rejects.toThrow(/^readCifar: paths must be a file path or a non-empty array of file paths \(got \[\]\)$/);
    await expect(readCifar(['a', ''], { variant: 10 })).rejects.toThrow(TypeError);
  });

  it('loads tensors: x [N, 32, 32, 3] float32 = byte / 255, y [N] int32; limit spans files', async () => {
    const before = tf.memory().numTensors;
    const files = [path.join(dir, 'one.bin'), path.join(dir, 'two.bin.gz')];
    const { x, y } = await loadCifar(files, { variant: 10 });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(x.shape).toEqual([5, 32, 32, 3]);
    expect(x.dtype).toBe('float32');
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([5, 6, 7, 8, 9]);
    const values = x.dataSync();
    // Record 4 (the second of the gzipped file), row 31, column 0, blue.
    expect(values[((4 * 32 + 31) * 32 + 0) * 3 + 2]).toBe(Math.fround(pixel(4, 2, 31, 0) / 255));
    expect(values.every((v, k) => v === Math.fround(pixel(Math.floor(k / 3072), k % 3, Math.floor((k % 3072) / 96), Math.floor((k % 96) / 3)) / 255))).toBe(true);
    tf.dispose([x, y]);
    const limited = await loadCifar(files, { variant: 10, limit: 4 });
    expect(limited.x.shape).toEqual([4, 32, 32, 3]);
    expect(Array.from(limited.y.dataSync())).toEqual([5, 6, 7, 8]);
    tf.dispose([limited.x, limited.y]);
    // A file after the limit is not read at all, so a broken one there does not matter.
    const early = await loadCifar([path.join(dir, 'one.bin'), path.join(dir, 'missing.bin')], { variant: 10, limit: 2 });
    expect(early.x.shape).toEqual([2, 32, 32, 3]);
    tf.dispose([early.x, early.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('makes no tensor when loading fails', async () => {
    const before = tf.memory().numTensors;
    await expect(loadCifar([path.join(dir, 'one.bin'), path.join(dir, 'short.bin')], { variant: 10 })).rejects.toThrow(/^loadCifar: .*short.bin must hold whole CIFAR-10 records/);
    await expect(loadCifar(path.join(dir, 'one.bin'), { variant: 100 })).rejects.toThrow(/^loadCifar: .*one.bin must hold whole CIFAR-100 records/);
    await expect(loadCifar(path.join(dir, 'one.bin'), { variant: 10, limit: 0 })).rejects.toThrow(/^loadCifar: limit must be an integer >= 1 \(got 0\)$/);
    expect(tf.memory().numTensors).toBe(before);
    expectThrowsNoLeak(() => parseCifar(cifarBytes([[11]]), { variant: 10 }), /labels in 0…9/);
  });
});

import { named } from '../../src/core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../src/core/index.js';
import { checkFiniteExamples, checkInBounds } from '../../src/core/validate.js';
import { cifarAugment, randomCrop, randomFlip } from '../../src/data/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { gatherColumns, gatherRows } from '../../src/data/spatial-gather.js';
import { expectNoLeak, expectThrowsNoLeak, testRandom, useBackend } from '../helpers.js';

/** The documented crop offsets of `randomCrop(x, { padding, seed })`: per example, dy then dx in 0 … 2·padding. */
function cropOffsets(seed: number, batch: number, padding: number): Array<[number, number]> {
  const rng = createRandom(seed);
  return Array.from({ length: batch }, () => [rng.nextInt(2 * padding + 1), rng.nextInt(2 * padding + 1)] as [number, number]);
}

/** The documented flips of `randomFlip(x, { seed })`: per example, next() < probability. */
function flips(seed: number, batch: number, probability = 0.5): boolean[] {
  const rng = createRandom(seed);
  return Array.from({ length: batch }, () => rng.next() < probability);
}

/** The first seed >= 0 for which `draw(seed)` is what the test wants. */
function findSeed(wanted: (seed: number) => boolean): number {
  for (let seed = 0; seed < 10000; seed++) if (wanted(seed)) return seed;
  throw new Error('no seed found');
}

/** Float64 reference crop of a [B, H, W, C] array: out[b, i, j, c] = x[b, i + dy − p, j + dx − p, c], 0 outside. */
function referenceCrop(x: number[], shape: number[], offsets: Array<[number, number]>, p: number): number[] {
  const [b = 0, h = 0, w = 0, c = 0] = shape;
  const out: number[] = [];
  for (let e = 0; e < b; e++) {
    const [dy, dx] = offsets[e] ?? [0, 0];
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        for (let k = 0; k < c; k++) {
          const si = i + dy - p;
          const sj = j + dx - p;
          out.push(si >= 0 && si < h && sj >= 0 && sj < w ? (x[((e * h + si) * w + sj) * c + k] ?? NaN) : 0);
        }
      }
    }
  }
  return out;
}

/** Random float32 images in [0, 1] as a plain array and a tensor. */
function randomImages(shape: [number, number, number, number], seed: number): { values: number[]; x: tf.Tensor4D } {
  const r = testRandom(seed);
  const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.fround(r()));
  return { values, x: tf.tensor4d(values, shape) };
}

// The tiny image of the hand-computed cases: one 3×3 single-channel image,
//   1 2 3
//   4 5 6
//   7 8 9
const tiny = [1, 2, 3, 4, 5, 6, 7, 8, 9];

describe.each(['cpu', 'wasm'] as const)('augmentation (%s)', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('gathers rows and columns per example (the primitive under crop and flip)', () => {
    const x = tf.tensor4d([...tiny, ...tiny.map((v) => 10 * v)], [2, 3, 3, 1]);
    const rows = gatherRows(x, Int32Array.from([2, 0, 1, 1]), 2);
    expect(rows.shape).toEqual([2, 2, 3, 1]);
    expect(Array.from(rows.dataSync())).toEqual([7, 8, 9, 1, 2, 3, 40, 50, 60, 40, 50, 60]);
    const cols = gatherColumns(x, Int32Array.from([2, 1, 0, 0, 1, 2]), 3);
    expect(Array.from(cols.dataSync())).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7, ...tiny.map((v) => 10 * v)]);
    tf.dispose([x, rows, cols]);
  });

  it('crops by hand: padding 1, offset (dy, dx) = (0, 2) moves the image down 1 and left 1', () => {
    const seed = findSeed((s) => {
      const [o] = cropOffsets(s, 1, 1);
      return o?.[0] === 0 && o[1] === 2;
    });
    const x = tf.tensor4d(tiny, [1, 3, 3, 1]);
    const out = randomCrop(x, { padding: 1, seed });
    // out[i, j] = x[i − 1, j + 1], zero outside:
    //   0 0 0
    //   2 3 0
    //   5 6 0
    expect(Array.from(out.dataSync())).toEqual([0, 0, 0, 2, 3, 0, 5, 6, 0]);
    // Offset (1, 1) is the centre: the crop is the image itself.
    const centre = findSeed((s) => {
      const [o] = cropOffsets(s, 1, 1);
      return o?.[0] === 1 && o[1] === 1;
    });
    const same = randomCrop(x, { padding: 1, seed: centre });
    expect(Array.from(same.dataSync())).toEqual(tiny);
    // Offset (2, 0) with padding 2 on a 3×3 image: out[i, j] = x[i, j − 2].
    const corner = findSeed((s) => {
      const [o] = cropOffsets(s, 1, 2);
      return o?.[0] === 2 && o[1] === 0;
    });
    const shifted = randomCrop(x, { padding: 2, seed: corner });
    expect(Array.from(shifted.dataSync())).toEqual([0, 0, 1, 0, 0, 4, 0, 0, 7]);
    tf.dispose([x, out, same, shifted]);
  });

  it('crops every example of a batch at its own offset, channels kept together (reference check)', () => {
    const shape: [number, number, number, number] = [6, 5, 7, 3];
    const { values, x } = randomImages(shape, 21);
    for (const [padding, seed] of [[1, 4], [2, 5], [4, 6], [9, 7]] as const) {
      const out = randomCrop(x, { padding, seed });
      expect(out.shape).toEqual(shape);
      const offsets = cropOffsets(seed, 6, padding);
      expect(Array.from(out.dataSync())).toEqual(referenceCrop(values, shape, offsets, padding));
      out.dispose();
    }
    x.dispose();
  });

  it('crop: same seed same output, another seed another; padding 0 is a copy; values come from x or are 0', () => {
    const { values, x } = randomImages([16, 8, 8, 2], 3);
    const a = randomCrop(x, { padding: 4, seed: 1 });
    const b = randomCrop(x, { padding: 4, seed: 1 });
    const c = randomCrop(x, { padding: 4, seed: 2 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    const allowed = new Set([0, ...values]);
    expect(Array.from(a.dataSync()).every((v) => allowed.has(v))).toBe(true);
    expect(tf.min(a).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(a).dataSync()[0]).toBeLessThanOrEqual(1);
    const copy = randomCrop(x, { padding: 0, seed: 1 });
    expect(copy).not.toBe(x);
    expect(Array.from(copy.dataSync())).toEqual(values);
    copy.dispose();
    expect(x.isDisposed).toBe(false);
    tf.dispose([x, a, b, c]);
  });

  it('flips by hand, per example: the chosen images mirrored left to right, the others unchanged', () => {
    const seed = findSeed((s) => flips(s, 2).join() === 'true,false');
    const x = tf.tensor4d([...tiny, ...tiny.map((v) => -v)], [2, 3, 3, 1]);
    const out = randomFlip(x, { seed });
    expect(Array.from(out.dataSync())).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7, ...tiny.map((v) => -v)]);
    tf.dispose([x, out]);
  });

  it('flip: twice with one seed is the identity; p = 0 copies, p = 1 mirrors all; rows and channels intact', () => {
    const shape: [number, number, number, number] = [12, 4, 5, 3];
    const { values, x } = randomImages(shape, 9);
    const once = randomFlip(x, { seed: 8 });
    const twice = randomFlip(once, { seed: 8 });
    expect(Array.from(twice.dataSync())).toEqual(values);
    const chosen = flips(8, 12);
    expect(chosen.some(Boolean) && !chosen.every(Boolean)).toBe(true);
    const data = once.dataSync();
    let wrong = 0;
    for (let e = 0; e < 12; e++) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 5; j++) {
          for (let k = 0; k < 3; k++) {
            const sj = chosen[e] ? 4 - j : j;
            if (data[((e * 4 + i) * 5 + j) * 3 + k] !== values[((e * 4 + i) * 5 + sj) * 3 + k]) wrong++;
          }
        }
      }
    }
    expect(wrong).toBe(0);
    const none = randomFlip(x, { probability: 0, seed: 1 });
    expect(Array.from(none.dataSync())).toEqual(values);
    const all = randomFlip(x, { probability: 1, seed: 1 });
    const mirrored = tf.reverse(x, 2);
    expect(Array.from(all.dataSync())).toEqual(Array.from(mirrored.dataSync()));
    expect(Array.from(randomFlip(x, { seed: 8 }).dataSync())).toEqual(Array.from(data));
    tf.dispose([x, once, twice, none, all, mirrored]);
  });

  it('leaks nothing, on success and on errors, which come before any tensor is made', () => {
    const { x } = randomImages([3, 4, 4, 1], 1);
    expectNoLeak(() => randomCrop(x, { padding: 2, seed: 1 }));
    expectNoLeak(() => randomCrop(x, { padding: 0 }));
    expectNoLeak(() => randomFlip(x, { seed: 1 }));
    expectNoLeak(() => randomFlip(x, { probability: 0 }));
    expectNoLeak(() => randomFlip(x, { probability: 1 }));
    const rank3 = tf.zeros([4, 4, 1]);
    const ints = tf.zeros<tf.Rank.R4>([1, 4, 4, 1], 'int32');
    const empty = tf.zeros<tf.Rank.R4>([0, 4, 4, 1]);
    expectThrowsNoLeak(() => randomCrop(rank3 as tf.Tensor4D), /^randomCrop: x must have rank 4 \(got a float32 tensor of shape \[4, 4, 1\]\)$/);
    expectThrowsNoLeak(() => randomCrop(ints), /^randomCrop: x must be a float32 tensor/, TypeError);
    expectThrowsNoLeak(() => randomCrop(empty), /^randomCrop: x must hold at least one example/);
    expectThrowsNoLeak(() => randomCrop(x, { padding: -1 }), /^randomCrop: padding must be an integer >= 0 \(got -1\)$/);
    expectThrowsNoLeak(() => randomCrop(x, { padding: 1.5 }), /^randomCrop: padding must be an integer >= 0 \(got 1.5\)$/);
    expectThrowsNoLeak(() => randomCrop(x, { seed: Infinity }), /^randomCrop: seed must be a finite number \(got Infinity\)$/);
    expectThrowsNoLeak(() => randomCrop(x, { pad: 4 } as never), /^randomCrop: options must only have the keys padding, seed \(got "pad"\)$/);
    expectThrowsNoLeak(() => randomFlip(rank3 as tf.Tensor4D), /^randomFlip: x must have rank 4/);
    expectThrowsNoLeak(() => randomFlip(x, { probability: 1.5 }), /^randomFlip: probability must be a number in \[0, 1\] \(got 1.5\)$/);
    expectThrowsNoLeak(() => randomFlip(x, { probability: NaN }), /^randomFlip: probability must be a number in \[0, 1\] \(got NaN\)$/);
    expectThrowsNoLeak(() => randomFlip(x, { p: 0.5 } as never), /^randomFlip: options must only have the keys probability, seed \(got "p"\)$/);
    tf.dispose([x, rank3, ints, empty]);
  });

  it('cifarAugment: randomCrop then randomFlip, their seeds the first two of createRandom(ctx.seed)', () => {
    const shape: [number, number, number, number] = [8, 6, 6, 3];
    const { values, x } = randomImages(shape, 5);
    const ctx = { seed: 1234, epoch: 2, batch: 5 };
    const rng = createRandom(ctx.seed);
    const cropSeed = rng.nextSeed();
    const flipSeed = rng.nextSeed();
    const cropped = randomCrop(x, { padding: 4, seed: cropSeed });
    const expected = randomFlip(cropped, { seed: flipSeed });
    const out = cifarAugment()(x, ctx);
    expect(out.shape).toEqual(shape);
    expect(Array.from(out.dataSync())).toEqual(Array.from(expected.dataSync()));
    // Only the seed matters: another epoch and batch with the same seed, the same images; another seed, others.
    const again = cifarAugment({ padding: 4, flip: true })(x, { seed: 1234, epoch: 0, batch: 0 });
    expect(Array.from(again.dataSync())).toEqual(Array.from(out.dataSync()));
    const other = cifarAugment()(x, { seed: 1235, epoch: 2, batch: 5 });
    expect(Array.from(other.dataSync())).not.toEqual(Array.from(out.dataSync()));
    // Crop only, flip only, neither (a copy).
    const cropOnly = cifarAugment({ padding: 2, flip: false })(x, ctx);
    const cropRef = randomCrop(x, { padding: 2, seed: cropSeed });
    expect(Array.from(cropOnly.dataSync())).toEqual(Array.from(cropRef.dataSync()));
    const flipOnly = cifarAugment({ padding: 0 })(x, ctx);
    const flipRef = randomFlip(x, { seed: flipSeed });
    expect(Array.from(flipOnly.dataSync())).toEqual(Array.from(flipRef.dataSync()));
    const copy = cifarAugment({ padding: 0, flip: false })(x, ctx);
    expect(copy).not.toBe(x);
    expect(Array.from(copy.dataSync())).toEqual(values);
    expect(x.isDisposed).toBe(false);
    tf.dispose([x, cropped, expected, out, again, other, cropOnly, cropRef, flipOnly, flipRef, copy]);
  });

  it('crops and flips keep what the value checks established about x (the crop\'s range widened to hold 0)', async () => {
    // Values in [0.25, 0.75]: finite and inside [0.2, 1], but a zero-padded crop is not.
    const x = tf.tidy(() => tf.add<tf.Tensor4D>(tf.mul(randomImages([4, 5, 5, 1], 3).x, 0.5), 0.25));
    named('test', () => { checkFiniteExamples('x', x); });
    const cropped = randomCrop(x, { padding: 1, seed: 2 });
    const flipped = randomFlip(x, { seed: 2 });
    const both = cifarAugment()(x, { seed: 3, epoch: 0, batch: 0 });
    expect(await readbacks(() => { named('test', () => { checkInBounds('x', cropped, [0, 1]); }); named('test', () => { checkInBounds('x', both, [0, 1]); }); })).toBe(0);
    expect(await readbacks(() => { named('test', () => { checkInBounds('x', flipped, [0.2, 1]); }); })).toBe(0);
    // The crop's zeros lie outside [0.2, 1]: the check reads the values and says so.
    expect(() => { named('test', () => { checkInBounds('x', cropped, [0.2, 1]); }); }).toThrow(/^test: x must lie inside bounds \[0.2, 1\] \(got "values in \[0, /);
    tf.dispose([x, cropped, flipped, both]);
  });

  it('cifarAugment: named errors for bad options (at the call) and bad batches, with nothing leaked', () => {
    const { x } = randomImages([2, 4, 4, 1], 1);
    const ctx = { seed: 0, epoch: 0, batch: 0 };
    expectNoLeak(() => cifarAugment()(x, ctx));
    expectNoLeak(() => cifarAugment({ flip: false })(x, ctx));
    expectNoLeak(() => cifarAugment({ padding: 0 })(x, ctx));
    expectThrowsNoLeak(() => cifarAugment({ padding: -1 }), /^cifarAugment: padding must be an integer >= 0 \(got -1\)$/);
    expectThrowsNoLeak(() => cifarAugment({ padding: 2.5 }), /^cifarAugment: padding must be an integer >= 0 \(got 2.5\)$/);
    expectThrowsNoLeak(() => cifarAugment({ flip: 'yes' as never }), /^cifarAugment: flip must be a boolean \(got "yes"\)$/, TypeError);
    expectThrowsNoLeak(() => cifarAugment({ pad: 4 } as never), /^cifarAugment: options must only have the keys padding, flip \(got "pad"\)$/);
    expectThrowsNoLeak(() => cifarAugment(null as never), /^cifarAugment: options must be an object \(got null\)$/, TypeError);
    const rank2 = tf.zeros([2, 16]);
    const ints = tf.zeros([2, 4, 4, 1], 'int32');
    const augment = cifarAugment();
    expectThrowsNoLeak(() => augment(rank2, ctx), /^cifarAugment: x must have rank 4 \(got a float32 tensor of shape \[2, 16\]\)$/);
    expectThrowsNoLeak(() => augment(ints, ctx), /^cifarAugment: x must be a float32 tensor/, TypeError);
    expectThrowsNoLeak(() => augment(x, { ...ctx, seed: NaN }), /^cifarAugment: ctx.seed must be a finite number \(got NaN\)$/);
    expectThrowsNoLeak(() => augment(x, undefined as never), /^cifarAugment: ctx must be \{ seed, epoch, batch \} \(got undefined\)$/, TypeError);
    tf.dispose([x, rank2, ints]);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../core/random.js';
import { checkInput, checkKnownKeys, checkTensor, inheritChecks } from '../core/validate.js';
import { finite, resolveFields, unitWeight, type OptionField, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { named } from '../core/errors.js';
import { gatherColumns } from './spatial-gather.js';

/** Options of {@link randomFlip}. */
export interface RandomFlipOptions {
  /** The probability that an image is mirrored. @defaultValue 0.5 */
  readonly probability?: number;
  /** Seed of the coin flips; the same seed flips the same images. @defaultValue random */
  readonly seed?: number;
}

/**
 * How each of {@link RandomFlipOptions} is checked and defaulted (`seed` left out: random; a `null` probability:
 * 0.5). The probability's rule and message are those of a weight: a number in [0, 1].
 */
const RANDOM_FLIP_FIELDS: OptionFields<Omit<RandomFlipOptions, 'seed'>> & { readonly seed: OptionField<number | undefined> } = {
  probability: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ unitWeight(0.5)),
  seed: /* @__PURE__ */ finite()
};

/**
 * Random horizontal flip, the standard CIFAR augmentation (torchvision's `RandomHorizontalFlip(p=0.5)`): each
 * image is mirrored left to right, `out[b, i, j] = x[b, i, W − 1 − j]`, with probability `probability`, and
 * copied unchanged otherwise. The decisions are drawn from `createRandom(seed)`, one `next() < probability` per
 * example in order, so the same seed flips the same images (and flipping twice with one seed restores `x`). The
 * values are those of `x`, so what the value checks established about `x` carries over to the result.
 *
 * @param x - images `[B, H, W, C]` (channels last), float32.
 * @param options - see {@link RandomFlipOptions}.
 * @returns the images, `[B, H, W, C]`; the caller disposes them. `x` is not disposed.
 * @throws TypeError when `x` is not a live float32 tensor; RangeError when it is not rank 4 or holds no image,
 * `probability` is not in [0, 1], `seed` is not finite or an option is unknown.
 * @example
 * const rng = createRandom(0); // once; give the crop and the flip different seeds, or their draws are correlated
 * const cropped = randomCrop(batch.x, { padding: 4, seed: rng.nextSeed() });
 * const xAug = randomFlip(cropped, { seed: rng.nextSeed() });
 * cropped.dispose();
 */
export function randomFlip(x: tf.Tensor4D, options: Readonly<RandomFlipOptions> = {}): tf.Tensor4D {
  return named('randomFlip', () => {
    // The keys are checked before x, the values after it.
    checkKnownKeys(options as Readonly<Record<string, unknown>>, Object.keys(RANDOM_FLIP_FIELDS));
    checkTensor('x', x, { exact: 4 });
    checkInput('x', x);
    const { probability, seed } = resolveFields(options, RANDOM_FLIP_FIELDS);
    const [b, , w] = x.shape;
    const rng = createRandom(seed);
    const cols = new Int32Array(b * w);
    let flipped = 0;
    for (let e = 0; e < b; e++) {
      const flip = rng.next() < probability;
      if (flip) flipped++;
      for (let j = 0; j < w; j++) cols[e * w + j] = flip ? w - 1 - j : j;
    }
    const out = flipped === 0 ? tf.clone(x) : flipped === b ? tf.reverse(x, 2) : gatherColumns(x, cols, w);
    // Pixels only move: what the value checks established about x holds for the result.
    inheritChecks(out, x);
    return out;
  });
}

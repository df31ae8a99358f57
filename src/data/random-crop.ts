import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../core/random.js';
import { checkInput, checkKnownKeys, checkTensor, inheritChecks } from '../core/validate.js';
import { finite, integer, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { gatherColumns, gatherRows } from './spatial-gather.js';

/** Options of {@link randomCrop}. */
export interface RandomCropOptions {
  /** Zero pixels added on each side before cropping back to `H × W`; 0 returns a copy. @defaultValue 4 */
  readonly padding?: number;
  /** Seed of the offsets; the same seed gives the same crops. @defaultValue random */
  readonly seed?: number;
}

/** How each of {@link RandomCropOptions} is checked and defaulted (`seed` left out: random; a `null` padding: 4). */
const RANDOM_CROP_FIELDS: OptionFields<Omit<RandomCropOptions, 'seed'>> & { readonly seed: OptionField<number | undefined> } = {
  padding: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(0, 4)),
  seed: /* @__PURE__ */ finite()
};

/**
 * Random crop with zero padding, the standard CIFAR augmentation (torchvision's `RandomCrop(32, padding=4)`):
 * each image is padded with `padding` zeros on every side and an `H × W` window is cut at a random offset, so
 * the image moves by up to `padding` pixels in each direction and the uncovered border is 0.
 *
 * The offsets are drawn from `createRandom(seed)`, example by example, the row offset then the column offset,
 * each uniform in `0 … 2·padding`: `out[b, i, j] = x[b, i + dy_b − padding, j + dx_b − padding]`, 0 outside `x`.
 * Values of the result are values of `x` or 0: what the value checks established about `x` (finite, inside the
 * box) carries over to it, with the range widened to hold 0, so the attacks run on it read nothing back.
 *
 * @param x - images `[B, H, W, C]` (channels last), float32.
 * @param options - see {@link RandomCropOptions}.
 * @returns the cropped images, `[B, H, W, C]`; the caller disposes them. `x` is not disposed.
 * @throws TypeError when `x` is not a live float32 tensor; RangeError when it is not rank 4 or holds no image,
 * `padding` is not an integer >= 0, `seed` is not finite or an option is unknown.
 * @example
 * const xAug = randomCrop(batch.x, { padding: 4, seed: step });
 */
export function randomCrop(x: tf.Tensor4D, options: Readonly<RandomCropOptions> = {}): tf.Tensor4D {
  return named('randomCrop', () => {
    // The keys are checked before x, the values after it.
    checkKnownKeys(options as Readonly<Record<string, unknown>>, Object.keys(RANDOM_CROP_FIELDS));
    checkTensor('x', x, { exact: 4 });
    checkInput('x', x);
    const { padding, seed } = resolveFields(options, RANDOM_CROP_FIELDS);
    if (padding === 0) {
      const copy = tf.clone(x);
      inheritChecks(copy, x);
      return copy;
    }
    const [b, h, w] = x.shape;
    const rng = createRandom(seed);
    const rows = new Int32Array(b * h);
    const cols = new Int32Array(b * w);
    for (let e = 0; e < b; e++) {
      const dy = rng.nextInt(2 * padding + 1);
      const dx = rng.nextInt(2 * padding + 1);
      for (let i = 0; i < h; i++) rows[e * h + i] = dy + i;
      for (let j = 0; j < w; j++) cols[e * w + j] = dx + j;
    }
    const out = tf.tidy(() => {
      const padded = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]]);
      return gatherColumns(gatherRows(padded, rows, h), cols, w);
    });
    inheritChecks(out, x, 0);
    return out;
  });
}

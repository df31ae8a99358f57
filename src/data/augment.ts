import type * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../core/random.js';
import { checkFinite, checkInput, checkTensor } from '../core/validate.js';
import { flag, integer, parseOptions, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { typeError, named } from '../core/errors.js';
import { randomCrop } from './random-crop.js';
import { randomFlip } from './random-flip.js';

/** What `fit` passes to an {@link Augmentation} with each training batch. */
export interface AugmentContext {
  /** A seed drawn for this batch from `fit`'s seeded source: derive every random draw of the batch from it. */
  readonly seed: number;
  /** 0-based epoch. */
  readonly epoch: number;
  /** 0-based batch within the epoch. */
  readonly batch: number;
}

/**
 * A per-batch augmentation, as `fit`'s `augment` option takes it: the training batch's inputs in, new inputs of the
 * same batch size out (labels are unchanged). Its randomness comes from `ctx.seed` alone, so the same seed gives the
 * same batch and a resumed run stays exact. It must not dispose `x`; the caller disposes what it returns (unless it
 * is `x` itself).
 */
export type Augmentation = (x: tf.Tensor, ctx: Readonly<AugmentContext>) => tf.Tensor;

/** Options of {@link cifarAugment}. */
export interface CifarAugmentOptions {
  /** Zero pixels added on each side before the random crop back to `H × W`; 0 skips the crop. @defaultValue 4 */
  readonly padding?: number;
  /** Mirror each image left to right with probability 0.5. @defaultValue true */
  readonly flip?: boolean;
}

/** How each of {@link CifarAugmentOptions} is checked and defaulted (`null` counts as left out). */
const CIFAR_AUGMENT_FIELDS: OptionFields<CifarAugmentOptions> = {
  padding: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(0, 4)),
  flip: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ flag(true))
};

/**
 * The standard CIFAR augmentation as an {@link Augmentation} for `fit`'s `augment` option: a random crop with zero
 * padding ({@link randomCrop}, pad 4, crop back to 32 × 32 on CIFAR) followed by a random horizontal flip
 * ({@link randomFlip}, p = 0.5), as in He et al. 2016 (arXiv 1512.03385, §4.2) and the robust-training code of
 * Madry et al., TRADES, ARD and RSLAD (torchvision's `RandomCrop(32, padding=4)` then `RandomHorizontalFlip()`).
 *
 * For a batch with seed `s`, `r = createRandom(s)` gives the crop's seed `r.nextSeed()` and then the flip's seed
 * `r.nextSeed()`: `out = randomFlip(randomCrop(x, { padding, seed: s₁ }), { seed: s₂ })`. Only pixels move (and the
 * uncovered border is 0), so the value checks `fit` made of the batch carry over and the attacks read nothing back.
 *
 * @param options - see {@link CifarAugmentOptions}.
 * @returns the augmentation, `(x, ctx) => x'`: `x` images `[B, H, W, C]` (channels last) float32, `x'` of the same
 * shape, owned by the caller; `x` is not disposed.
 * @throws RangeError when `padding` is not an integer >= 0 or an option is unknown; TypeError when `options` is not an
 * object or `flip` is not a boolean. The augmentation throws TypeError/RangeError naming `cifarAugment` when `x` is not a float32 rank-4 batch
 * or `ctx.seed` is not a finite number.
 * @example
 * const history = await fit(net, { x, y }, pgdAt({ eps: 8 / 255 }), { epochs: 100, seed: 0, augment: cifarAugment() });
 * // alone: const xAug = cifarAugment({ padding: 4 })(batch.x, { seed: 7, epoch: 0, batch: 0 });
 */
export function cifarAugment(options: Readonly<CifarAugmentOptions> = {}): Augmentation {
  return named('cifarAugment', () => {
    const { padding, flip } = parseOptions(options, CIFAR_AUGMENT_FIELDS);
    return (x: tf.Tensor, ctx: Readonly<AugmentContext>): tf.Tensor => {
      return named('cifarAugment', () => {
        checkTensor('x', x, { exact: 4 });
        checkInput('x', x);
        if (typeof ctx !== 'object' || (ctx as unknown) === null) typeError('ctx', 'be { seed, epoch, batch }', ctx);
        const rng = createRandom(checkFinite('ctx.seed', ctx.seed));
        const cropSeed = rng.nextSeed();
        const flipSeed = rng.nextSeed();
        const images = x as tf.Tensor4D;
        if (!flip) return randomCrop(images, { padding, seed: cropSeed });
        if (padding === 0) return randomFlip(images, { seed: flipSeed });
        const cropped = randomCrop(images, { padding, seed: cropSeed });
        try {
          return randomFlip(cropped, { seed: flipSeed });
        } finally {
          cropped.dispose();
        }
      });
    };
  });
}

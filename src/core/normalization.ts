import * as tf from '@tensorflow/tfjs-core';
import { checkFunction, optionKeys } from './validate.js';
import { isTensor, rangeError, typeError, named } from './errors.js';
import type { Model } from './model.js';

/**
 * A per-channel input normalisation `(x − mean)/std` over the last (channel) axis, as in torchvision's
 * `transforms.Normalize` (e.g. CIFAR-10's `mean: [0.4914, 0.4822, 0.4465]`, `std: [0.2471, 0.2435, 0.2616]`).
 */
export interface NormalizationOptions {
  /** One finite mean per channel. */
  readonly mean: readonly number[];
  /** One standard deviation per channel, each a finite number > 0; as many as `mean`. */
  readonly std: readonly number[];
}

const KEYS = optionKeys<NormalizationOptions>()('mean', 'std');

/**
 * Checks a {@link NormalizationOptions} value (`arg` names it in messages, `arg.mean` and `arg.std` its fields; with
 * `arg` empty, `mean` and `std`) and, when `channels` is given, that it has one entry per channel.
 *
 * @internal
 */
export function checkNormalization(arg: string, value: unknown, channels?: number): { mean: number[]; std: number[] } {
  const name = arg === '' ? 'normalization' : arg;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) typeError(name, 'be an object { mean, std }', value);
  const given = value as Partial<Record<'mean' | 'std', unknown>>;
  for (const key of Object.keys(given)) {
    if (!(KEYS as readonly string[]).includes(key)) rangeError(name, `only have the keys ${KEYS.join(', ')}`, key);
  }
  const { mean, std } = given;
  const prefix = arg === '' ? '' : `${arg}.`;
  if (!Array.isArray(mean) || mean.length === 0 || !mean.every((m) => typeof m === 'number' && Number.isFinite(m))) {
    rangeError(`${prefix}mean`, 'be a non-empty array of finite numbers, one per channel', mean);
  }
  if (!Array.isArray(std) || std.length !== mean.length) {
    rangeError(`${prefix}std`, `be an array of the length of ${prefix}mean (${mean.length})`, std);
  }
  if (!std.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0)) {
    rangeError(`${prefix}std`, 'hold finite numbers > 0', std);
  }
  if (channels !== undefined && mean.length !== channels) {
    rangeError(`${prefix}mean`, `have one entry per input channel (${channels})`, mean);
  }
  return { mean: [...(mean as number[])], std: [...(std as number[])] };
}

/**
 * Puts a per-channel normalisation in front of a model: the returned model computes `model((x − mean)/std)`, the
 * division and subtraction broadcast over the last axis (NHWC channels). Attacks, losses and `fit` then work in the
 * `[0, 1]` input box (ε in pixel units, as robust-training code reports it) while the network sees normalised inputs,
 * as PyTorch code that normalises inside the model does. The `ardkit/models` builders take the same option and build
 * it into the tfjs-layers model instead (`normalization: { mean, std }`), so that it is saved with the model.
 *
 * @param model - any {@link Model} `x ↦ logits`.
 * @param normalization - `{ mean, std }`, one entry per channel each; see {@link NormalizationOptions}.
 * @returns the model `x ↦ model((x − mean)/std)`; its logits are owned by the caller, and every intermediate is
 * released.
 * @throws TypeError when `model` is not a function or `normalization` not an object; RangeError when `mean` is not a
 * non-empty array of finite numbers, `std` not an array of the same length holding finite numbers > 0, or an unknown
 * key is given; and (from the returned model) TypeError when `x` is not a tensor, RangeError when the last axis of `x`
 * is not as long as `mean`.
 * @example
 * const cifarNet = withNormalization(fromLayersModel(net), { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] });
 * const xAdv = pgd(cifarNet, x, y, { eps: 8 / 255 }); // x and xAdv stay in [0, 1]
 */
export function withNormalization(model: Model, normalization: Readonly<NormalizationOptions>): Model {
  return named('withNormalization', () => {
    checkFunction('model', model);
    const { mean, std } = checkNormalization('', normalization);
    return (x: tf.Tensor): tf.Tensor2D => {
      return named('withNormalization', () => {
        if (!isTensor(x)) typeError('x', 'be a tf.Tensor', x);
        if (x.rank < 1 || x.shape[x.rank - 1] !== mean.length) {
          rangeError('x', `have ${mean.length} channels on its last axis (the length of mean and std)`, x);
        }
        return tf.tidy(() => model(tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std))));
      });
    };
  });
}

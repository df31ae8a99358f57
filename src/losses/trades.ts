import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNonNegative, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { checkLossInputs, checkReduction, klPerExample, requireInput } from './validate.js';

/** The logits {@link tradesLoss} needs. */
export interface TradesInputs {
  /** `f(x)`, logits on clean inputs `[B, C]`. */
  readonly clean: tf.Tensor2D;
  /** `f(x')`, logits on adversarial inputs (the TRADES-KL attack), `[B, C]`. */
  readonly adv: tf.Tensor2D;
  /** `[B]` int32 labels. */
  readonly labels: tf.Tensor1D;
}

/** Options of {@link tradesLoss}. */
export interface TradesOptions {
  /** Weight β of the robustness term. @defaultValue 6 (the paper's CIFAR-10 value; it uses 1 for MNIST) */
  readonly beta?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/**
 * TRADES (Zhang et al. 2019, arXiv 1901.08573): `CE(f(x), y) + β·KL(σ(f(x)) ‖ σ(f(x')))`.
 * The KL is the per-example sum over classes; `'mean'` averages over examples (PyTorch's `batchmean`;
 * the reference code's `sum / B` is the same).
 *
 * @param inputs - see {@link TradesInputs}.
 * @param options - see {@link TradesOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, labels out of range, a negative or non-finite β; TypeError for wrong dtypes.
 * @example
 * const xAdv = tradesAttack(model, x, y, { eps: 0.3, steps: 40, stepSize: 0.01 });
 * const loss = tradesLoss({ clean: model(x), adv: model(xAdv), labels: y }, { beta: 1 });
 */
export function tradesLoss<O extends Readonly<TradesOptions> = DefaultReduction>(inputs: Readonly<TradesInputs>, options: O = {} as O): Reduced<O> {
  const fn = 'tradesLoss';
  checkKnownKeys(fn, options, optionKeys<TradesOptions>()('beta', 'reduction'));
  const beta = options.beta === undefined ? 6 : checkNonNegative(fn, 'beta', options.beta);
  const reduction = checkReduction(fn, options.reduction);
  const { logits, labels } = checkLossInputs(fn, inputs, { required: ['clean', 'adv'], labels: 'required' });
  const y = requireInput(fn, 'inputs.labels', labels, 'for the cross-entropy term');
  return (tf.tidy(() =>
    reduce(tf.add(crossEntropyPerExample(logits.clean, y), tf.mul(klPerExample(logits.clean, logits.adv), beta)), reduction, fn)
  )) as Reduced<O>;
}

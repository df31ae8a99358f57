import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { nonNegative, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { klPerExample } from './kl.js';
import { checkLossInputs, requireInput } from './validate.js';

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
  return named('tradesLoss', () => {
    const config = resolveTradesOptions(options);
    const { logits, labels } = checkLossInputs(inputs, { required: ['clean', 'adv'], labels: 'required' });
    const y = requireInput('inputs.labels', labels, 'for the cross-entropy term');
    return tradesLossCore({ clean: logits.clean, adv: logits.adv, labels: y }, config) as Reduced<O>;
  });
}

/** {@link TradesOptions} resolved: every default filled in, every value checked. */
export type TradesConfig = Resolved<TradesOptions>;

/** How each of {@link TradesOptions} is checked and defaulted; the `trades` objective takes β from here. Internal. */
export const TRADES_FIELDS: OptionFields<TradesOptions> = {
  beta: /* @__PURE__ */ nonNegative(6),
  reduction: REDUCTION_FIELD
};

/**
 * Resolves {@link tradesLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, a negative or non-finite β, or an unknown reduction.
 */
export function resolveTradesOptions(options: Readonly<TradesOptions>): TradesConfig {
  return parseOptions(options, TRADES_FIELDS);
}

/** {@link tradesLoss} on logits of one shape `[B, C]`, labels in range, and a resolved config, unchecked. Internal. */
export function tradesLossCore(inputs: Readonly<TradesInputs>, config: TradesConfig): tf.Tensor {
  return tf.tidy(() =>
    applyReduction(
      tf.add(crossEntropyPerExample(inputs.clean, inputs.labels), tf.mul(klPerExample(inputs.clean, inputs.adv), config.beta)),
      config.reduction
    )
  );
}

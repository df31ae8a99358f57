import * as tf from '@tensorflow/tfjs-core';
import { oneOf, type OptionField } from '../core/options.js';

/**
 * How a distillation loss scales its KL terms per example: `'batchmean'` keeps the KL (the sum over classes), so
 * `reduction: 'mean'` gives PyTorch's `KLDivLoss(reduction='batchmean')`; `'classMean'` divides it by the number of
 * classes C, so `reduction: 'mean'` gives PyTorch's default element-mean `KLDivLoss()`, the convention of the
 * ARD, RSLAD, MTARD and AdaAD (CIFAR-10) reference code.
 */
export type KlReduction = 'batchmean' | 'classMean';

/** The allowed {@link KlReduction} values. */
export const KL_REDUCTIONS: readonly KlReduction[] = ['batchmean', 'classMean'];

/** The `klReduction` option of the distillation losses: one of {@link KL_REDUCTIONS}, `'batchmean'` when left out. */
export const KL_REDUCTION_FIELD: OptionField<KlReduction> = /* @__PURE__ */ oneOf(KL_REDUCTIONS, 'batchmean');

/** The factor a {@link KlReduction} applies to each per-example KL of logits `[B, C]`: 1, or 1/C. */
export function klFactor(klReduction: KlReduction, logits: tf.Tensor2D): number {
  return klReduction === 'classMean' ? 1 / (logits.shape[1] ?? 1) : 1;
}

/** `log σ(z/τ)`, unchecked. */
export function logSoftmaxT(logits: tf.Tensor, temperature: number): tf.Tensor2D {
  return tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature)) as tf.Tensor2D;
}

/**
 * Per-example `KL(σ(a) ‖ σ(b))`, `a = p/τ_p`, `b = q/τ_q`, from logits, unchecked.
 *
 * `KL = Σ_c P_c·d_c − δ` with `d = a − b` and `δ = LSE(a) − LSE(b)`. For nearly equal distributions (high
 * temperatures, e.g. ARD's τ = 30, where the KL is ~1e-3 and is then scaled by τ²) subtracting two log-softmax
 * vectors loses the result to float32 cancellation, so there `δ = m + log1p(Σ_c Q_c·expm1(d_c − m))`,
 * `m = max_c d_c`, which keeps ~1e-6 relative accuracy. Where the distributions are far apart that sum
 * underflows, the KL is large, and the plain difference of log-sum-exps is accurate: each example takes the
 * form that suits it. A zero target probability contributes exactly 0.
 */
export function klPerExample(targetLogits: tf.Tensor, inputLogits: tf.Tensor, targetTemperature = 1, inputTemperature = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const a = targetTemperature === 1 ? targetLogits : tf.div(targetLogits, targetTemperature);
    const b = inputTemperature === 1 ? inputLogits : tf.div(inputLogits, inputTemperature);
    const d = tf.sub(a, b);
    const m = tf.max(d, 1, true);
    const s = tf.sum(tf.mul(tf.softmax(b), tf.expm1(tf.sub(d, m))), 1);
    // 1 where the sum is well away from −1 (tf.step has a zero gradient, a comparison has none in tfjs).
    const nearby = tf.step(tf.add(s, 0.5));
    // Both branches stay finite everywhere, so the blend's gradient never meets 0·∞.
    const precise = tf.add(tf.squeeze(m, [1]), tf.log1p(tf.mul(nearby, s)));
    const plain = tf.sub(tf.logSumExp(a, 1), tf.logSumExp(b, 1));
    const delta = tf.add(tf.mul(nearby, precise), tf.mul(tf.sub(1, nearby), plain));
    return tf.sub<tf.Tensor1D>(tf.sum(tf.mul(tf.softmax(a), d), 1), delta);
  });
}

/** Smallest probability used inside logarithms of given probabilities: keeps `0·log 0` and its gradient finite. */
export const PROB_FLOOR = 1e-30;

/**
 * Per-example `KL(q ‖ σ(z/τ)) = Σ_c q_c (log q_c − log σ(z/τ)_c)` for target **probabilities** `q`, unchecked.
 * `q_c = 0` contributes 0, with a finite gradient with respect to `q`.
 */
export function klFromProbsPerExample(targetProbs: tf.Tensor, inputLogits: tf.Tensor, inputTemperature = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const logQ = logSoftmaxT(inputLogits, inputTemperature);
    const logP = tf.log(tf.maximum(targetProbs, PROB_FLOOR));
    return tf.sum<tf.Tensor1D>(tf.mul(targetProbs, tf.sub(logP, logQ)), 1);
  });
}

/** `log σ(z)_y` per example, unchecked. */
export function trueClassLogProb(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum<tf.Tensor1D>(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, logits.shape[1])), 1));
}

/** `σ(z)_y` per example, unchecked. */
export function trueClassProb(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum<tf.Tensor1D>(tf.mul(tf.softmax(logits), tf.oneHot(labels, logits.shape[1])), 1));
}

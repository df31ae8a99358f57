import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';

/**
 * A per-example loss of logits and labels, `(logits [B, C], labels [B]) ↦ [B]`, that an attack maximises
 * (or minimises toward the target when targeted).
 */
export type LossFn = (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor;

/** The built-in attack losses: softmax cross-entropy or the Carlini–Wagner margin. */
export type AttackLoss = 'ce' | 'cw' | LossFn;

/**
 * Any attack in the shape `evaluate` (from `ardkit/eval`) runs: clean inputs and labels in, adversarial inputs out
 * (same shape, owned by the caller).
 *
 * @example
 * const pgd20: Attack = (model, x, y) => pgd(model, x, y, { eps: 0.3, steps: 20 });
 */
export type Attack = (model: Model, x: tf.Tensor, y: tf.Tensor1D) => tf.Tensor;

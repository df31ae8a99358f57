import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';

/**
 * A per-example loss of logits and labels, `(logits [B, C], labels [B]) ↦ [B]`, that an attack maximises
 * (or minimises toward the target when targeted).
 */
export type LossFn = (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor;

/** The built-in attack losses: softmax cross-entropy or the Carlini–Wagner margin. */
export type AttackLoss = 'ce' | 'cw' | LossFn;

/** What a caller can set for one call of an {@link Attack}. */
export interface AttackCall {
  /**
   * Seed of this call's randomness (random starts, Square's proposals); it overrides the attack's own seed. `fit`
   * gives every batch a fresh one from its seeded source, so that runs repeat.
   */
  readonly seed?: number;
}

/**
 * Any attack: clean inputs and labels in, adversarial inputs out (same shape, owned by the caller). A function you
 * write is one; so is every value the attack factories make (`pgdAttack`, `apgdAttack`, `squareAttack`, …), which
 * also honour {@link AttackCall.seed}.
 *
 * @example
 * const pgd20: Attack = pgdAttack({ eps: 0.3, steps: 20 });
 * const mine: Attack = (model, x, y) => pgd(model, x, y, { eps: 0.3, loss: myLoss });
 */
export type Attack = (model: Model, x: tf.Tensor, y: tf.Tensor1D, call?: AttackCall) => tf.Tensor;

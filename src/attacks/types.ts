import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import type { Bounds } from '../core/validate.js';
import type { Norm } from './norms.js';

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

/** The threat model an attack respects: `‖x' − x‖ ≤ eps` in `norm`, `x'` inside `bounds`. */
export interface ThreatModel {
  /**
   * The radius ε, in input units; `Infinity` for a minimal-perturbation attack run without a bound (`deepFoolAttack`
   * without `eps`), which no ε-bounded evaluation or objective should count as one of its own.
   */
  readonly eps: number;
  /** The norm of the ball. */
  readonly norm: Norm;
  /** The valid input box. */
  readonly bounds: Bounds;
}

/**
 * What {@link Attack.detailed} returns: `x'` and what the attack knows per point, as tensors that stay on the device.
 * The caller disposes every tensor present.
 */
export interface AttackOutput<T extends tf.Tensor = tf.Tensor> {
  /** `x'`, same shape and dtype as `x`; the caller disposes it. */
  readonly xAdv: T;
  /** `[B]` int32: model queries spent per point (black-box attacks); the caller disposes it. */
  readonly queries?: tf.Tensor1D;
  /** `[B]` bool: true where the attack found a misclassified `x'` (attacks that track it); the caller disposes it. */
  readonly success?: tf.Tensor1D;
}

/**
 * What ardkit takes where it takes an attack (`evaluate`, `worstCase`, `multiAttack`, `robustnessCurve`,
 * `transferability`, every objective's `attack` option): an {@link Attack} made by a factory (every one is an
 * `AttackFunction`), or a plain function you write, clean inputs and labels in, adversarial inputs `x'` out. A plain
 * function is turned into an {@link Attack} once, at that boundary: that is where its output is checked (a tensor of
 * the input's shape and dtype, inside the objective's box where there is one). It may return `x` itself; it is cloned
 * then.
 *
 * @example
 * const mine: AttackFunction = (model, x, y) => pgd(model, x, y, { eps: 0.3, loss: myLoss });
 */
export type AttackFunction = (model: Model, x: tf.Tensor, y: tf.Tensor1D, call?: AttackCall) => tf.Tensor;

/**
 * An attack, torchattacks-style (its `Attack` base class): configured once by a factory (`pgdAttack`, `apgdAttack`,
 * `squareAttack`, …), which checks its options when it is made, and called anywhere the same way,
 * `attack(model, x, y, { seed })`, returning adversarial inputs `x'` of the input's shape and type, inside the
 * threat model's box, owned by the caller. A call checks its inputs only, never the options again. Per-point detail
 * (Square's query counts, FAB's success) comes from {@link Attack.detailed}; a plain call releases it.
 *
 * Made only by the factories (a plain {@link AttackFunction} is turned into one where ardkit takes attacks).
 *
 * @example
 * const pgd20: Attack = pgdAttack({ eps: 0.3, steps: 20 });
 * const xAdv = pgd20(model, x, y, { seed: 1 });                   // a Tensor4D for a Tensor4D x
 * const r = await evaluate(model, x, y, { attacks: { pgd20 } });
 */
export interface Attack {
  /** Runs the attack: `x'` with the shape and type of `x`, inside the threat model's box; the caller disposes it. */
  <T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, call?: AttackCall): T;
  /** The factory that made it, e.g. `'pgdAttack'` (or the name of the plain function it wraps); errors of its calls name it. */
  readonly attackName: string;
  /**
   * The threat model it respects; undefined for a plain {@link AttackFunction} taken where no threat model is known
   * (`evaluate`, `worstCase`, `multiAttack`, `transferability`).
   */
  readonly threat: ThreatModel | undefined;
  /** The same attack, returning `x'` with its per-point detail; the caller disposes every tensor of the output. */
  detailed<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, call?: AttackCall): AttackOutput<T>;
}

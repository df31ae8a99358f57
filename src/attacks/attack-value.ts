import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import type { Bounds } from '../core/validate.js';
import type { Norm } from './norms.js';
import { checkSeed } from './options.js';
import type { Attack, AttackCall } from './types.js';

/** The threat model an attack value respects: `‖x' − x‖ ≤ eps` in `norm`, `x'` inside `bounds`. */
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
 * What an attack value returns through {@link AttackValue.detailed}: `x'` and what the attack knows per point, as
 * tensors that stay on the device. The caller disposes every tensor present.
 */
export interface AttackOutput {
  /** `x'`, same shape as `x`; the caller disposes it. */
  readonly xAdv: tf.Tensor;
  /** `[B]` int32: model queries spent per point (black-box attacks); the caller disposes it. */
  readonly queries?: tf.Tensor1D;
  /** `[B]` bool: true where the attack found a misclassified `x'` (attacks that track it); the caller disposes it. */
  readonly success?: tf.Tensor1D;
}

/**
 * An attack configured once by a factory (`pgdAttack`, `apgdAttack`, `squareAttack`, …), torchattacks-style: its
 * options are checked when it is made, and every call takes `(model, x, y)` and returns `x'`, so it goes wherever an
 * {@link Attack} goes (`evaluate`, `worstCase`, `robustnessCurve`, `transferability`, and every objective's `attack`
 * option). Per-point detail (Square's query counts) comes from {@link AttackValue.detailed}; a plain call releases it.
 */
export interface AttackValue extends Attack {
  /** The factory that made it, e.g. `'pgdAttack'`; errors of its calls name it. */
  readonly attackName: string;
  /** The threat model it respects. */
  readonly threat: ThreatModel;
  /** The same attack, returning `x'` with its per-point detail; the caller disposes every tensor of the output. */
  detailed(model: Model, x: tf.Tensor, y: tf.Tensor1D, call?: AttackCall): AttackOutput;
}

/**
 * Wraps a validated attack as an {@link AttackValue}. `run` gets the seed of the call (the call's own, else the
 * factory's): it runs a configuration resolved once, when the value was made, and never checks options again. The
 * call's own seed is an input of the call: it is checked here, per call (a finite number), with errors naming `name`.
 */
export function attackValue(
  name: string,
  threat: ThreatModel,
  seed: number | undefined,
  run: (model: Model, x: tf.Tensor, y: tf.Tensor1D, seed: number | undefined) => AttackOutput
): AttackValue {
  const detailed = (model: Model, x: tf.Tensor, y: tf.Tensor1D, call?: AttackCall): AttackOutput => run(model, x, y, checkSeed(name, call?.seed) ?? seed);
  const attack = (model: Model, x: tf.Tensor, y: tf.Tensor1D, call?: AttackCall): tf.Tensor => {
    const out = detailed(model, x, y, call);
    tf.dispose([out.queries, out.success].filter((t): t is tf.Tensor1D => t !== undefined));
    return out.xAdv;
  };
  return Object.assign(attack, { attackName: name, threat, detailed });
}

/**
 * Whether an attack is an {@link AttackValue}: made by a factory, so it carries its threat model and detail channel.
 *
 * @param attack - any value.
 * @returns true for attack values, false for plain attack functions and anything else.
 * @throws never throws.
 * @example
 * if (isAttackValue(attack)) console.log(attack.attackName, attack.threat.eps);
 */
export function isAttackValue(attack: unknown): attack is AttackValue {
  return typeof attack === 'function' && typeof (attack as Partial<AttackValue>).attackName === 'string' && typeof (attack as Partial<AttackValue>).threat === 'object';
}

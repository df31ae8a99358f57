import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkInBounds, type Bounds } from '../core/validate.js';
import { isTensor, rangeError, typeError, named, argumentError, runningName } from '../core/errors.js';
import { checkSeed } from './options.js';
import type { Attack, AttackCall, AttackFunction, AttackOutput, ThreatModel } from './types.js';

/**
 * The mark of an {@link Attack} made by a factory. A registered symbol, so that two copies of ardkit (its ESM and CJS
 * builds, or two entry points bundled apart) recognise each other's attacks.
 */
const MADE = Symbol.for('ardkit.attack');

/**
 * Makes an {@link Attack}, the one place that does. `run` gets the seed of the call (the call's own, else `seed`, the
 * factory's): it runs a configuration resolved once, when the attack was made, and never checks options again. The
 * call's own seed is an input of the call: it is checked here, per call (a finite number), with errors naming `name`.
 * `run` returns `x'` of the input's shape and dtype. Internal.
 */
export function makeAttack(
  name: string,
  threat: ThreatModel | undefined,
  seed: number | undefined,
  run: (model: Model, x: tf.Tensor, y: tf.Tensor1D, seed: number | undefined) => AttackOutput,
  context: string | undefined = name
): Attack {
  // The runners return x' of the input's shape and dtype: the one place the input's tensor type is carried over.
  const detailed = <T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, call?: AttackCall): AttackOutput<T> =>
    runNamed(context, () => run(model, x, y, checkSeed(call?.seed) ?? seed) as AttackOutput<T>);
  const attack = <T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, call?: AttackCall): T => {
    const out = detailed(model, x, y, call);
    tf.dispose([out.queries, out.success].filter((t): t is tf.Tensor1D => t !== undefined));
    return out.xAdv;
  };
  return Object.assign(attack, { attackName: name, threat, detailed, [MADE]: true });
}

/**
 * Whether a value is an {@link Attack}: made by a factory (`pgdAttack`, `apgdAttack`, `squareAttack`, …), so it carries
 * its name, its threat model and its detail channel. A plain function `(model, x, y) => x'` is not one.
 *
 * @param attack - any value.
 * @returns true for attacks made by ardkit's factories, false for plain functions and anything else.
 * @throws never throws.
 * @example
 * if (isAttack(attack)) console.log(attack.attackName, attack.threat?.eps);
 */
export function isAttack(attack: unknown): attack is Attack {
  return named('isAttack', () => {
    return typeof attack === 'function' && (attack as unknown as Record<symbol, unknown>)[MADE] === true;
  });
}

/**
 * The former name of {@link Attack}.
 * @deprecated Use {@link Attack}: every attack made by a factory is one. Removed in the next minor release.
 */
export type AttackValue = Attack;

/**
 * The former name of {@link isAttack}.
 *
 * @param attack - any value.
 * @returns what {@link isAttack} returns.
 * @throws never throws.
 * @example
 * isAttackValue(pgdAttack({ eps: 0.3 })); // true
 * @deprecated Use {@link isAttack}. Removed in the next minor release.
 */
export function isAttackValue(attack: unknown): attack is Attack {
  return named('isAttackValue', () => {
    return isAttack(attack);
  });
}

/**
 * Takes an attack where ardkit accepts one (`evaluate`, `worstCase`, `multiAttack`, `transferability`, the objectives):
 * an {@link Attack} made by a factory passes as it is (its outputs are right by construction); a plain
 * {@link AttackFunction} is wrapped, once, into an {@link Attack} whose calls check the function's output: a tensor of
 * the input's shape and dtype and, where `box` is known (the objectives' bounds), inside it (a value check queued on
 * the device on webgl and webgpu, read with the next readback). An output that is `x` itself is cloned, so that the
 * caller owns what it gets. This is the only place that checks an attack's output; errors name the function running and `arg`.
 * Internal.
 *
 * @throws TypeError when `attack` is not a function (when taken); RangeError when the wrapped function returns
 * something other than inputs of the batch's shape and dtype, or outside `box` (when called).
 */
/** Runs `body` named `context` (see `named`), or as it is without one. */
function runNamed<R>(context: string | undefined, body: () => R): R {
  return context === undefined ? body() : named(context, body);
}

/**
 * An attack function of ardkit (`pgd`, `fgsm`, …) passed where an attack goes is called without its options and
 * fails on them: the error then says to pass the configured attack its factory makes. Other errors pass unchanged.
 */
function functionFormHint(arg: string, user: AttackFunction, error: unknown): unknown {
  const formOf = /^(\w+): options must|^(\w+): (eps|options)\b/.exec(error instanceof Error ? error.message : '');
  if (user.length < 4 || !(error instanceof TypeError || error instanceof RangeError) || formOf === null) return error;
  const form = user.name === '' ? 'pgd' : user.name;
  return argumentError(TypeError, `${arg} must be an attack that runs as (model, x, y), such as ${form}Attack({ eps, … }) (got ${form}, an attack function that needs its options: ${error.message})`,
    { cause: error }
  );
}

export function toAttack(arg: string, attack: unknown, box?: ThreatModel): Attack {
  if (isAttack(attack)) return attack;
  if (typeof attack !== 'function') typeError(arg, 'be a function (model, x, y) => xAdv or an attack made by a factory (pgdAttack(…), …)', attack);
  const user = attack as AttackFunction;
  const name = user.name === '' ? arg : user.name;
  // Its calls' errors name the function that took it (runningName() now: evaluate, an objective, …), not the user's function.
  const consumer = runningName();
  return makeAttack(name, box, undefined, (model, x, y, seed) => {
    let out: unknown;
    try {
      out = user(model, x, y, seed === undefined ? undefined : { seed });
    } catch (error) {
      throw functionFormHint(arg, user, error);
    }
    return { xAdv: checkOutput(arg, out, x, box?.bounds) };
  }, consumer);
}

/** A plain attack's output checked: a tensor of the input's shape and dtype, inside `bounds` when given; `x` cloned. */
function checkOutput(arg: string, out: unknown, x: tf.Tensor, bounds: Bounds | undefined): tf.Tensor {
  if (!isTensor(out) || out.rank !== x.rank || out.shape.some((d, i) => d !== x.shape[i])) {
    if (isTensor(out) && out !== x) out.dispose();
    rangeError(arg, `return adversarial inputs of the batch's shape [${x.shape.join(', ')}]`, out);
  }
  if (out.dtype !== x.dtype) {
    if (out !== x) out.dispose();
    rangeError(arg, `return adversarial inputs of the batch's dtype ${x.dtype}`, out);
  }
  if (out === x) return tf.clone(x);
  if (bounds !== undefined) {
    try {
      checkInBounds(`${arg}'s x'`, out, bounds);
    } catch (error) {
      out.dispose();
      throw error;
    }
  }
  return out;
}

/**
 * Rejects an attack without a finite ε (`deepFoolAttack()` or `cwL2Attack()` without `eps`): a minimum-norm
 * attack run without a bound breaks nearly every point at some distance, so accuracy under it is not robust accuracy.
 * Internal.
 */
export function checkBoundedAttack(arg: string, attack: Attack): void {
  if (attack.threat === undefined || Number.isFinite(attack.threat.eps)) return;
  rangeError(arg, `be bounded: ${attack.attackName} was made without eps, so it counts points broken at any distance; give it eps (the radius robust accuracy is measured at)`, attack.threat.eps);
}

/**
 * Named attacks (an object, in insertion order, or an array, named by index) taken at a boundary, once: each a
 * bounded {@link Attack} or a plain function, wrapped by {@link toAttack}. `empty` says whether none is allowed.
 * Internal; `evaluate`, `worstCase` and `multiAttack` take their attacks through it.
 *
 * @throws TypeError when `attacks` is not an object or an entry is not a function; RangeError for no attacks (unless
 * `empty`) or an unbounded attack.
 */
export function attackEntries<K extends string>(attacks: unknown, empty = false): Array<[K, Attack]> {
  if (typeof attacks !== 'object' || attacks === null) {
    typeError('attacks', 'be an object (or array) of attacks (pgdAttack(…), …) or functions (model, x, y) => xAdv', attacks);
  }
  const entries = Object.entries(attacks as Record<string, unknown>);
  if (entries.length === 0 && !empty) rangeError('attacks', 'hold at least one attack', attacks);
  return entries.map(([name, value]) => {
    const arg = `attacks.${name}`;
    const attack = toAttack(arg, value);
    checkBoundedAttack(arg, attack);
    return [name as K, attack];
  });
}

import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../../core/model.js';
import { checkKnownKeys, type Bounds } from '../../core/validate.js';
import { isTensor, rangeError, typeError } from '../../core/errors.js';
import { resolvePerturbation, type PerturbationOptions } from '../../attacks/options.js';
import type { Student } from '../student.js';
import type { BatchContext } from '../objective.js';

/** The attack options every adversarial objective takes (ε is required; the rest as in `pgd`). */
export type AttackSettings = Omit<PerturbationOptions, 'seed'>;

/** The keys of {@link AttackSettings}. */
export const ATTACK_KEYS = ['eps', 'norm', 'steps', 'stepSize', 'randomStart', 'normalStd', 'bounds'] as const;

/**
 * Validates an objective's options: only `known` keys plus the attack keys, attack settings valid (ε given).
 * Returns the attack settings to spread into the attack call (with a fresh seed per batch).
 */
export function checkObjectiveOptions(
  fn: string,
  options: unknown,
  known: readonly string[],
  defaults: { randomStart: 'uniform' | 'normal'; steps: number }
): AttackSettings & { readonly bounds: Bounds } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError(fn, 'options', 'be an object with at least eps', options);
  checkKnownKeys(fn, options, [...known, ...ATTACK_KEYS]);
  const o = options as AttackSettings;
  const r = resolvePerturbation(fn, { ...o }, defaults);
  return {
    eps: r.eps,
    norm: r.norm,
    steps: r.steps,
    stepSize: r.stepSize,
    randomStart: r.randomStart,
    normalStd: r.normalStd,
    bounds: r.bounds
  };
}

/** Checks that each teacher maps the sample to logits `[1, C]` with the student's C. */
export function checkTeachers(fn: string, teachers: ReadonlyArray<readonly [string, Model]>, numClasses: number, sample: tf.Tensor): void {
  for (const [name, teacher] of teachers) {
    const out = teacher(sample);
    if (!isTensor(out) || out.rank !== 2 || out.shape[0] !== 1) rangeError(fn, name, 'return logits [B, C]', out);
    if (out.shape[1] !== numClasses) {
      rangeError(fn, name, `have the student's number of classes (${String(numClasses)})`, out.shape[1]);
    }
  }
}

/** The student's logits in training mode (other outputs are released with the tape's scope). */
export function logitsOf(student: Student, x: tf.Tensor): tf.Tensor2D {
  return student.forward(x, true).logits;
}

/**
 * Fraction of training done at this batch, counting batches within the epoch where their number is known:
 * `(epoch + batch / batchesPerEpoch) / epochs` (else `epoch / epochs`).
 */
export function batchProgress(ctx: BatchContext): number {
  const within = ctx.batchesPerEpoch === undefined ? 0 : Math.min(1, ctx.batch / ctx.batchesPerEpoch);
  return (ctx.epoch + within) / ctx.epochs;
}

/**
 * Checks an optional fraction in [0, 1] and returns it, or `fallback` when it is `undefined`.
 *
 * @throws RangeError naming `fn` and `name` when the value is not a number in [0, 1].
 */
export function checkFraction(fn: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) rangeError(fn, name, 'be a fraction in [0, 1]', value);
  return value;
}

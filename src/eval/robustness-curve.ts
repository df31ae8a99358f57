import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkFiniteExamples, checkFunction, checkInput, checkKnownKeys, checkLabels, checkLabelsAsync, checkNonNegative, optionKeys } from '../core/validate.js';
import { callable, integer, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, named } from '../core/errors.js';
import type { AttackFunction } from '../attacks/types.js';
import { attackEntries } from '../attacks/attack.js';
import { runEvaluation } from './evaluate.js';

/** Progress of {@link robustnessCurve}, reported after each ε. */
export interface RobustnessCurveProgress {
  /** The ε just measured. */
  readonly eps: number;
  /** Its position in `epsilons`, from 0. */
  readonly index: number;
  /** How many ε there are. */
  readonly count: number;
  /** Robust accuracy at this ε. */
  readonly accuracy: number;
}

/** Options of {@link robustnessCurve}. */
export interface RobustnessCurveOptions {
  /** Examples per batch. @defaultValue 256 */
  readonly batchSize?: number;
  /** Called after each ε. */
  readonly onProgress?: (progress: RobustnessCurveProgress) => void;
}

/** How each of {@link RobustnessCurveOptions} is checked and defaulted (`onProgress` stays undefined when left out). */
const ROBUSTNESS_CURVE_FIELDS: OptionFields<Omit<RobustnessCurveOptions, 'onProgress'>> & {
  readonly onProgress: OptionField<((progress: RobustnessCurveProgress) => void) | undefined>;
} = {
  batchSize: /* @__PURE__ */ integer(1, 256),
  onProgress: /* @__PURE__ */ callable<(progress: RobustnessCurveProgress) => void>()
};

/** What {@link robustnessCurve} measured. Accuracies are fractions in `[0, 1]`. */
export interface RobustnessCurve {
  /** The radii, in the order given. */
  readonly epsilons: readonly number[];
  /** Robust accuracy at each ε (correct on `x` and on the attack's `x'`). */
  readonly accuracy: readonly number[];
  /** Clean accuracy. */
  readonly clean: number;
  /** Per ε, 1 where the point is robust. */
  readonly perPoint: readonly Uint8Array[];
  /** Seconds the attack took at each ε. */
  readonly seconds: readonly number[];
}

/**
 * Robust accuracy as a function of the radius: runs `attack(ε)` for each ε and measures accuracy. For a sound
 * evaluation the curve falls as ε grows and reaches about 0 once ε lets the attacker reach any input; a curve
 * that rises, or flattens above 0, points at gradient masking or a weak attack (see `sanityChecks`).
 *
 * Asynchronous, so that it runs on every backend: each ε is an `evaluate` (one readback per batch, with the
 * value checks queued on the device). The labels and inputs are checked before any attack runs.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - inputs `[N, ...]`.
 * @param y - `[N]` int32 labels.
 * @param attack - `ε ↦` an `Attack` at that radius (or a plain function).
 * @param epsilons - the radii, finite numbers `>= 0`.
 * @param options - see {@link RobustnessCurveOptions}.
 * @returns a promise of a {@link RobustnessCurve}; no tensors.
 * @throws the promise rejects with a TypeError when model or attack is not a function; a RangeError for an empty or
 * invalid `epsilons`, invalid inputs, or an attack returning the wrong shape; any error an attack throws.
 * @example
 * const curve = await robustnessCurve(model, x, y, (eps) => apgdAttack({ eps }), [0, 0.05, 0.1, 0.2, 0.3]);
 * console.log(curve.accuracy);
 */
export async function robustnessCurve(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  attack: (eps: number) => AttackFunction,
  epsilons: readonly number[],
  options: Readonly<RobustnessCurveOptions> = {}
): Promise<RobustnessCurve> {
  return named('robustnessCurve', async () => {
    // The keys first and the values after the other arguments, the order in which their errors have always come.
    checkKnownKeys(options, optionKeys<RobustnessCurveOptions>()('batchSize', 'onProgress'));
    checkFunction('model', model);
    checkFunction('attack', attack);
    const radii: unknown = epsilons;
    if (!Array.isArray(radii) || radii.length === 0) rangeError('epsilons', 'be a non-empty array of radii', epsilons);
    epsilons.forEach((eps, i) => checkNonNegative(`epsilons[${String(i)}]`, eps));
    const { batchSize, onProgress } = resolveFields(options, ROBUSTNESS_CURVE_FIELDS);
    // The data are checked here, once, so that their errors name robustnessCurve.
    const input = checkInput('x', x);
    const n = input.shape[0] ?? 0;
    checkLabels('y', y, n);
    checkFiniteExamples('x', input);
    // On webgl and webgpu the checks above are queued on the device: read now, in one readback, before any attack runs.
    await checkLabelsAsync('y', y, n);

    const accuracy: number[] = [];
    const perPoint: Uint8Array[] = [];
    const seconds: number[] = [];
    let clean = 0;
    for (const [index, eps] of epsilons.entries()) {
      const atEps = attack(eps);
      if (typeof atEps !== 'function') rangeError('attack', `return an attack function for eps = ${String(eps)}`, atEps);
      const entries = attackEntries<'attack'>({ attack: atEps }, true);
      const r = await runEvaluation(model, x, y, { entries, batchSize, sequential: false, onProgress: undefined });
      clean = r.clean;
      accuracy.push(r.attacks.attack);
      perPoint.push(r.perPoint.attacks.attack);
      seconds.push(r.seconds.attack);
      onProgress?.({ eps, index, count: epsilons.length, accuracy: r.attacks.attack });
    }
    return { epsilons: [...epsilons], accuracy, clean, perPoint, seconds };
  });
}

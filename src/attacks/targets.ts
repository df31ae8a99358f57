/**
 * Target selection for the targeted attacks (`pgd`, `fgsm`, `miFgsm` with `target`): the attack receives the true
 * labels, picks a target class per point from the clean logits, and runs targeted toward it. torchattacks sets the
 * same choices as mutable modes (`set_mode_targeted_random`, `set_mode_targeted_least_likely`,
 * `set_mode_targeted_by_function`); here they are an option, checked once when the attack is configured.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { createRandom } from '../core/random.js';
import { rangeError, typeError, isTensor } from '../core/errors.js';
import { assumeChecked, checkLabels, checkLogits, type Bounds } from '../core/validate.js';
import { checkAttackInputs, resolveTargeted, runLossAttack, type LossAttackConfig } from './runner.js';

/**
 * How a targeted attack picks its target class per point, from the clean logits `[B, C]` and the true labels `[B]`:
 * - `'random'`: uniform over the `C − 1` classes other than the label, seeded by the attack's seed (the same seed
 *   gives the same targets);
 * - `'leastLikely'`: the class with the smallest clean logit (torchattacks' `set_mode_targeted_least_likely()`,
 *   `kth_min = 1`); it is the label itself only where the model already ranks the label last;
 * - a function `(logits, labels) ↦ [B]` int32 target classes in `[0, C)`: your own rule. It must not dispose its
 *   arguments; what it returns is copied, so it may return a tensor it keeps.
 */
export type TargetSelection = 'random' | 'leastLikely' | ((logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor1D);

/** The built-in {@link TargetSelection} names. */
const SELECTIONS = ['random', 'leastLikely'] as const;

/**
 * The `targeted` and `target` options of an attack, resolved: `target` picks the classes to attack toward from the true
 * labels `y`; `targeted: true` alone means `y` already holds the targets. Internal.
 */
export interface ResolvedTargeting {
  /** Whether the attack minimises the loss toward a target rather than maximising it away from the label. */
  readonly targeted: boolean;
  /** How the targets are picked from the true labels; undefined when `y` is what the attack runs on. */
  readonly target: TargetSelection | undefined;
}

/**
 * Checks the `target` and `targeted` options together, with errors naming the function the user called. `target` implies a targeted attack
 * whose `y` are the true labels, so `targeted` must be left out with it: `targeted: true` would say that `y` holds the
 * targets, and `targeted: false` that the attack is untargeted, and neither can hold. Internal.
 *
 * @throws RangeError when `target` is given with `targeted`, or is not `'random'`, `'leastLikely'` or a function;
 * TypeError when `targeted` is not a boolean.
 */
export function resolveTargeting(target: unknown, targeted: unknown): ResolvedTargeting {
  if (target === undefined) return { targeted: resolveTargeted(targeted), target: undefined };
  if (targeted !== undefined) {
    rangeError('targeted', 'be left out when target is given (target makes the attack targeted, with y the true labels)', targeted);
  }
  if (typeof target !== 'function' && !(SELECTIONS as readonly unknown[]).includes(target)) {
    rangeError('target', 'be "random", "leastLikely" or a function (logits, labels) => [B] int32 target classes', target);
  }
  return { targeted: true, target: target as TargetSelection };
}

/** Mixed into the attack's seed so that the random targets and the random start draw independent streams. */
const TARGET_STREAM = 0x7a3d1c55;

/**
 * `[B]` int32 targets from clean logits `[B, C]` and true labels `[B]`, on the device: `'random'` and
 * `'leastLikely'` read nothing back; a function's output is checked for shape and dtype at once, and for its values
 * as labels are (read at once on cpu, wasm and tensorflow, queued on the device on webgl and webgpu). `seed` seeds
 * `'random'`. The caller disposes the result. Internal.
 *
 * @throws RangeError/TypeError when a function returns anything but `[B]` int32 classes in `[0, C)`.
 */
export function selectTargets(selection: TargetSelection, logits: tf.Tensor2D, labels: tf.Tensor1D, seed: number | undefined): tf.Tensor1D {
  const batch = logits.shape[0];
  const classes = logits.shape[1];
  if (selection === 'random') {
    const rng = createRandom(seed);
    rng.setState(rng.getState() ^ TARGET_STREAM);
    const targets = tf.tidy(() => {
      // k uniform in {0, …, C − 2}, then shifted past the label: uniform over the other classes.
      const k = tf.cast(tf.minimum(tf.floor(rng.uniform([batch], 0, classes - 1)), classes - 2), 'int32');
      return tf.add<tf.Tensor1D>(k, tf.cast(tf.greaterEqual(k, labels), 'int32'));
    });
    assumeChecked(targets, { maxLabel: classes - 1 });
    return targets;
  }
  if (selection === 'leastLikely') {
    const targets = tf.tidy(() => tf.argMin<tf.Tensor1D>(logits, 1));
    assumeChecked(targets, { maxLabel: classes - 1 });
    return targets;
  }
  return tf.tidy(() => {
    const out: unknown = selection(logits, labels);
    if (!isTensor(out)) typeError('target', `return a tf.Tensor of [${String(batch)}] int32 target classes`, out);
    if (out.dtype !== 'int32') typeError('target', 'return int32 target classes', out);
    if (out.rank !== 1 || out.shape[0] !== batch) rangeError('target', `return target classes of shape [${String(batch)}]`, out);
    // A copy: the function may return a tensor it keeps (or the labels), which the attack must not dispose.
    const targets = tf.clone(out) as tf.Tensor1D;
    checkLabels('target', targets, batch, classes);
    return targets;
  });
}

/**
 * Runs a targeted attack whose targets are picked from the true labels `y`: checks the call's inputs, computes the
 * clean logits once, selects the targets ({@link selectTargets}) and hands them to `run`, which attacks toward them.
 * The targets are released afterwards, also when `run` throws. Internal.
 */
export function withTargets(
  model: Model,
  x: unknown,
  y: unknown,
  bounds: Bounds,
  selection: TargetSelection,
  seed: number | undefined,
  run: (targets: tf.Tensor1D) => tf.Tensor
): tf.Tensor {
  const inputs = checkAttackInputs(model, x, y, bounds);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  const batch = inputs.x.shape[0] ?? 0;
  const targets = tf.tidy(() => {
    const logits = checkLogits(model(inputs.x), batch, inputs.maxLabel, inputs.y);
    return selectTargets(selection, logits, inputs.y, seed);
  });
  try {
    return run(targets);
  } finally {
    targets.dispose();
  }
}

/** A {@link LossAttackConfig} whose targets may be picked from the true labels. Internal. */
export interface TargetableLossConfig extends LossAttackConfig {
  /** How the targets are picked from the true labels; undefined when the attack runs on `y` as given. */
  readonly target: TargetSelection | undefined;
}

/**
 * Runs a resolved pgd, fgsm or miFgsm-style loss attack: on `y` as given, or, with `config.target`, toward the targets
 * picked from the true labels `y` (the same `seed` seeds the targets and the random start). Internal.
 */
export function runTargetableLossAttack(model: Model, x: unknown, y: unknown, config: TargetableLossConfig, seed: number | undefined): tf.Tensor {
  const target = config.target;
  if (target === undefined) return runLossAttack(model, x, y, config, seed);
  return withTargets(model, x, y, config.bounds, target, seed, (targets) => runLossAttack(model, x, targets, config, seed));
}

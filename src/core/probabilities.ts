/**
 * Detection of a model that returns probabilities where ardkit takes logits.
 *
 * tfjs models are often built with a final `activation: 'softmax'` (for `categoricalCrossentropy`). ardkit's
 * attacks, losses and evaluations take logits and apply the softmax themselves; given probabilities they apply it a
 * second time, which squeezes the outputs into a narrow band, flattens the gradients, weakens the attacks and so
 * overstates robust accuracy, with no error anywhere. The probe reads three numbers of a few output rows (their
 * minimum, their maximum and the worst distance of a row sum from 1) together with a check the call makes anyway, so
 * it costs no readback of its own, and warns once per model when every row looks like a probability distribution.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from './model.js';
import { isTensor, runAs, runningName } from './errors.js';
import { deviceChecks, type ValueCheck } from './device-checks.js';
import { checkLogits } from './validate.js';

/** How far a row sum may be from 1 for the row to count as probabilities (float32 softmax is within ~1e-6). */
const PROBABILITY_TOLERANCE = 1e-3;

/** How many rows of the input the probe runs the model on. */
const PROBE_ROWS = 4;

/** Models already probed (or queued for it): each is probed once. */
let probedModels = new WeakSet();

/** Loss arguments already probed, as `name:arg`: each loss probes its logits on its first call only. */
const probedArguments = new Set<string>();

/** While above 0, nothing is probed (inside `fit`, whose student and teachers were probed when it began). */
let quiet = 0;

/**
 * Turns the probes off until the returned function is called (once; further calls do nothing): `fit` probes its student
 * and teachers when it begins and nothing during training, where the attacks and evaluations see models it made.
 * Internal.
 */
export function quietProbes(): () => void {
  quiet++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    quiet--;
  };
}

/** `[min, max, worst |row sum − 1|]` of the outputs `z` `[B, C]`. */
function probabilityCodes(z: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.stack([tf.min(z), tf.max(z), tf.max(tf.abs(tf.sub(tf.sum(z, 1), 1)))]) as tf.Tensor1D);
}

/** Whether the codes of {@link probabilityCodes} say every row is a probability distribution. */
export function looksLikeProbabilities(codes: ArrayLike<number>): boolean {
  const [min = NaN, max = NaN, worst = NaN] = Array.from(codes);
  return min >= 0 && max <= 1 && worst <= PROBABILITY_TOLERANCE;
}

/**
 * The host half of a probe of `what`'s outputs (e.g. "the student"): warns, naming the function the user called, when
 * the codes of {@link probabilityCodes} say they look like probabilities.
 */
function warnIfProbabilities(what: string): (codes: Float32Array) => void {
  return (codes) => {
    if (looksLikeProbabilities(codes)) warnProbabilities(`${what}'s outputs`);
  };
}

/** Warns that `subject` (e.g. "the model's outputs") look like probabilities, naming the function the user called. */
function warnProbabilities(subject: string): void {
  const name = runningName();
  console.warn(
    `ardkit: ${name === undefined ? '' : `${name}: `}${subject} look like probabilities (every value in [0, 1], each row summing to 1), ` +
      "not logits. ardkit's attacks, losses and evaluations take logits and apply the softmax themselves: applied twice it " +
      'flattens the gradients, so attacks weaken and robust accuracy is overstated. Drop the final softmax (give the last ' +
      "layer activation: 'linear'), or pass (x) => tf.log(model(x))."
  );
}

/**
 * A value check that runs `model` on the first few rows of `x` and warns if its outputs look like probabilities
 * (naming the model as `what`); `undefined` when the model was probed before (each model is probed once) or `x` holds
 * no rows. For `fit`'s student, which it folds into the readback of its data checks (`checkFiniteExamples`' `also`).
 * Internal.
 */
export function modelProbe(model: Model, x: tf.Tensor, what = 'the model'): ValueCheck | undefined {
  const rows = Math.min(x.shape[0] ?? 0, PROBE_ROWS);
  if (rows === 0 || quiet > 0 || probedModels.has(model)) return undefined;
  return {
    codes: () => {
      probedModels.add(model);
      return probabilityCodes(checkLogits(model(rows === x.shape[0] ? x : tf.slice(x, 0, rows)), rows));
    },
    check: warnIfProbabilities(what)
  };
}

/**
 * `model` as ardkit calls it the first time it meets it: the same outputs, and the first of them (a float `[B, C]`,
 * B ≥ 1) looked at for probabilities where logits belong, with a warning naming the function called. No extra model
 * call (a black-box attack counts its queries) and no tensor held: the check reads at once on cpu, wasm and
 * tensorflow, and waits on the device for the next readback on webgl and webgpu. A model met before, and a wrapper
 * this function made, come back as they are. Internal.
 */
export function probing(model: Model, what = 'the model'): Model {
  if (quiet > 0 || probedModels.has(model)) return model;
  let looked = false;
  // The function called, also for a first call after an `await` of that function.
  const caller = runningName();
  const wrapper: Model = (x) => {
    const z = model(x);
    if (!looked && isTensor(z) && z.rank === 2 && z.dtype === 'float32' && (z.shape[0] ?? 0) > 0 && (z.shape[1] ?? 0) >= 2) {
      looked = true;
      runAs(runningName() ?? caller, () => { deviceChecks([outputProbe(model, what, z)]); });
    }
    return z;
  };
  probedModels.add(wrapper);
  return wrapper;
}

/**
 * A value check of outputs `z` `[B, C]` some model already gave (a teacher's on fit's sample), warning if they look
 * like probabilities; `undefined` when `model` was probed before. Internal.
 */
export function outputProbe(model: Model, what: string, z: tf.Tensor2D): ValueCheck | undefined {
  if (quiet > 0 || probedModels.has(model)) return undefined;
  probedModels.add(model);
  return { codes: () => probabilityCodes(z), check: warnIfProbabilities(what) };
}

/**
 * A value check of a loss's logits argument, made on the loss's first call only (a loss sees new tensors at every
 * call, and a model that returns probabilities returns them at every call): warns if they look like probabilities.
 * `undefined` on later calls. Internal.
 */
export function logitsProbe(arg: string, z: tf.Tensor2D): ValueCheck | undefined {
  const key = `${runningName() ?? ''}:${arg}`;
  if (quiet > 0 || probedArguments.has(key)) return undefined;
  probedArguments.add(key);
  return {
    codes: () => probabilityCodes(z),
    check: (values) => {
      if (looksLikeProbabilities(values)) warnProbabilities(arg);
    }
  };
}

/**
 * Marks `model` as probed, for a function that reports probability outputs itself (`sanityChecks`' `softmax` flag):
 * the attacks it runs then do not warn about it too. Internal.
 */
export function markProbed(model: Model): void {
  probedModels.add(model);
}

/** Forgets which models and loss arguments were probed, so that tests see each probe again. Internal. */
export function resetProbesForTesting(): void {
  probedModels = new WeakSet();
  probedArguments.clear();
}

import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { readWithChecks } from '../core/device-checks.js';
import { checkGradientsRegistered, checkKnownKeys, checkLabelsAsync, checkLogits, optionKeys, type Bounds } from '../core/validate.js';
import { integer, resolveFields, type OptionFields } from '../core/options.js';
import { typeError, named } from '../core/errors.js';
import { marginPerExample } from '../losses/cw-margin.js';
import { apgd, apgdTargeted } from '../attacks/apgd.js';
import type { Norm } from '../attacks/norms.js';
import { resolveThreat } from '../attacks/options.js';
import { checkAttackInputs } from '../attacks/runner.js';
import { markProbed } from '../core/probabilities.js';
import { safeGradient } from '../attacks/safe-gradient.js';
import { gatherRows, indicesWhere } from '../attacks/rows.js';
import { squareAttack } from '../attacks/square.js';

/** The checks {@link sanityChecks} runs. */
export type SanityCheckId =
  | 'probabilities'
  | 'randomized'
  | 'zero-gradients'
  | 'more-steps-raise-accuracy'
  | 'larger-eps-raises-accuracy'
  | 'large-eps-not-zero'
  | 'square-beats-white-box';

/** A warning raised by {@link sanityChecks}: which check, and one sentence saying what was seen and what it means. */
export interface SanityFlag {
  /** The check that raised it. */
  readonly id: SanityCheckId;
  /** One sentence: what was measured, and why it makes the evaluation suspect. */
  readonly message: string;
}

/** Options of {@link sanityChecks}. */
export interface SanityCheckOptions {
  /** The radius ε of the evaluation being checked. Required. */
  readonly eps: number;
  /** @defaultValue 'linf' */
  readonly norm?: Norm;
  /** The valid input box. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** APGD iterations of the white-box runs (the step check compares ⌈steps/4⌉ with steps). @defaultValue 20 */
  readonly steps?: number;
  /** Square's query budget (L∞ only). @defaultValue 500 */
  readonly queries?: number;
  /** Seed of every attack. @defaultValue 0 */
  readonly seed?: number;
}

/** The keys of {@link SanityCheckOptions}, in the order an unknown key's message names them. */
const SANITY_CHECK_KEYS = optionKeys<SanityCheckOptions>()('eps', 'norm', 'bounds', 'steps', 'queries', 'seed');

/** How the options of {@link sanityChecks} besides the threat model (`resolveThreat`'s) are checked and defaulted. */
const SANITY_CHECK_FIELDS: OptionFields<Pick<SanityCheckOptions, 'steps' | 'queries'>> = {
  steps: /* @__PURE__ */ integer(1, 20),
  queries: /* @__PURE__ */ integer(1, 500)
};

/** Share of points with a zero input gradient above which the zero-gradient check fires. */
const ZERO_GRADIENT_SHARE = 0.01;
/** Accuracy at the box-sized ε above which the large-ε check fires. */
const LARGE_EPS_ACCURACY = 0.05;

const percent = (v: number): string => `${(100 * v).toFixed(1)} %`;

/**
 * Checks for the usual signs of gradient masking and unreliable evaluation, in the spirit of AutoAttack's checks
 * (Croce & Hein 2020, arXiv 2003.01690) and Carlini et al.'s checklist (arXiv 1902.06705). Each check that fails
 * raises a flag whose message explains itself:
 *
 * - `probabilities`: the outputs are non-negative and sum to 1, so they are probabilities, not logits;
 * - `randomized`: two calls on the same input differ (use `eot`);
 * - `zero-gradients`: the margin loss has an exactly zero input gradient on more than 1 % of the points;
 * - `more-steps-raise-accuracy`: APGD-CE with `steps` leaves more points correct than with ⌈steps/4⌉;
 * - `larger-eps-raises-accuracy`: APGD-CE at 2ε leaves more points correct than at ε;
 * - `large-eps-not-zero`: at an ε that covers the whole input box (hi − lo for L∞, (hi − lo)·√D for L2)
 *   accuracy stays above 5 %;
 * - `square-beats-white-box` (L∞): the black-box Square attack fools points that APGD-CE and APGD-T (3 target
 *   classes; APGD-DLR for 3 classes) did not.
 *
 * Accuracy comparisons allow 2 % of the points (at least one point) of noise. Cost: one gradient, four APGD-CE
 * runs (⌈steps/4⌉ and steps at ε, steps at 2ε and at the box ε), one APGD-T run, and Square on the points that
 * survived: cheap on a few hundred points.
 *
 * Asynchronous, so that it runs on every backend: the outputs' statistics, the gradient check and every APGD run's
 * correctness mask are read back together, once, with `await data()`, and Square's successes once more (with the
 * value checks queued on the device: see `flushChecks` in `ardkit/core`). The labels and inputs are checked before
 * any attack runs.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - inputs `[B, ...]` inside `bounds` (a few hundred points suffice).
 * @param y - `[B]` int32 labels.
 * @param options - see {@link SanityCheckOptions}.
 * @returns a promise of the raised flags (empty when every check passes).
 * @throws the promise rejects with a RangeError for a missing or invalid eps, steps or queries that are not positive
 * integers, an unknown norm, invalid bounds, labels or inputs, or a model returning the wrong shape; a TypeError when
 * model is not a function.
 * @example
 * for (const flag of await sanityChecks(model, xTest.slice(0, 200), yTest.slice(0, 200), { eps: 0.3 })) {
 *   console.warn(`${flag.id}: ${flag.message}`);
 * }
 */
export async function sanityChecks(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<SanityCheckOptions>): Promise<SanityFlag[]> {
  return named('sanityChecks', async () => {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
    checkKnownKeys(options, SANITY_CHECK_KEYS);
    const threat = resolveThreat({ ...options, seed: options.seed ?? 0 }, 'the radius of the evaluation being checked');
    const { eps, norm, bounds } = threat;
    const seed = threat.seed ?? 0;
    const { steps, queries } = resolveFields(options, SANITY_CHECK_FIELDS);
    const inputs = checkAttackInputs(model, x, y, bounds, false);
    // Probability outputs are one of the flags below: the attacks run here need not warn about them.
    markProbed(inputs.model);
    checkGradientsRegistered();
    const n = inputs.x.shape[0] ?? 0;
    // On webgl and webgpu the checks above are queued on the device: read now, in one readback, before any attack runs.
    const maxLabel = await checkLabelsAsync('y', inputs.y, n);
    const flags: SanityFlag[] = [];
    const flag = (id: SanityCheckId, message: string): void => {
      flags.push({ id, message });
    };
    const noise = Math.max(1, Math.ceil(0.02 * n)) / n;
    const dims = inputs.x.size / Math.max(n, 1);
    const boxEps = norm === 'linf' ? bounds[1] - bounds[0] : (bounds[1] - bounds[0]) * Math.sqrt(dims);
    const few = Math.ceil(steps / 4);
    let classes = 0;

    // Everything measured with the model's gradients, computed on the device and read back once: the outputs'
    // statistics (5 values), then a correctness mask [n] per APGD run.
    const parts: tf.Tensor[] = [];
    let values: Float32Array;
    try {
      parts.push(
        tf.tidy(() => {
        // Outputs: probabilities? randomness?
          const a = checkLogits(model(inputs.x), n, maxLabel);
          const b = checkLogits(model(inputs.x), n, maxLabel);
          classes = a.shape[1];
          const sums = tf.sum(a, 1);
          // Gradients of the margin loss, exactly zero per point?
          const g = safeGradient((xa) => named('sanityChecks', () => marginPerExample(checkLogits(model(xa), n), inputs.y)))(inputs.x);
          const zero = tf.sum(tf.cast(tf.equal(tf.max(tf.abs(tf.reshape(g, [n, -1])), 1), 0), 'float32'));
          return tf.stack([tf.min(a), tf.max(tf.abs(tf.sub(sums, 1))), tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(a)), zero]);
        })
      );
      // White-box attacks: more steps, larger ε, ε covering the box.
      const run = (radius: number, iterations: number, loss: 'ce' | 'dlr' | 'targeted' = 'ce'): void => {
        named('sanityChecks', () => {
          parts.push(
            tf.tidy(() => {
              const common = { eps: radius, norm, steps: iterations, bounds, seed };
              const xAdv =
            loss === 'targeted' ? apgdTargeted(model, inputs.x, inputs.y, { ...common, targetClasses: 3 }) : apgd(model, inputs.x, inputs.y, { ...common, loss });
              try {
                return tf.cast(tf.equal(tf.argMax(checkLogits(model(xAdv), n), 1), inputs.y), 'float32');
              } finally {
                // Released here, as evaluate and worstCase release attack outputs, not left to the tidy scope.
                xAdv.dispose();
              }
            })
          );
        });
      };
      run(eps, few);
      run(eps, steps);
      run(2 * eps, steps);
      run(boxEps, steps);
      // AutoAttack's white-box pair for the Square comparison (L∞): APGD-CE and APGD-T (3 targets); APGD-DLR for 3
      // classes, CE alone for 2.
      if (norm === 'linf' && eps > 0 && classes >= 3) run(eps, steps, classes >= 4 ? 'targeted' : 'dlr');
      const joined = tf.concat(parts);
      try {
        [values = new Float32Array(0)] = await readWithChecks([joined]);
      } finally {
        joined.dispose();
      }
    } finally {
      tf.dispose(parts);
    }
    const [min = 0, sumError = Infinity, difference = 0, scale = 0, zeroGradients = 0] = values;
    /** The correctness mask of the APGD run `k` (in the order run above). */
    const mask = (k: number): Float32Array => values.subarray(5 + k * n, 5 + (k + 1) * n);
    const share = (m: Float32Array): number => m.reduce((s, v) => s + v, 0) / n;

    if (min >= -1e-6 && sumError <= 1e-3) {
      flag('probabilities', 'The model outputs are non-negative and sum to 1 on every point, so they look like probabilities rather than logits, which saturate and hide gradients from attacks: evaluate the model on its logits (before the softmax).');
    }
    if (difference > 1e-5 * Math.max(1, scale)) {
      flag('randomized', `Two calls of the model on the same inputs differ (by up to ${difference.toPrecision(3)}), so it is randomized and a single attack run understates its weakness: attack eot(model, samples) and repeat the evaluation.`);
    }
    if (zeroGradients > ZERO_GRADIENT_SHARE * n) {
      flag('zero-gradients', `The input gradient of the margin loss is exactly zero on ${String(zeroGradients)} of ${String(n)} points, so gradient-based attacks cannot move there and their robust accuracy is not trustworthy: check for non-differentiable or saturating layers, and rely on black-box attacks such as Square.`);
    }
    const atFew = share(mask(0));
    const robustCe = mask(1);
    const atEps = share(robustCe);
    if (atEps > atFew + noise) {
      flag('more-steps-raise-accuracy', `Accuracy under APGD-CE rises from ${percent(atFew)} with ${String(few)} steps to ${percent(atEps)} with ${String(steps)}, which a working attack never does: the loss surface is likely masked or noisy.`);
    }
    const atDouble = share(mask(2));
    if (atDouble > atEps + noise) {
      flag('larger-eps-raises-accuracy', `Accuracy under APGD-CE rises from ${percent(atEps)} at eps ${String(eps)} to ${percent(atDouble)} at eps ${String(2 * eps)}, although a larger ball contains every smaller one: the attack is being misled, a sign of gradient masking.`);
    }
    const atBox = share(mask(3));
    if (atBox > Math.max(LARGE_EPS_ACCURACY, noise)) {
      flag('large-eps-not-zero', `At eps ${boxEps.toPrecision(3)}, large enough to reach any input, APGD-CE still leaves ${percent(atBox)} of the points correct where a working attack reaches about 0 %: the gradients do not lead the attack to adversarial examples.`);
    }

    // Black box against white box (L∞): points Square fools that the white-box attacks did not.
    if (norm === 'linf' && eps > 0) {
      const robustSecond = classes >= 3 ? mask(4) : robustCe;
      const idx = indicesWhere(robustCe.map((v, i) => v * (robustSecond[i] ?? 0)));
      if (idx.length > 0) {
        const xs = gatherRows(inputs.x, idx);
        const ys = gatherRows(inputs.y, idx);
        let broken: number;
        try {
          const r = squareAttack({ eps, queries, bounds, seed }).detailed(model, xs, ys);
          try {
            const [success = new Float32Array(0)] = await readWithChecks(r.success === undefined ? [] : [r.success]);
            broken = success.reduce((s, v) => s + v, 0);
          } finally {
            tf.dispose([r.xAdv, r.queries, r.success].filter((t) => t !== undefined));
          }
        } finally {
          tf.dispose([xs, ys]);
        }
        if (broken / n > noise) {
          flag('square-beats-white-box', `The black-box Square attack fools ${String(broken)} of the ${String(idx.length)} points that survived the white-box APGD attacks, although it never sees a gradient: the white-box attacks are being misled, a sign of gradient masking.`);
        }
      }
    }
    return flags;
  });
}

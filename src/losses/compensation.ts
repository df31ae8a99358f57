import * as tf from '@tensorflow/tfjs-core';
import { checkInteger, checkKnownKeys, optionKeys } from '../core/validate.js';
import { nonNegative, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { rangeError, named } from '../core/errors.js';
import { checkLogitsAndLabels, checkLogitsArg } from './validate.js';

/** Options of {@link compensatedTargets}. */
export interface CompensatedTargetsOptions {
  /**
   * Exponent β of the teacher's confidence weight `w_i = p_T(y_i|x_i)^β`. The CRDND paper's value could not be
   * read; 1 is an assumption. β = 0 trusts the teacher fully.
   * @defaultValue 1
   */
  readonly beta?: number;
}

/**
 * Confidence compensation of an unreliable teacher (CRDND, Wang et al., ICASSP 2023, arXiv 2302.08764; ardkit's
 * documented form): `q_i = w_i·σ(T(x_i)) + (1 − w_i)·onehot(y_i)`, `w_i = p_T(y_i|x_i)^β`. Where the teacher is
 * unsure of the true class, the target leans on the label.
 *
 * @param teacherLogits - `[B, C]` teacher logits on clean inputs.
 * @param labels - `[B]` int32 labels.
 * @param options - see {@link CompensatedTargetsOptions}.
 * @returns `[B, C]` target probabilities (rows sum to 1); the caller disposes them.
 * @throws RangeError for labels out of range or of the wrong length, β negative or not finite; TypeError for wrong dtypes.
 * @example
 * const q = compensatedTargets(teacher(x), y, { beta: 1 });
 * const loss = klDivergence(q, student(xAdv), { targetType: 'probabilities' });
 */
export function compensatedTargets(teacherLogits: tf.Tensor2D, labels: tf.Tensor1D, options: Readonly<CompensatedTargetsOptions> = {}): tf.Tensor2D {
  return named('compensatedTargets', () => {
    const config = parseOptions(options, COMPENSATED_TARGETS_FIELDS);
    const [z, y] = checkLogitsAndLabels(teacherLogits, labels, 'teacherLogits', 'labels');
    return compensatedTargetsCore(z, y, config);
  });
}

/** How each of {@link CompensatedTargetsOptions} is checked and defaulted; `crdnd` takes β from here. Internal. */
export const COMPENSATED_TARGETS_FIELDS: OptionFields<CompensatedTargetsOptions> = { beta: /* @__PURE__ */ nonNegative(1) };

/** {@link compensatedTargets} on teacher logits `[B, C]`, labels in range and a resolved config, unchecked. Internal. */
export function compensatedTargetsCore(teacherLogits: tf.Tensor2D, labels: tf.Tensor1D, config: Resolved<CompensatedTargetsOptions>): tf.Tensor2D {
  return tf.tidy(() => {
    const probs = tf.softmax(teacherLogits);
    const oneHot = tf.oneHot(labels, teacherLogits.shape[1]);
    const w = tf.expandDims(tf.pow(tf.sum(tf.mul(probs, oneHot), 1), config.beta), 1);
    return tf.add<tf.Tensor2D>(tf.mul(w, probs), tf.mul(tf.sub(1, w), oneHot));
  });
}

/** Options of {@link createCompensation}. */
export interface CompensationOptions {
  /** The diagonal probability of the initial matrix: `M ≈ identity`, `M_ii = initialConfidence`. @defaultValue 0.9 */
  readonly initialConfidence?: number;
  /** Name prefix of the variable. @defaultValue 'compensation' */
  readonly name?: string;
}

/**
 * The learnable compensation module of CRDND: a row-stochastic `C×C` matrix `M = softmax_rows(W)` that maps the
 * student's prediction to the unreliable teacher's, `σ(S(x))·M`, like a noise-adaptation layer: it is trained with
 * the student and dropped at test time.
 */
export interface Compensation {
  /** The number of classes C. */
  readonly numClasses: number;
  /** The trainable logits `W` (`[C, C]`); optimise them with the student. */
  readonly weights: tf.Variable;
  /** All trainable variables of the module (for an optimizer's `varList`, checkpoints and disposal). */
  readonly variables: readonly tf.Variable[];
  /** `M = softmax_rows(W)`, `[C, C]`; the caller disposes it. */
  matrix(): tf.Tensor2D;
  /**
   * `σ(z)·M`, `[B, C]` (rows sum to 1): the student's prediction carried into the teacher's confusions;
   * differentiable with respect to `z` and `W`.
   */
  apply(logits: tf.Tensor2D): tf.Tensor2D;
  /** Disposes the variables. */
  dispose(): void;
}

/**
 * Creates CRDND's learnable compensation module (Wang et al., ICASSP 2023, arXiv 2302.08764; ardkit's documented
 * form): a row-stochastic `C×C` matrix `M` (softmax rows), initialised near the identity, that sits on the
 * **student's** side: the student is trained so that `σ(S(x))·M` matches the teacher, `KL(σ(T(x)) ‖ σ(S(x))·M)`,
 * and is deployed without `M`. Systematic teacher confusions are absorbed by `M` instead of being learned by the
 * student, as a noise-adaptation layer absorbs label noise. (Placing `M` on the teacher's target instead lets it
 * pull the target toward the student's own prediction: a collapse into self-distillation.)
 *
 * @param numClasses - C, an integer ≥ 2.
 * @param options - see {@link CompensationOptions}.
 * @returns the module; call `dispose()` when done.
 * @throws RangeError when `numClasses` is not an integer ≥ 2 or `initialConfidence` is not in (1/C, 1).
 * @example
 * const comp = createCompensation(10);
 * const loss = optimizer.minimize(
 *   () => klDivergence(tf.softmax(teacher(x)), tf.log(comp.apply(student(xAdv))), { targetType: 'probabilities' }),
 *   false, [...studentVariables, ...comp.variables]);
 */
export function createCompensation(numClasses: number, options: Readonly<CompensationOptions> = {}): Compensation {
  return named('createCompensation', () => {
    checkKnownKeys(options, optionKeys<CompensationOptions>()('initialConfidence', 'name'));
    const c = checkInteger('numClasses', numClasses, 2);
    const confidence = options.initialConfidence ?? 0.9;
    if (typeof confidence !== 'number' || !(confidence > 1 / c && confidence < 1)) {
      rangeError('initialConfidence', `be a number in (1/C, 1) = (${String(1 / c)}, 1)`, confidence);
    }
    // softmax of a row with k on the diagonal and 0 elsewhere puts e^k / (e^k + C − 1) on the diagonal.
    const k = Math.log((confidence * (c - 1)) / (1 - confidence));
    const weights = tf.variable(tf.tidy(() => tf.mul(tf.eye(c), k)), true, `${options.name ?? 'compensation'}_W_${String(nextId++)}`);
    const matrix = (): tf.Tensor2D => tf.softmax(weights) as tf.Tensor2D;
    return {
      numClasses: c,
      weights,
      variables: [weights],
      matrix,
      apply: (logits) => {
        const z = checkLogitsArg('logits', logits);
        if (z.shape[1] !== c) rangeError('logits', `have ${String(c)} classes`, z);
        return tf.tidy(() => tf.matMul(tf.softmax(z), matrix()));
      },
      dispose: () => {
        weights.dispose();
      }
    };
  });
}

let nextId = 0;

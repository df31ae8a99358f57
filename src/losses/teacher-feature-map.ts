import * as tf from '@tensorflow/tfjs-core';
import { checkLabels } from '../core/validate.js';
import { formatValue, rangeError, typeError, named, argumentError } from '../core/errors.js';
import { oneOf, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { klPerExample } from './kl.js';
import { checkLogitsArg } from './validate.js';

/** Options of {@link teacherFeatureMapLoss}. */
export interface TeacherFeatureMapOptions {
  /** `'kl'`: `KL(σ(T_i) ‖ σ(z_i))`; `'mse'`: `mean_c((z_i − T_i)²)`. @defaultValue 'kl' */
  readonly divergence?: 'kl' | 'mse';
  /**
   * `'teacherConfidence'`: `w_i = exp(−CE(T_i(x̃), y))`, the batch mean CE, not normalised across teachers
   * (DARHT's official code); `'uniform'`: `w_i = 1`.
   * @defaultValue 'teacherConfidence'
   */
  readonly weighting?: 'teacherConfidence' | 'uniform';
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/**
 * DARHT's student–teacher feature-map distillation (arXiv 2402.15586): the student's head produces a feature map
 * `z` of width `M·C`, one `C`-block `z_i` per teacher, and each block learns its own teacher,
 * `L_KD = Σ_i w_i·KL(σ(T_i(x̃)) ‖ σ(z_i))` with `w_i = exp(−CE(T_i(x̃), y))`.
 *
 * @param featureMap - `[B, M·C]` the student-teacher feature map (see `studentTeacherHead` in `ardkit/models`).
 * @param teacherLogits - M teacher logits `[B, C]` on the same inputs x̃, in the order of the feature map's blocks.
 * @param labels - `[B]` int32 labels (used by `'teacherConfidence'` weighting; validated always).
 * @param options - see {@link TeacherFeatureMapOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for an empty teacher list, teachers of different shapes, a feature map whose width is not M·C,
 * labels out of range, or unknown options; TypeError for wrong dtypes.
 * @example
 * const { featureMap } = head.apply(features);
 * const lkd = teacherFeatureMapLoss(featureMap, [t1(x), t2(x), t3(x)], y);
 */
export function teacherFeatureMapLoss<O extends Readonly<TeacherFeatureMapOptions> = DefaultReduction>(
  featureMap: tf.Tensor2D,
  teacherLogits: readonly tf.Tensor2D[],
  labels: tf.Tensor1D,
  options: O = {} as O): Reduced<O> {
  return named('teacherFeatureMapLoss', () => {
    const config = parseOptions(options, TEACHER_FEATURE_MAP_FIELDS);
    if (!Array.isArray(teacherLogits)) typeError('teacherLogits', 'be an array of [B, C] logits tensors', teacherLogits);
    if (teacherLogits.length === 0) rangeError('teacherLogits', 'hold at least one teacher', '[]');
    const teachers = teacherLogits.map((t, i) => checkLogitsArg(`teacherLogits[${String(i)}]`, t));
    const first = teachers[0] as tf.Tensor2D;
    teachers.forEach((t, i) => {
      if (t.shape[0] !== first.shape[0] || t.shape[1] !== first.shape[1]) {
        throw argumentError(RangeError, `teacherLogits[${String(i)}] must have the shape of teacherLogits[0] (got ${formatValue(t.shape)} and ${formatValue(first.shape)})`);
      }
    });
    const [batch, classes] = first.shape;
    const m = teachers.length;
    const z = checkLogitsArg('featureMap', featureMap);
    if (z.shape[0] !== batch || z.shape[1] !== m * classes) {
      rangeError(
        'featureMap',
      `have shape [${String(batch)}, ${String(m * classes)}] (M·C for ${String(m)} teachers of ${String(classes)} classes)`,
      z
      );
    }
    checkLabels('labels', labels, batch, classes);
    return teacherFeatureMapLossCore(z, teachers, labels, config) as Reduced<O>;
  });
}

/** {@link TeacherFeatureMapOptions} resolved: every default filled in, every value checked. */
export type TeacherFeatureMapConfig = Resolved<TeacherFeatureMapOptions>;

/** How each of {@link TeacherFeatureMapOptions} is checked and defaulted; `darht` takes its options from here. Internal. */
export const TEACHER_FEATURE_MAP_FIELDS: OptionFields<TeacherFeatureMapOptions> = {
  divergence: /* @__PURE__ */ oneOf(['kl', 'mse'], 'kl'),
  weighting: /* @__PURE__ */ oneOf(['teacherConfidence', 'uniform'], 'teacherConfidence'),
  reduction: REDUCTION_FIELD
};

/**
 * {@link teacherFeatureMapLoss} on a feature map `[B, M·C]`, M teacher logits `[B, C]`, labels in range and a resolved
 * config, unchecked. Internal.
 */
export function teacherFeatureMapLossCore(
  featureMap: tf.Tensor2D,
  teacherLogits: readonly tf.Tensor2D[],
  labels: tf.Tensor1D,
  config: TeacherFeatureMapConfig
): tf.Tensor {
  const batch = featureMap.shape[0];
  const classes = teacherLogits[0]?.shape[1] ?? 0;
  return tf.tidy(() => {
    let total: tf.Tensor = tf.zeros([batch]);
    teacherLogits.forEach((t, i) => {
      const block = tf.slice(featureMap, [0, i * classes], [batch, classes]);
      const d = config.divergence === 'kl' ? klPerExample(t, block) : tf.mean(tf.square(tf.sub(block, t)), 1);
      const w = config.weighting === 'uniform' ? tf.scalar(1) : tf.exp(tf.neg(tf.mean(crossEntropyPerExample(t, labels))));
      total = tf.add(total, tf.mul(d, w));
    });
    return applyReduction(total, config.reduction);
  });
}

import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkInteger } from '../core/validate.js';
import { custom, parseOptions, type OptionField, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { isTensor, rangeError, typeError, named, runAs } from '../core/errors.js';

/** Options of {@link studentTeacherHead}. */
export interface StudentTeacherHeadOptions {
  /** Seed of the Glorot-uniform kernel initialisers (deterministic weights). */
  readonly seed?: number;
  /** Name prefix of the two layers. @defaultValue 'student_teacher' */
  readonly name?: string;
}

/** DARHT's student head: two dense layers with nothing between, `d → M·C → C`. */
export interface StudentTeacherHead {
  /** M, the number of teachers. */
  readonly numTeachers: number;
  /** C, the number of classes. */
  readonly numClasses: number;
  /** `d → M·C` (linear): its output is the student–teacher feature map `z`, block `i` for teacher `i`. */
  readonly featureMapLayer: tfl.layers.Layer;
  /** `M·C → C` (linear): the final logits `o`. */
  readonly logitsLayer: tfl.layers.Layer;
  /**
   * Runs both layers eagerly on features `[B, d]`.
   * @returns the feature map and the logits; the caller disposes both.
   */
  apply(features: tf.Tensor): StudentTeacherOutputs;
}

/** What {@link StudentTeacherHead.apply} returns. */
export interface StudentTeacherOutputs {
  /** The student–teacher feature map `z`, `[B, M·C]`. */
  readonly featureMap: tf.Tensor2D;
  /** The logits `o`, `[B, C]`. */
  readonly logits: tf.Tensor2D;
}

/**
 * How each of {@link StudentTeacherHeadOptions} is defaulted (a `null` name counts as left out; `seed` left out:
 * tfjs-layers' random initialisers). Neither is checked: tfjs-layers takes them as they are.
 */
const STUDENT_TEACHER_HEAD_FIELDS: OptionFields<Omit<StudentTeacherHeadOptions, 'seed'>> & { readonly seed: OptionField<number | undefined> } = {
  seed: /* @__PURE__ */ custom((_arg, value) => value as number),
  name: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom((_arg, value) => value as string, 'student_teacher'))
};

/**
 * The student–teacher head of DARHT (arXiv 2402.15586): the student's last layer is replaced by two linear layers
 * with no non-linearity between, features `d → M·C` (the feature map whose `C`-blocks distil one teacher each, see
 * `teacherFeatureMapLoss` in `ardkit/losses`) then `M·C → C` (the logits). Use the layers in a functional tfjs-layers
 * model (`head.logitsLayer.apply(head.featureMapLayer.apply(backbone))`) or eagerly with `apply`.
 *
 * @param numTeachers - M, an integer ≥ 1.
 * @param numClasses - C, an integer ≥ 2.
 * @param options - see {@link StudentTeacherHeadOptions}.
 * @returns the head; its weights are created on first use and belong to the model that uses them.
 * @throws RangeError when M or C is not an integer in range, or (from `apply`) when the features are not `[B, d]`.
 * @example
 * const head = studentTeacherHead(3, 10);
 * const featureMap = head.featureMapLayer.apply(backboneOutput) as tfl.SymbolicTensor;
 * const logits = head.logitsLayer.apply(featureMap) as tfl.SymbolicTensor;
 * const student = tfl.model({ inputs: input, outputs: [logits, featureMap] });
 */
export function studentTeacherHead(numTeachers: number, numClasses: number, options: Readonly<StudentTeacherHeadOptions> = {}): StudentTeacherHead {
  return named('studentTeacherHead', () => {
    const { seed, name } = parseOptions(options, STUDENT_TEACHER_HEAD_FIELDS);
    const m = checkInteger('numTeachers', numTeachers, 1);
    const c = checkInteger('numClasses', numClasses, 2);
    const init = (offset: number): ReturnType<typeof tfl.initializers.glorotUniform> =>
      tfl.initializers.glorotUniform(seed === undefined ? {} : { seed: seed + offset });
    const featureMapLayer = tfl.layers.dense({ units: m * c, kernelInitializer: init(0), name: `${name}_feature_map` });
    const logitsLayer = tfl.layers.dense({ units: c, kernelInitializer: init(1), name: `${name}_logits` });
    return {
      numTeachers: m,
      numClasses: c,
      featureMapLayer,
      logitsLayer,
      apply: (features) => {
        runAs('studentTeacherHead.apply', () => {
          if (!isTensor(features)) typeError('features', 'be a tf.Tensor [B, d]', features);
          if (features.rank !== 2) rangeError('features', 'have shape [B, d]', features);
        });
        const featureMap = featureMapLayer.apply(features) as tf.Tensor2D;
        return { featureMap, logits: logitsLayer.apply(featureMap) as tf.Tensor2D };
      }
    };
  });
}

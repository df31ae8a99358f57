import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { isTensor, rangeError, typeError, named } from '../core/errors.js';
import { asVariable, type Student } from '../core/student.js';
import { layersForward } from '../core/layers-forward.js';

export { asVariable, type Student, type StudentOutputs } from '../core/student.js';

/** The part of a tfjs-layers `LayersModel` that `fit` uses (declared structurally: tfjs-layers stays optional). */
export interface LayersStudentLike {
  /** Runs the model. */
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown;
  /** Trainable weights. */
  readonly trainableWeights: readonly LayersWeightLike[];
  /** All weights. */
  readonly weights: readonly LayersWeightLike[];
}

/** A tfjs-layers weight. */
export interface LayersWeightLike {
  /** Its value: the `tf.Variable` (typed as a tensor by tfjs-layers). */
  read(): tf.Tensor;
}

/** A tfjs-layers model used as a frozen teacher. */
export interface LayersTeacherLike {
  /** Runs the model. */
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown;
}

function isStudent(value: unknown): value is Student {
  return typeof value === 'object' && value !== null && typeof (value as Student).forward === 'function' && Array.isArray((value as Student).variables);
}

function isLayersStudent(value: unknown): value is LayersStudentLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as LayersStudentLike).apply === 'function' &&
    Array.isArray((value as LayersStudentLike).trainableWeights)
  );
}

/**
 * Adapts what `fit` accepts as a student: a {@link Student} as is, or a tfjs-layers model (logits only).
 *
 * @param value - the student.
 * @returns a {@link Student}.
 * @throws TypeError when `value` is neither; RangeError when it has no trainable variable.
 * @example
 * const student = asStudent('fit', tf.sequential({ layers: [...] }));
 */
export function asStudent(value: unknown): Student {
  return named('asStudent', () => {
    let student: Student;
    if (isStudent(value)) student = value;
    else if (isLayersStudent(value)) {
      const model = value;
      const inference = layersForward(model, false);
      const training = layersForward(model, true);
      student = {
        forward: (x, isTraining) => {
          const out = (isTraining ? training : inference)(x);
          if (!isTensor(out)) typeError('student', 'return one logits tensor (use studentFromLayers for several outputs)', out);
          return { logits: out as tf.Tensor2D };
        },
        trainableVariables: model.trainableWeights.map((w) => asVariable(w.read())),
        variables: model.weights.map((w) => asVariable(w.read()))
      };
    } else {
      return typeError('student', 'be a Student ({ forward, trainableVariables, variables }) or a tfjs-layers model', value);
    }
    if (student.trainableVariables.length === 0) rangeError('student', 'have trainable variables', 'none');
    return student;
  });
}

/** The student's logits as a {@link Model} in inference mode, for attacks and evaluation. */
export function studentModel(student: Student): Model {
  return (x) => {
    const out = student.forward(x, false);
    for (const t of [out.features, out.featureMap]) if (t !== undefined) t.dispose();
    return out.logits;
  };
}

/** Something usable as a frozen teacher: a {@link Model} function, or a tfjs-layers model (run in inference mode). */
export type TeacherLike = Model | LayersTeacherLike;

/**
 * Adapts a teacher to a {@link Model} in inference mode. Teachers are frozen: `fit` never passes their variables to
 * the optimizer, and their outputs are computed outside the gradient tape.
 *
 * @param arg - the argument's name, for errors.
 * @param value - the teacher.
 * @returns the teacher as a function `x ↦ logits`.
 * @throws TypeError when `value` is neither a function nor a tfjs-layers model.
 * @example
 * const t = asTeacher('rslad', 'teacher', teacherLayersModel);
 */
export function asTeacher(arg: string, value: unknown): Model {
  return named('asTeacher', () => {
    if (typeof value === 'function') return value as Model;
    if (typeof value === 'object' && value !== null && typeof (value as { apply?: unknown }).apply === 'function') {
      const run = layersForward(value as { apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown }, false);
      return (x) => {
        const out = run(x);
        if (!isTensor(out)) typeError(arg, 'return one logits tensor', out);
        return out as tf.Tensor2D;
      };
    }
    return typeError(arg, 'be a model: a function x => logits or a tfjs-layers model', value);
  });
}

/**
 * The student's `features` output in inference mode as a function, e.g. a frozen standard model's representation
 * for ARREST.
 *
 * @param student - a student that exposes `features`.
 * @returns `x ↦ features [B, d]`.
 * @throws RangeError (when called) if the student returns no features.
 * @example
 * const standardFeatures = featuresOf(studentFromLayers(standardNet, { featuresLayer: 'penultimate' }));
 */
export function featuresOf(student: Student): (x: tf.Tensor) => tf.Tensor2D {
  return named('featuresOf', () => {
    return (x) =>
      named('featuresOf', () => tf.tidy(() => {
        const out = student.forward(x, false);
        if (out.features === undefined) rangeError('student', 'expose features (use studentFromLayers with featuresLayer)', 'none');
        return out.features;
      }));
  });
}

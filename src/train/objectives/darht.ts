import * as tf from '@tensorflow/tfjs-core';
import { crossEntropyCore } from '../../losses/cross-entropy.js';
import { TEACHER_FEATURE_MAP_FIELDS, teacherFeatureMapLossCore, type TeacherFeatureMapConfig } from '../../losses/teacher-feature-map.js';
import { fraction, positive } from '../../core/options.js';
import { isTensor, rangeError, typeError, named } from '../../core/errors.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { adversarial, ownPgd, batchProgress, checkObjectiveOptions, checkTeachers, MEAN, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link darht}. */
export interface DarhtObjectiveOptions extends AttackSettings {
  /** The heterogeneous teachers, in the order of the feature map's blocks (pick them with low mutual transferability). */
  readonly teachers: readonly TeacherLike[];
  /** Fraction of training with the cross-entropy alone. @defaultValue 50/350 */
  readonly ceOnlyUntil?: number;
  /**
   * Fraction of training until which CE and KD are summed; KD alone afterwards. The official run uses 118/350, after
   * its learning rate has dropped ×10 at epoch 115: in the KD-only phase the final layer gets no gradient while the
   * feature map moves, and with a constant rate the frozen readout stops fitting it (measured on MNIST with Adam
   * 0.01: 14 % clean accuracy with 118/350, 91.5 % with 1). Pass 118/350 with such a schedule.
   * @defaultValue 1 (no KD-only phase)
   */
  readonly jointUntil?: number;
  /** Batches whose cross-entropy exceeds this are skipped. @defaultValue 8 */
  readonly skipAbove?: number;
  /** Probability that a batch trains on adversarial rather than clean inputs. @defaultValue 0.5 */
  readonly adversarialProbability?: number;
  /** @defaultValue 'kl' */
  readonly divergence?: 'kl' | 'mse';
  /** @defaultValue 'teacherConfidence' */
  readonly weighting?: 'teacherConfidence' | 'uniform';
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xt: tf.Tensor; teacherLogits: tf.Tensor2D[] };

/**
 * DARHT (arXiv 2402.15586): a student whose head is `studentTeacherHead(M, C)` learns M heterogeneous teachers
 * through its feature map. Per batch a fair coin picks `x̃ = x` or `x̃ = PGD(student)` (10 steps of `2.5·ε/steps`
 * unless `stepSize` is given, start `x + 0.001·N`; the official code's 0.003 at ε = 8/255 is a step of ≈ ε/10, which
 * stays inside the ε-ball on most pixels); `L_CE = CE(o(x̃), y)`, `L_KD = teacherFeatureMapLoss(z(x̃), [T_i(x̃)], y)`; the loss is
 * `L_CE` until `ceOnlyUntil`, `L_CE + L_KD` until `jointUntil` (by default the end: see that option), then `L_KD`;
 * the phases switch by batch. Batches with `L_CE > 8` are skipped.
 * The student must expose `featureMap` (see `studentFromLayers`).
 *
 * @param options - the teachers, the phase boundaries, the skip rule and the attack settings (`eps` required).
 * @returns the objective; terms: `ce`, `kd`.
 * @throws RangeError/TypeError for an empty teacher list, teachers of another class count, or a student whose feature
 * map is missing or not M·C wide.
 * @example
 * await fit(student, { x, y }, darht({ teachers: [cnn, mlp, wide], eps: 0.3 }), { epochs: 20 });
 */
export function darht(options: Readonly<DarhtObjectiveOptions>): Objective {
  return named('darht', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['teachers', 'ceOnlyUntil', 'jointUntil', 'skipAbove', 'adversarialProbability', 'divergence', 'weighting'],
      {
        ceOnlyUntil: fraction(50 / 350),
        jointUntil: fraction(1),
        skipAbove: positive(8),
        adversarialProbability: fraction(0.5),
        divergence: TEACHER_FEATURE_MAP_FIELDS.divergence,
        weighting: TEACHER_FEATURE_MAP_FIELDS.weighting
      },
      { randomStart: 'normal', steps: 10 }
    );
    const { ceOnlyUntil, jointUntil, skipAbove, adversarialProbability: pAdv } = config;
    if (jointUntil < ceOnlyUntil) rangeError('jointUntil', `be >= ceOnlyUntil (${String(ceOnlyUntil)})`, jointUntil);
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    if (!Array.isArray(options.teachers)) typeError('teachers', 'be an array of models', options.teachers);
    if (options.teachers.length === 0) rangeError('teachers', 'hold at least one teacher', '[]');
    const teachers = options.teachers.map((t, i) => asTeacher(`teachers[${String(i)}]`, t));
    const kdConfig: TeacherFeatureMapConfig = { divergence: config.divergence, weighting: config.weighting, reduction: 'mean' };
    const objective: Objective<Prepared> = {
      name: 'darht',
      bounds: attack.bounds,
      check: (student, c, sample) => {
        named('darht', () => {
          checkTeachers(teachers.map((t, i) => [`teachers[${String(i)}]`, t] as const), c, sample);
          const fm = student.forward(sample, false).featureMap;
          if (!isTensor(fm)) rangeError('student', 'expose a featureMap (build it with studentTeacherHead and studentFromLayers)', fm);
          if (fm.rank !== 2 || fm.shape[1] !== teachers.length * c) {
            rangeError(
              'student',
          `have a feature map of width M·C = ${String(teachers.length * c)} for ${String(teachers.length)} teachers of ${String(c)} classes`,
          fm
            );
          }
        });
      },
      prepare: (x, y, ctx) => {
        return named('darht', () => {
          const attacked = ctx.rng.next() < pAdv;
          const xt = attacked ? adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own(ctx.studentModel, x, y, seed)) : x;
          return { xt, teacherLogits: teachers.map((t, i) => teacherLogits(`teachers[${String(i)}]`, t, xt)) };
        });
      },
      loss: (p, _x, y, ctx) => {
        const out = ctx.student.forward(p.xt, true);
        const ce = crossEntropyCore(out.logits, y, MEAN) as tf.Scalar;
        const kd = teacherFeatureMapLossCore(out.featureMap as tf.Tensor2D, p.teacherLogits, y, kdConfig) as tf.Scalar;
        // Phases by batch, not by epoch: with few epochs an epoch-based switch lands far from the fractions.
        const at = batchProgress(ctx);
        const total = at < ceOnlyUntil ? ce : at < jointUntil ? tf.add<tf.Scalar>(ce, kd) : kd;
        return { total, terms: { ce, kd }, accuracyLogits: out.logits };
      },
      skip: (terms) => (terms.ce ?? 0) > skipAbove
    };
    return objective;
  });
}

import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { ARD_FIELDS, ardLossCore, type ArdConfig } from '../../losses/ard.js';
import type { Model } from '../../core/model.js';
import { oneOf, type OptionField } from '../../core/options.js';
import { asTeacher, type Student, type TeacherLike } from '../student.js';
import type { BatchContext, Objective } from '../objective.js';
import { adversarial, ownPgd, checkObjectiveOptions, checkTeachers, logitsOf, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link ard}. */
export interface ArdObjectiveOptions extends AttackSettings {
  /** The frozen (robust) teacher. */
  readonly teacher: TeacherLike;
  /** τ. @defaultValue 30 */
  readonly temperature?: number;
  /** α in [0, 1]. @defaultValue 1 */
  readonly alpha?: number;
  /**
   * How the KL term is scaled, passed to `ardLoss`: `'batchmean'` (ardkit's convention, the KL summed over classes)
   * or `'classMean'` (divided by the number of classes C, the `(1−α)·CE` term undivided: the authors' code,
   * goldblum/AdversariallyRobustDistillation `main.py`, uses PyTorch's element-mean `nn.KLDivLoss()`). The paper's α,
   * learning rates and weight decay carry over only with `'classMean'`.
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
  /**
   * The mode of the student while the attack runs: `'inference'` (ardkit's default, `ctx.studentModel`) or
   * `'training'`, the authors' choice (their `AttackPGD` runs the student after `net.train()`), which matters for
   * students with batch normalisation or dropout. In `'training'` mode the attack calls
   * `student.forward(x, true)` at every step; for a tfjs-layers student that is not free of side effects: each
   * training-mode BatchNormalization forward pass updates the layer's moving mean and variance (tfjs-layers writes
   * them inside `call`, whether or not a gradient tape is recording), as PyTorch does in the authors' code, so the
   * statistics then move `steps` more times per batch than in `'inference'` mode; dropout draws a fresh mask at every
   * attack step (from tfjs' unseeded generator unless the layer has its own `seed`, as for the loss's forward passes).
   * @defaultValue 'inference'
   */
  readonly attackMode?: 'inference' | 'training';
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D };

/** The student's logits in training mode as a {@link Model}, its other outputs released. */
function trainingModel(student: Student): Model {
  return (x) => {
    const out = student.forward(x, true);
    for (const t of [out.features, out.featureMap]) if (t !== undefined && t !== out.logits) t.dispose();
    return out.logits;
  };
}

/** The `attackMode` option of `ard` and `iad`. */
export const ATTACK_MODE_FIELD: OptionField<'inference' | 'training'> = /* @__PURE__ */ oneOf(['inference', 'training'], 'inference');

/** The model an attack runs against in the given mode. */
export function attackModelFor(mode: 'inference' | 'training', ctx: BatchContext): Model {
  return mode === 'training' ? trainingModel(ctx.student) : ctx.studentModel;
}

/**
 * ARD (Goldblum et al., arXiv 1905.09747): `ardLoss` with `x'` = PGD on the student's cross-entropy and the teacher's
 * clean logits `T(x)`, computed once per batch outside the tape. The attack runs with the student in inference mode
 * unless `attackMode: 'training'` (the authors' code); the KL is the class sum unless `klReduction: 'classMean'`
 * (the authors' code).
 *
 * @param options - the teacher, attack settings (`eps` required), τ, α, the KL reduction and the attack mode.
 * @returns the objective; terms: `ard`.
 * @throws RangeError/TypeError, when it is made, for invalid settings (the loss's τ ≤ 0 and α outside [0, 1] included), an
 * unknown `klReduction` or `attackMode`, or a teacher that is not a model; per batch, RangeError for a teacher whose
 * logits are not `[B, C]`.
 * @example
 * await fit(student, { x, y }, ard({ teacher, eps: 8 / 255, temperature: 30 }));
 * // The authors' conventions:
 * await fit(student, { x, y }, ard({ teacher, eps: 8 / 255, klReduction: 'classMean', attackMode: 'training' }));
 */
export function ard(options: Readonly<ArdObjectiveOptions>): Objective {
  return named('ard', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['teacher', 'temperature', 'alpha', 'klReduction', 'attackMode'],
      { temperature: ARD_FIELDS.temperature, alpha: ARD_FIELDS.alpha, klReduction: ARD_FIELDS.klReduction, attackMode: ATTACK_MODE_FIELD },
      { randomStart: 'uniform', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    const teacher = asTeacher('teacher', options.teacher);
    const { attackMode } = config;
    const loss: ArdConfig = { temperature: config.temperature, alpha: config.alpha, klReduction: config.klReduction, reduction: 'mean' };
    const objective: Objective<Prepared> = {
      name: 'ard',
      bounds: attack.bounds,
      check: (_s, c, sample) => {
        named('ard', () => {
          checkTeachers([['teacher', teacher]], c, sample);
        });
      },
      prepare: (x, y, ctx) => named('ard', () => ({
        xAdv: adversarial(custom, ctx, attackModelFor(attackMode, ctx), x, y, (seed) => own(attackModelFor(attackMode, ctx), x, y, seed)),
        teacherClean: teacherLogits('teacher', teacher, x)
      })),
      loss: (p, x, y, ctx) => {
        const studentAdv = logitsOf(ctx.student, p.xAdv);
        const total = ardLossCore(
        loss.alpha < 1
          ? { studentAdv, teacherClean: p.teacherClean, studentClean: logitsOf(ctx.student, x), labels: y }
          : { studentAdv, teacherClean: p.teacherClean },
        loss
        ) as tf.Scalar;
        return { total, terms: { ard: total }, accuracyLogits: studentAdv };
      }
    };
    return objective;
  });
}

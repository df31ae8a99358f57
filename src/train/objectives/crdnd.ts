import * as tf from '@tensorflow/tfjs-core';
import { klDivergenceCore, type KlDivergenceConfig } from '../../losses/kl-divergence.js';
import { CONTRASTIVE_FIELDS, contrastiveRelationLossCore, type ContrastiveConfig } from '../../losses/contrastive.js';
import { COMPENSATED_TARGETS_FIELDS, compensatedTargetsCore, createCompensation } from '../../losses/compensation.js';
import { checkFunction } from '../../core/validate.js';
import { nonNegative, oneOf } from '../../core/options.js';
import { isTensor, rangeError, named } from '../../core/errors.js';
import { asTeacher, type Student, type TeacherLike } from '../student.js';
import type { BatchContext, LossTerms, Objective, ObjectiveState } from '../objective.js';
import { adversarial, ownPgd, checkObjectiveOptions, checkTeachers, KL_MEAN, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link crdnd}. */
export interface CrdndObjectiveOptions extends AttackSettings {
  /** The frozen (possibly unreliable) teacher. */
  readonly teacher: TeacherLike;
  /**
   * `'confidence'`: the target is `compensatedTargets` (the teacher, leaning on the label where it is unsure);
   * `'learned'`: the target is the teacher's `σ(T(x))`, and the student's prediction passes through a
   * `createCompensation` matrix trained with it, `KL(σ(T(x)) ‖ σ(S(x'))·M)`; `M` is dropped at test time.
   * @defaultValue 'confidence'
   */
  readonly compensation?: 'confidence' | 'learned';
  /** β of the confidence weight. @defaultValue 1 */
  readonly beta?: number;
  /** λ_c, the weight of the contrastive term. Assumed. @defaultValue 1 */
  readonly lambda?: number;
  /** τ_c of the contrastive term. @defaultValue 0.1 */
  readonly temperature?: number;
  /** What the contrastive term compares: logits, or penultimate features (projected when widths differ). @defaultValue 'logits' */
  readonly embeddings?: 'logits' | 'features';
  /** The teacher's features `[B, d_T]`, required with `embeddings: 'features'`. */
  readonly teacherFeatures?: (x: tf.Tensor) => tf.Tensor2D;
  /** Seed of the projection head's initial weights. */
  readonly seed?: number;
}

/** The width `d` of features `[B, d]`; a RangeError naming `arg` and `rule` otherwise. */
function featureWidth(arg: string, features: unknown, rule: string): number {
  if (!isTensor(features) || features.rank !== 2) rangeError(arg, rule, features);
  return features.shape[1] ?? 0;
}

/** The widths of the student's and the teacher's features on `sample`: `[d_S, d_T]`. */
function featureWidths(student: Student, teacherFeatures: (x: tf.Tensor) => tf.Tensor2D, sample: tf.Tensor): [number, number] {
  return [
    featureWidth('student', student.forward(sample, false).features, 'expose features for embeddings: "features" (use studentFromLayers)'),
    featureWidth('teacherFeatures', teacherFeatures(sample), 'return features [B, d]')
  ];
}

/** The projection `[d_S, d_T]` of the student's features onto the teacher's width (Glorot-uniform), when they differ. */
function makeProjection([ds, dt]: [number, number], seed: number | undefined): tf.Variable | undefined {
  if (ds === dt) return undefined;
  const limit = Math.sqrt(6 / (ds + dt));
  return tf.variable(tf.randomUniform([ds, dt], -limit, limit, 'float32', seed), true, `crdnd_projection_${String(Date.now())}`);
}

/**
 * The learned compensation's term `KL(σ(T(x)) ‖ σ(S(x'))·M)`, `M = softmax_rows(W)` with `W` the state's
 * `compensation`: `σ(S)·M` is a distribution, so its log serves as logits (softmax(log p) = p).
 */
function learnedKl(teacherClean: tf.Tensor2D, studentLogits: tf.Tensor2D, weights: tf.Tensor | undefined): tf.Scalar {
  if (weights === undefined) rangeError('state', "hold the learned compensation (made by init) with compensation: 'learned'", weights);
  return klDivergenceCore(teacherClean, tf.log(tf.matMul(tf.softmax(studentLogits), tf.softmax(weights))) as tf.Tensor2D, KL_MEAN) as tf.Scalar;
}

/** What CRDND prepares per batch outside the tape. */
type Prepared = {
  xAdv: tf.Tensor;
  teacherClean: tf.Tensor2D;
  targets?: tf.Tensor2D;
  teacherEmbeddings: tf.Tensor2D;
};

/** What CRDND's loss needs besides the batch: its settings, resolved when the objective was made. */
interface CrdndLossSettings {
  readonly embeddings: 'logits' | 'features';
  readonly lambda: number;
  readonly contrastive: ContrastiveConfig;
  readonly probabilities: KlDivergenceConfig;
}

/** CRDND's loss terms of one batch, inside the tape: the (compensated) KL on `x'` plus λ_c·InfoNCE. */
function crdndTerms(p: Prepared, ctx: BatchContext, state: ObjectiveState, s: CrdndLossSettings): LossTerms {
  const out = ctx.student.forward(p.xAdv, true);
  const { compensation, projection } = state.tensors;
  const kl = p.targets === undefined ? learnedKl(p.teacherClean, out.logits, compensation) : (klDivergenceCore(p.targets, out.logits, s.probabilities) as tf.Scalar);
  let own: tf.Tensor2D = out.logits;
  if (s.embeddings === 'features') {
    own = out.features as tf.Tensor2D;
    if (projection !== undefined) own = tf.matMul(own, projection);
  }
  const nce = contrastiveRelationLossCore(own, p.teacherEmbeddings, s.contrastive) as tf.Scalar;
  return { total: tf.add<tf.Scalar>(kl, tf.mul(nce, s.lambda)), terms: { kl, nce }, accuracyLogits: out.logits };
}

/**
 * CRDND (Wang et al., ICASSP 2023, arXiv 2302.08764; ardkit's documented form): `KL(q ‖ σ(S(x'))) + λ_c·InfoNCE`, with
 * `q` the confidence-compensated teacher targets, or (`'learned'`) `KL(σ(T(x)) ‖ σ(S(x'))·M)` with a learned
 * row-stochastic `M` on the student's side, optimised with it and dropped at test time, and the InfoNCE between the student's embeddings of `x'` and the teacher's of `x`. `x'` = PGD on the
 * student's cross-entropy (an assumption). With `embeddings: 'features'` and widths that differ, a linear projection
 * of the student's features is learned with the student.
 *
 * @param options - the teacher, the compensation, β, λ_c, τ_c, the embeddings and the attack settings (`eps` required).
 * @returns the objective; terms: `kl`, `nce`. Its state's tensors, `compensation` (the learned `W`, `M = softmax_rows(W)`)
 * and `projection`, are trainable variables made by `init` for each run: they train with the student, are saved in
 * checkpoints, and `fit` releases them when it ends.
 * @throws RangeError/TypeError for invalid settings, a teacher of another class count, or missing features.
 * @example
 * await fit(student, { x, y }, crdnd({ teacher, eps: 8 / 255, compensation: 'learned' }));
 */
export function crdnd(options: Readonly<CrdndObjectiveOptions>): Objective {
  return named('crdnd', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['teacher', 'compensation', 'beta', 'lambda', 'temperature', 'embeddings', 'teacherFeatures', 'seed'],
      {
        compensation: oneOf(['confidence', 'learned'], 'confidence'),
        beta: COMPENSATED_TARGETS_FIELDS.beta,
        lambda: nonNegative(1),
        temperature: CONTRASTIVE_FIELDS.temperature,
        embeddings: oneOf(['logits', 'features'], 'logits')
      },
      { randomStart: 'uniform', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    const teacher = asTeacher('teacher', options.teacher);
    const { compensation: mode, beta, lambda, embeddings } = config;
    const contrastive: ContrastiveConfig = { temperature: config.temperature, reduction: 'mean' };
    const probabilities: KlDivergenceConfig = { reduction: 'mean', targetType: 'probabilities' };
    const teacherFeatures = options.teacherFeatures;
    const projectionSeed = options.seed;
    if (embeddings === 'features') checkFunction('teacherFeatures', teacherFeatures);
    const objective: Objective<Prepared> = {
      name: 'crdnd',
      bounds: attack.bounds,
      check: (student, c, sample) => {
        named('crdnd', () => {
          checkTeachers([['teacher', teacher]], c, sample);
          if (embeddings === 'features' && teacherFeatures !== undefined) featureWidths(student, teacherFeatures, sample);
        });
      },
      // The learned compensation's weights and the projection: trainable variables of the state, made per run.
      init: ({ student, numClasses, sample }) => {
        return named('crdnd', () => {
          const compensation = mode === 'learned' ? { compensation: createCompensation(numClasses, { name: 'crdnd_compensation' }).weights } : {};
          const widths = embeddings === 'features' && teacherFeatures !== undefined ? featureWidths(student, teacherFeatures, sample) : undefined;
          const projection = widths === undefined ? undefined : makeProjection(widths, projectionSeed);
          return { values: {}, tensors: { ...compensation, ...(projection === undefined ? {} : { projection }) } };
        });
      },
      prepare: (x, y, ctx) => {
        return named('crdnd', () => {
          const teacherClean = teacherLogits('teacher', teacher, x);
          const xAdv = adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own(ctx.studentModel, x, y, seed));
          const teacherEmbeddings = embeddings === 'logits' || teacherFeatures === undefined ? tf.clone(teacherClean) : teacherFeatures(x);
          return mode === 'confidence'
        ? { xAdv, teacherClean, targets: compensatedTargetsCore(teacherClean, y, { beta }), teacherEmbeddings }
        : { xAdv, teacherClean, teacherEmbeddings };
        });
      },
      loss: (p, _x, _y, ctx, state) => named('crdnd', () => crdndTerms(p, ctx, state, { embeddings, lambda, contrastive, probabilities }))
    };
    return objective;
  });
}

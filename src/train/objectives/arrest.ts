import * as tf from '@tensorflow/tfjs-core';
import { crossEntropyCore } from '../../losses/cross-entropy.js';
import {
  REPRESENTATION_FIELDS,
  representationDistanceCore,
  representationDistancePerExample,
  type RepresentationDistanceConfig,
  type RepresentationMetric
} from '../../losses/representation.js';
import { checkFunction } from '../../core/validate.js';
import { nonNegative } from '../../core/options.js';
import { isTensor, rangeError, named } from '../../core/errors.js';
import type { Objective } from '../objective.js';
import { adversarial, ownPgd, checkObjectiveOptions, MEAN, type AttackSettings, userAttack } from './common.js';

/** Options of {@link arrest}. */
export interface ArrestObjectiveOptions extends AttackSettings {
  /**
   * The frozen standard model's penultimate representation `h_std(x)`, `[B, d]` (e.g.
   * `featuresOf(studentFromLayers(standardNet, { featuresLayer: 'penultimate' }))`).
   */
  readonly standardFeatures: (x: tf.Tensor) => tf.Tensor2D;
  /** λ, the weight of RGKD. Assumed (the paper's value was not readable). @defaultValue 1 */
  readonly lambda?: number;
  /** γ, the distance above which an example is replayed with noise instead of attacked. Assumed. @defaultValue 0.1 */
  readonly gamma?: number;
  /** The representation distance. @defaultValue 'cosine' */
  readonly metric?: RepresentationMetric;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xTrain: tf.Tensor; standard: tf.Tensor2D; replayed: tf.Scalar };

/**
 * ARREST (Suzuki et al., ICCV 2023, arXiv 2308.16454), on a student initialised from a copy of a standard model
 * (AFT: adversarial fine-tuning): per example, `x̃ = x'` (PGD on the student's cross-entropy) or, where the student's
 * representation has drifted too far (`d(h_θ(x), h_std(x)) > γ`), a noisy replay `x̃ = clip(x + U(−ε, ε))` (NR); the
 * loss is `CE(S(x̃), y) + λ·d(h_θ(x), h_std(x))` (RGKD). The student must expose `features` (see `studentFromLayers`).
 * λ, γ and the noise are assumptions from the abstract, documented as options.
 *
 * @param options - the standard model's features, λ, γ, the metric and the attack settings (`eps` required).
 * @returns the objective; terms: `ce`, `rgkd`, `replayed` (the share of noisy replays).
 * @throws RangeError/TypeError for invalid settings, a student without features, or representations of another width.
 * @example
 * await fit(student, { x, y }, arrest({ standardFeatures: featuresOf(standard), eps: 0.3 }));
 */
export function arrest(options: Readonly<ArrestObjectiveOptions>): Objective {
  return named('arrest', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['standardFeatures', 'lambda', 'gamma', 'metric'],
      { lambda: nonNegative(1), gamma: nonNegative(0.1), metric: REPRESENTATION_FIELDS.metric },
      { randomStart: 'uniform', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const ownAttack = ownPgd(attack);
    checkFunction('standardFeatures', options.standardFeatures);
    const standardFeatures = options.standardFeatures;
    const { lambda, gamma, metric } = config;
    const distance: RepresentationDistanceConfig = { metric, reduction: 'mean' };
    const [lo, hi] = attack.bounds ?? [0, 1];
    const objective: Objective<Prepared> = {
      name: 'arrest',
      bounds: attack.bounds,
      check: (student, _c, sample) => {
        named('arrest', () => {
          const own = student.forward(sample, false).features;
          if (!isTensor(own)) rangeError('student', 'expose features (build it with studentFromLayers(model, { featuresLayer }))', own);
          const std = standardFeatures(sample);
          if (!isTensor(std) || std.shape.join(',') !== own.shape.join(',')) {
            rangeError('standardFeatures', `return representations of the student's shape [${own.shape.join(', ')}]`, std);
          }
        });
      },
      prepare: (x, y, ctx) => {
        const standard = standardFeatures(x);
        const xAdv = adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => ownAttack(ctx.studentModel, x, y, seed));
        const own = ctx.student.forward(x, false).features as tf.Tensor2D;
        // NR: 1 where the representation drifted beyond γ (tf.step: 1 for d − γ > 0).
        const drifted = tf.step(tf.sub(representationDistancePerExample(own, standard, metric), gamma));
        const mask = tf.reshape(drifted, [x.shape[0] ?? 1, ...x.shape.slice(1).map(() => 1)]);
        const noisy = tf.clipByValue(tf.add(x, ctx.rng.uniform(x.shape, -attack.eps, attack.eps)), lo, hi);
        const xTrain = tf.add(tf.mul(mask, noisy), tf.mul(tf.sub(1, mask), xAdv));
        return { xTrain, standard, replayed: tf.mean<tf.Scalar>(drifted) };
      },
      loss: (p, x, y, ctx) => {
        const z = ctx.student.forward(p.xTrain, true).logits;
        const ce = crossEntropyCore(z, y, MEAN) as tf.Scalar;
        const own = ctx.student.forward(x, true).features as tf.Tensor2D;
        const rgkd = representationDistanceCore(own, p.standard, distance) as tf.Scalar;
        return { total: tf.add<tf.Scalar>(ce, tf.mul(rgkd, lambda)), terms: { ce, rgkd, replayed: tf.clone(p.replayed) }, accuracyLogits: z };
      }
    };
    return objective;
  });
}

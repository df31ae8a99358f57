import type * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../attacks/pgd.js';
import { martLoss } from '../../losses/mart.js';
import { checkNonNegative } from '../../core/validate.js';
import type { Objective } from '../objective.js';
import { checkObjectiveOptions, logitsOf, type AttackSettings } from './common.js';

/** Options of {@link mart}. */
export interface MartObjectiveOptions extends AttackSettings {
  /** β. @defaultValue 6 */
  readonly beta?: number;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor };

/**
 * MART (Wang et al., ICLR 2020): `martLoss` on `x'` = PGD on the student's cross-entropy.
 *
 * @param options - attack settings (`eps` required) and β.
 * @returns the objective; terms: `mart`.
 * @throws RangeError for invalid settings.
 * @example
 * await fit(net, { x, y }, mart({ eps: 8 / 255 }));
 */
export function mart(options: Readonly<MartObjectiveOptions>): Objective {
  const fn = 'mart';
  const attack = checkObjectiveOptions(fn, options, ['beta'], { randomStart: 'uniform', steps: 10 });
  const beta = options.beta === undefined ? 6 : checkNonNegative(fn, 'beta', options.beta);
  const objective: Objective<Prepared> = {
    name: fn,
    prepare: (x, y, ctx) => ({ xAdv: pgd(ctx.studentModel, x, y, { ...attack, seed: ctx.rng.nextSeed() }) }),
    loss: (p, x, y, ctx) => {
      const adv = logitsOf(ctx.student, p.xAdv);
      const total = martLoss({ clean: logitsOf(ctx.student, x), adv, labels: y }, { beta }) as tf.Scalar;
      return { total, terms: { mart: total }, accuracyLogits: adv };
    }
  };
  return objective;
}

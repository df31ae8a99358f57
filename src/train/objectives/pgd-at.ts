import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { crossEntropyCore } from '../../losses/cross-entropy.js';
import type { Objective } from '../objective.js';
import { adversarial, ownPgd, checkObjectiveOptions, logitsOf, MEAN, type AttackSettings, userAttack } from './common.js';

/** Options of {@link pgdAt}: the PGD attack's settings (ε required; 10 steps, α = 2.5ε/steps, uniform start). */
export type PgdAtOptions = AttackSettings;

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor };

/**
 * PGD adversarial training (Madry et al., arXiv 1706.06083): minimise `CE(S(x'), y)` with `x'` = PGD on the
 * student's cross-entropy, made against the student in inference mode outside the gradient tape.
 *
 * @param options - the attack settings; `eps` is required.
 * @returns the objective for `fit`; terms: `ce`.
 * @throws RangeError for invalid attack settings or unknown keys.
 * @example
 * await fit(net, { x, y }, pgdAt({ eps: 0.3, steps: 10, stepSize: 0.075 }), { epochs: 5 });
 */
export function pgdAt(options: Readonly<PgdAtOptions>): Objective {
  return named('pgdAt', () => {
    const { attack } = checkObjectiveOptions(options, [], {}, { randomStart: 'uniform', steps: 10 });
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    const objective: Objective<Prepared> = {
      name: 'pgdAt',
      bounds: attack.bounds,
      prepare: (x, y, ctx) => ({ xAdv: adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own(ctx.studentModel, x, y, seed)) }),
      loss: (p, _x, y, ctx) => {
        const z = logitsOf(ctx.student, p.xAdv);
        const ce = crossEntropyCore(z, y, MEAN) as tf.Scalar;
        return { total: ce, terms: { ce }, accuracyLogits: z };
      }
    };
    return objective;
  });
}

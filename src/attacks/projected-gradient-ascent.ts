import * as tf from '@tensorflow/tfjs-core';
import { createRandom, type Random } from '../core/random.js';
import { checkFunction, checkGradientsRegistered, checkInBounds, checkInput, checkKnownKeys } from '../core/validate.js';
import { rangeError, named } from '../core/errors.js';
import { perExampleL2 } from './norms.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions, type ResolvedPerturbation } from './options.js';
import { l2StepUnchecked, signStepUnchecked } from './steps.js';
import { ballProjector } from './projections.js';
import { safeGradient } from './safe-gradient.js';

/**
 * A per-example objective of the perturbed input: `x' ↦ [B]` values to maximise. It must be
 * differentiable with respect to `x'`.
 */
export type InputObjective = (xAdv: tf.Tensor) => tf.Tensor;

/**
 * Projected gradient ascent on any per-example objective of the input: the engine behind
 * {@link pgd}, {@link cw}, {@link tradesAttack} and the distillation attacks (RSLAD, AdaAD).
 * `x_{k+1} = Π(x_k + α·sign(∇L))` (L∞) or `Π(x_k + α·∇L/‖∇L‖₂)` (L2), Π the projection on the
 * ε-ball around `x` intersected with `bounds` (Madry et al., arXiv 1706.06083).
 *
 * @param objective - `x' ↦ [B]` per-example values to maximise (negate it to minimise).
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param options - see {@link PerturbationOptions}; defaults: 10 steps, α = 2.5ε/steps, uniform start.
 * @returns adversarial inputs, same shape as `x`; the caller disposes them.
 * @throws RangeError for invalid options, `x` outside `bounds`, or an objective that does not return `[B]` values.
 * @example
 * // Push a model's logit for class 0 up, inside an L∞ ball of 0.1:
 * const xAdv = projectedGradientAscent((xa) => tf.gather(model(xa), [0], 1).squeeze([1]), x, { eps: 0.1 });
 */
export function projectedGradientAscent(
  objective: InputObjective,
  x: tf.Tensor,
  options: Readonly<PerturbationOptions>
): tf.Tensor {
  return named('projectedGradientAscent', () => {
    checkFunction('objective', objective);
    const config = resolveAscent(options);
    return runAscent(objective, x, config, config.seed);
  });
}

/**
 * Checks {@link projectedGradientAscent}'s options once, with errors naming the function the user called, and fills in the defaults (10 steps,
 * α = 2.5ε/steps, uniform start): the configuration {@link runAscent} runs without checking options again. Internal.
 *
 * @throws RangeError/TypeError for invalid options, as {@link projectedGradientAscent}.
 */
export function resolveAscent(options: Readonly<PerturbationOptions>): ResolvedPerturbation {
  const config = resolvePerturbation(options, { randomStart: 'uniform', steps: 10 });
  checkKnownKeys(options, PERTURBATION_KEYS);
  return config;
}

/**
 * {@link projectedGradientAscent} with a resolved configuration: checks `x` (an input inside the bounds), never the
 * options. `seed` is this call's seed; it replaces `config.seed`. Internal.
 */
export function runAscent(objective: InputObjective, x: tf.Tensor, config: ResolvedPerturbation, seed: number | undefined): tf.Tensor {
  checkInput('x', x);
  checkInBounds('x', x, config.bounds);
  return ascend(objective, x, seed === config.seed ? config : { ...config, seed }, 'objective');
}

/** Checks that an objective returned per-example values `[B]`. Internal (the ascent and miFgsm). */
export function checkPerExample(arg: string, value: tf.Tensor, batch: number): void {
  if (!(value instanceof tf.Tensor) || value.rank !== 1 || value.shape[0] !== batch) {
    rangeError(arg, `return per-example values of shape [${String(batch)}]`, value);
  }
}

/**
 * The projected-gradient loop on validated inputs and a resolved configuration (it checks no option). Every
 * intermediate is released each step; on an error the partial result is disposed before rethrowing.
 */
export function ascend(
  objective: InputObjective,
  x: tf.Tensor,
  r: ResolvedPerturbation,
  objectiveArg = 'loss'
): tf.Tensor {
  checkGradientsRegistered();
  const batch = x.shape[0] ?? 0;
  const rng = createRandom(r.seed);
  const projector = ballProjector(x, r.eps, r.norm, r.bounds);
  const project = projector.project;
  const gradient = safeGradient((xa: tf.Tensor) => {
    const values = objective(xa);
    checkPerExample(objectiveArg, values, batch);
    return tf.sum(values);
  });
  let xAdv: tf.Tensor | undefined;
  try {
    xAdv = tf.tidy(() => project(randomStart(x, r, rng)));
    for (let k = 0; k < r.steps; k++) {
      const current: tf.Tensor = xAdv;
      const next = tf.tidy(() => {
        const g = gradient(current);
        return project(r.norm === 'linf' ? signStepUnchecked(current, g, r.stepSize) : l2StepUnchecked(current, g, r.stepSize));
      });
      current.dispose();
      xAdv = next;
    }
    return xAdv;
  } catch (error) {
    xAdv?.dispose();
    throw error;
  } finally {
    projector.dispose();
  }
}

/** The starting point of the ascent (before projection). */
function randomStart(x: tf.Tensor, r: ResolvedPerturbation, rng: Random): tf.Tensor {
  if (r.randomStart === 'none' || r.eps === 0) return tf.clone(x);
  if (r.randomStart === 'normal') return tf.add(x, rng.normal(x.shape, 0, r.normalStd));
  if (r.norm === 'linf') return tf.add(x, rng.uniform(x.shape, -r.eps, r.eps));
  // L2 'uniform': a direction uniform on the sphere, a radius uniform in [0, ε] (as torchattacks' PGDL2).
  const direction = rng.normal(x.shape, 0, 1);
  const unit = tf.div(direction, tf.maximum(perExampleL2(direction), 1e-12));
  const radius = rng.uniform([x.shape[0] ?? 1, ...x.shape.slice(1).map(() => 1)], 0, r.eps);
  return tf.add(x, tf.mul(unit, radius));
}

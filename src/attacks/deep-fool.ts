import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkGradientsRegistered, checkLogits, optionKeys, type Bounds } from '../core/validate.js';
import { inputBounds, integer, nonNegative, oneOf, parseOptions, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, named, argumentError } from '../core/errors.js';
import { NORMS, type Norm } from './norms.js';
import { checkAttackInputs } from './runner.js';
import { safeLossAndGradient } from './loss-and-gradient.js';
import { ballProjector } from './projections.js';
import { tensorSlots } from './slots.js';
import { makeAttack } from './attack.js';
import type { Attack } from './types.js';

/** Options of {@link deepFool}. */
export interface DeepFoolOptions {
  /**
   * The distance DeepFool minimises: `'l2'` (the paper's main attack, torchattacks' `DeepFool`, Foolbox's
   * `L2DeepFool`) or `'linf'` (the paper's ℓ∞ variant, Foolbox's `LinfDeepFool`). Required with `eps`: ardkit's
   * ε-bounded attacks default to L∞, DeepFool to L2, and a radius meant for one norm is meaningless in the other.
   * @defaultValue 'l2'
   */
  readonly norm?: Norm;
  /** Iterations, a positive integer; every one is spent (see {@link deepFool}). @defaultValue 50 */
  readonly steps?: number;
  /** Overshoot η ≥ 0: each step moves `(1 + η)` times the linearised distance to the closest boundary. @defaultValue 0.02 */
  readonly overshoot?: number;
  /**
   * The classes whose boundaries are considered: the label and the `candidates − 1` other classes with the largest
   * clean logits (Foolbox's `candidates`, which defaults to 10). Each step costs one forward and backward pass per
   * class other than the label. An integer ≥ 2, capped at the number of classes C.
   * @defaultValue C (every class, as the paper and torchattacks)
   */
  readonly candidates?: number;
  /**
   * When given, `x'` is projected on the ε-ball around `x` in `norm` (Foolbox's clipping of a minimisation attack's
   * perturbation), and the attack's threat model carries this ε. Without it DeepFool is unbounded: it returns
   * the perturbation it found, however large. Requires `norm`.
   * @defaultValue undefined (unbounded)
   */
  readonly eps?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
}

const DEEP_FOOL_KEYS = optionKeys<DeepFoolOptions>()('norm', 'steps', 'overshoot', 'candidates', 'eps', 'bounds');

/**
 * How {@link deepFool}'s threat options are checked, before the rule that ties them (`norm` is required with `eps`);
 * both stay undefined when left out (`norm` then defaults to L2).
 */
const DEEP_FOOL_THREAT_FIELDS: { readonly eps: OptionField<number | undefined>; readonly norm: OptionField<Norm | undefined> } = {
  eps: /* @__PURE__ */ nonNegative(),
  norm: /* @__PURE__ */ oneOf(NORMS)
};

/** How {@link deepFool}'s other options are checked and defaulted, after that rule (`candidates` undefined: every class). */
const DEEP_FOOL_FIELDS: OptionFields<Pick<DeepFoolOptions, 'steps' | 'overshoot' | 'bounds'>> & { readonly candidates: OptionField<number | undefined> } = {
  steps: /* @__PURE__ */ integer(1, 50),
  overshoot: /* @__PURE__ */ nonNegative(0.02),
  candidates: /* @__PURE__ */ integer(2),
  bounds: /* @__PURE__ */ inputBounds([0, 1])
};

/** {@link DeepFoolOptions} checked, with every default filled in. Internal. */
interface DeepFoolConfig {
  readonly norm: Norm;
  readonly steps: number;
  readonly overshoot: number;
  /** Undefined: every class. */
  readonly candidates: number | undefined;
  /** Undefined: unbounded. */
  readonly eps: number | undefined;
  readonly bounds: Bounds;
}

/**
 * DeepFool (Moosavi-Dezfooli et al. 2016, arXiv 1511.04599), a minimal-perturbation attack, as torchattacks'
 * `DeepFool` (L2) and the paper's ℓ∞ variant. At each iterate, with `f'_k = z_k − z_y` and `w'_k = ∇ₓ(z_k − z_y)` for
 * the candidate classes k ≠ y, it linearises the model, picks the closest boundary
 * `l = argmin_k |f'_k| / ‖w'_k‖_q` (q = 2 for L2, q = 1 for L∞, the dual norm) and steps onto it:
 * `r = |f'_l|/‖w'_l‖₂² · w'_l` (L2) or `r = |f'_l|/‖w'_l‖₁ · sign(w'_l)` (L∞), then
 * `x_{i+1} = clip(x_i + (1 + η)·r, lo, hi)`. A point stops, and keeps its iterate, from the first step at which the
 * model no longer predicts its label; a point misclassified at `x` is returned unchanged. Where the box never clips,
 * `x' = x + (1 + η)·Σ r_i`, the paper's total perturbation with overshoot. On an affine classifier one step reaches the
 * exact minimal perturbation (times 1 + η).
 *
 * It reads nothing back while it iterates, so it cannot stop early once every point is fooled, as torchattacks does:
 * it always runs `steps` iterations (points already fooled are carried through them unchanged), each of them one
 * forward and backward pass per candidate class other than the label (C − 1 by default), for the whole batch at once.
 * With `eps`, `x'` is finally projected on the ε-ball around `x`. The gradients are per example only for models that
 * treat examples independently (no batch statistics), as for every attack here.
 *
 * Distance: L2 (default) or L∞. Inputs `[B, ...]` of any rank inside `bounds`; labels `[B]` int32.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]`, inside `bounds`.
 * @param y - `[B]` int32 true labels.
 * @param options - see {@link DeepFoolOptions}; defaults: L2, 50 steps, overshoot 0.02, every class, unbounded.
 * @returns adversarial inputs `x'`, same shape as `x`, inside `bounds` (and inside the ε-ball with `eps`); the caller
 * disposes them.
 * @throws RangeError when steps is not a positive integer, overshoot or eps is negative or not finite, candidates is
 * not an integer ≥ 2, norm is unknown or missing with eps, bounds are invalid, an option is unknown, labels have the
 * wrong length or are ≥ C, x lies outside bounds, or the model returns the wrong batch size; TypeError when model is
 * not a function.
 * @example
 * const xAdv = deepFool(model, x, y); // L2, 50 steps, overshoot 0.02
 * const xInf = deepFool(model, x, y, { norm: 'linf', candidates: 10 });
 * const bounded = deepFool(model, x, y, { norm: 'l2', eps: 0.5 }); // x' projected on the L2 ball of 0.5
 */
export function deepFool<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<DeepFoolOptions> = {}): T {
  return named('deepFool', () => {
    return runDeepFool(model, x, y, resolveDeepFool(options)) as T;
  });
}

/**
 * {@link deepFool} as an {@link Attack}: options checked once, when made; errors of its calls name `deepFoolAttack`.
 * DeepFool draws nothing at random, so a call's seed is checked but changes nothing.
 *
 * Its threat model carries `eps` when given; without it, `eps` is `Infinity`, which says what DeepFool is: a
 * minimal-perturbation attack with no radius. `evaluate` and `worstCase` then report the share of points DeepFool
 * fails to misclassify at any distance, not a robust accuracy at a radius; an objective of `fit` rejects it, as it
 * rejects every attack whose ε differs from its own. Give `eps` (and `norm`) to count it as an ε-bounded attack.
 *
 * @param options - see {@link DeepFoolOptions}.
 * @returns an {@link Attack} with the threat model `{ eps: eps ?? Infinity, norm, bounds }`.
 * @throws RangeError/TypeError for invalid options (see {@link deepFool}), when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { deepFool: deepFoolAttack({ norm: 'l2', eps: 0.5 }) } });
 */
export function deepFoolAttack(options: Readonly<DeepFoolOptions> = {}): Attack {
  return named('deepFoolAttack', () => {
    const config = resolveDeepFool(options);
    return makeAttack('deepFoolAttack', { eps: config.eps ?? Infinity, norm: config.norm, bounds: config.bounds }, undefined, (model, x, y) => named('deepFoolAttack', () => ({
      xAdv: runDeepFool(model, x, y, config)
    })));
  });
}

/** Checks {@link deepFool}'s options once, with errors naming the function the user called, and fills in the defaults. */
function resolveDeepFool(options: Readonly<DeepFoolOptions>): DeepFoolConfig {
  const { eps, norm } = parseOptions(options, DEEP_FOOL_THREAT_FIELDS, DEEP_FOOL_KEYS);
  if (eps !== undefined && norm === undefined) {
    rangeError('norm', 'be given with eps, "l2" or "linf" (DeepFool defaults to L2, the ε-bounded attacks to L∞)', undefined);
  }
  return { norm: norm ?? 'l2', eps, ...resolveFields(options, DEEP_FOOL_FIELDS) };
}

/** A `[B]` vector shaped `[B, 1, …, 1]` to broadcast against a tensor of rank `rank`. */
function asRows(v: tf.Tensor, rank: number): tf.Tensor {
  return tf.reshape(v, [v.shape[0] ?? 1, ...new Array<number>(rank - 1).fill(1)]);
}

/** The per-example norm `[B]` over every non-batch value: ‖·‖₂ (L2 attack) or ‖·‖₁ (L∞ attack, the dual norm). */
function dualNorm(g: tf.Tensor, norm: Norm): tf.Tensor {
  return tf.tidy(() => {
    const flat = tf.reshape(g, [g.shape[0] ?? 1, -1]);
    return norm === 'l2' ? tf.norm(flat, 'euclidean', 1) : tf.sum(tf.abs(flat), 1);
  });
}

/** `g/‖g‖₂` per example; zero where `g` is zero. */
function unitL2(g: tf.Tensor, rank: number): tf.Tensor {
  return tf.tidy(() => {
    const norm = asRows(dualNorm(g, 'l2'), rank);
    return tf.where(tf.greater(norm, 0), tf.div(g, norm), tf.zerosLike(g));
  });
}

/**
 * The candidate classes as `[B, C]` float32 differences `e_k − e_y`, one per candidate rank (the `k − 1` other classes
 * with the largest clean logits, most likely first): `Σ_c z_c·(e_k − e_y)_c = z_k − z_y`. The caller disposes them.
 */
function candidateDifferences(model: Model, x: tf.Tensor, y: tf.Tensor1D, maxLabel: number, candidates: number | undefined): tf.Tensor2D[] {
  return tf.tidy(() => {
    const logits = checkLogits(model(x), x.shape[0] ?? 0, maxLabel, y);
    const classes = logits.shape[1];
    const others = Math.min(candidates ?? classes, classes) - 1;
    const label = tf.cast(tf.oneHot(y, classes), 'float32');
    const masked = tf.where(tf.cast(label, 'bool'), tf.fill(logits.shape, -Infinity), logits);
    const ranked = tf.topk(masked, others).indices;
    return tf.unstack(ranked, 1).map((k) => tf.sub<tf.Tensor2D>(tf.cast(tf.oneHot(k as tf.Tensor1D, classes), 'float32'), label));
  });
}

/**
 * Runs a resolved DeepFool: checks the call's inputs (never the options), then `steps` iterations on the whole batch
 * with a per-point mask of the points still classified correctly, all on the device. Internal.
 */
function runDeepFool(model: Model, x: unknown, y: unknown, config: DeepFoolConfig): tf.Tensor {
  const inputs = checkAttackInputs(model, x, y, config.bounds);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  checkGradientsRegistered();
  const batch = inputs.x.shape[0] ?? 0;
  const rank = inputs.x.rank;
  const [lo, hi] = config.bounds;
  const slots = tensorSlots<'xAdv' | 'active'>();
  let differences: tf.Tensor2D[] = [];
  try {
    differences = candidateDifferences(model, inputs.x, inputs.y, inputs.maxLabel, config.candidates);
    // One vector-Jacobian product per candidate: ∇ₓ Σ_b (z_k − z_y)_b is, row by row, w'_k of each example.
    const linearisations = differences.map((difference) =>
      safeLossAndGradient((xa) => {
        const logits = checkLogits(model(xa), batch, inputs.maxLabel, inputs.y);
        return { loss: tf.sum(tf.mul(logits, difference), 1), logits };
      })
    );
    slots.set('xAdv', tf.clone(inputs.x));
    slots.set('active', tf.ones([batch], 'bool'));
    for (let i = 0; i < config.steps; i++) {
      tf.tidy(() => {
        const current = slots.get('xAdv');
        let active: tf.Tensor | undefined;
        let best: { distance: tf.Tensor; normal: tf.Tensor } | undefined;
        for (const [j, linearise] of linearisations.entries()) {
          const { grad, loss, logits } = linearise(current);
          try {
            if (j === 0) active = tf.logicalAnd(slots.get('active'), tf.equal(tf.argMax(logits, 1), inputs.y));
            const norm = dualNorm(grad, config.norm);
            // |f'_k| / ‖w'_k‖; a boundary with no gradient is infinitely far.
            const distance = tf.where(tf.greater(norm, 0), tf.div(tf.abs(loss), norm), tf.fill([batch], Infinity));
            if (best === undefined) {
              best = { distance, normal: tf.clone(grad) };
            } else {
              const closer = tf.less(distance, best.distance);
              const next = { distance: tf.where(closer, distance, best.distance), normal: tf.where(asRows(closer, rank), grad, best.normal) };
              tf.dispose([best.distance, best.normal, distance, closer]);
              best = next;
            }
            norm.dispose();
          } finally {
            tf.dispose([grad, loss, logits]);
          }
        }
        if (active === undefined || best === undefined) throw argumentError(Error, 'internal state missing');
        const { distance, normal } = best;
        const direction = config.norm === 'l2' ? unitL2(normal, rank) : tf.sign(normal);
        // r = |f'_l|/‖w'_l‖_q · direction; a point with no gradient at all does not move.
        const size = tf.where(tf.isFinite(distance), distance, tf.zerosLike(distance));
        const moved = tf.clipByValue(tf.add(current, tf.mul(direction, asRows(tf.mul(size, 1 + config.overshoot), rank))), lo, hi);
        slots.set('xAdv', tf.where(asRows(active, rank), moved, current));
        slots.set('active', active);
      });
    }
    const out = slots.take('xAdv');
    if (config.eps === undefined) return out;
    const projector = ballProjector(inputs.x, config.eps, config.norm, config.bounds);
    try {
      return projector.project(out);
    } finally {
      out.dispose();
      projector.dispose();
    }
  } finally {
    slots.dispose();
    tf.dispose(differences);
  }
}

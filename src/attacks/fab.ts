import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { createRandom, type Random } from '../core/random.js';
import { checkGradientsRegistered, checkKnownKeys, checkLogits, checkPositive, optionKeys, type Bounds } from '../core/validate.js';
import { custom, integer, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named, argumentError } from '../core/errors.js';
import type { Norm } from './norms.js';
import { resolveThreat } from './options.js';
import { checkAttackInputs } from './runner.js';
import { correctOnDevice } from './rows.js';
import { safeGradient } from './safe-gradient.js';
import { tensorSlots } from './slots.js';
import { makeAttack } from './attack.js';
import type { Attack, AttackOutput } from './types.js';

/** Options shared by {@link fab} and {@link fabTargeted}. */
export interface FabBaseOptions {
  /**
   * The radius ε of the threat model, in input units. Required. FAB looks for the smallest perturbation that changes
   * the class; a point counts as broken, and gets its adversarial example, only where that perturbation is ≤ ε. The
   * random starts of later restarts lie at distance ε/2 from `x`.
   */
  readonly eps: number;
  /** @defaultValue 'linf' */
  readonly norm?: Norm;
  /** Iterations per run, a positive integer. @defaultValue 100 */
  readonly steps?: number;
  /** Runs per point (per target class for {@link fabTargeted}); the second and later start at random. @defaultValue 1 */
  readonly restarts?: number;
  /** The largest weight α of the step toward the original point's projection, in (0, 1]. @defaultValue 0.1 */
  readonly alphaMax?: number;
  /** The overshoot η ≥ 1 of each projection step. @defaultValue 1.05 */
  readonly eta?: number;
  /** The backward step β in (0, 1]: after a success the iterate moves to `x + β(x' − x)`. @defaultValue 0.9 */
  readonly beta?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of the random starts of restarts after the first; the same seed gives the same result on the same backend. */
  readonly seed?: number;
}

/** Options of {@link fab} (untargeted FAB). */
export type FabOptions = FabBaseOptions;

/** Options of {@link fabTargeted} (FAB-T). */
export interface FabTargetedOptions extends FabBaseOptions {
  /**
   * How many target classes to try per point: the classes with the largest clean logits other than the label, most
   * likely first (capped at C − 1). @defaultValue 9
   */
  readonly targetClasses?: number;
}

/** FAB's options with every default filled in. Internal. */
export interface FabConfig {
  readonly eps: number;
  readonly norm: Norm;
  readonly steps: number;
  readonly restarts: number;
  readonly alphaMax: number;
  readonly eta: number;
  readonly beta: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
  /** Target classes per point (FAB-T); undefined = untargeted. */
  readonly targetClasses: number | undefined;
}

const BASE_KEYS = optionKeys<FabBaseOptions>()('eps', 'norm', 'steps', 'restarts', 'alphaMax', 'eta', 'beta', 'bounds', 'seed');
const FAB_KEYS = optionKeys<FabOptions>()(...BASE_KEYS);
const FAB_TARGETED_KEYS = optionKeys<FabTargetedOptions>()(...BASE_KEYS, 'targetClasses');

/**
 * A finite number `> 0` that must also satisfy `within` (FAB's α_max, η and β), else a RangeError saying `rule`;
 * `fallback` when left out.
 */
function positiveWithin(fallback: number, within: (value: number) => boolean, rule: string): OptionField<number> {
  return custom((arg, value) => {
    const v = checkPositive(arg, value);
    if (!within(v)) rangeError(arg, rule, v);
    return v;
  }, fallback);
}

/**
 * How FAB's and FAB-T's options are checked and defaulted, besides the threat model (`resolveThreat`), in the order
 * they are checked (`targetClasses` is FAB-T's alone: FAB's keys exclude it).
 */
const FAB_FIELDS: OptionFields<Omit<FabTargetedOptions, 'eps' | 'norm' | 'bounds' | 'seed'>> = {
  steps: /* @__PURE__ */ integer(1, 100),
  restarts: /* @__PURE__ */ integer(1, 1),
  alphaMax: /* @__PURE__ */ positiveWithin(0.1, (v) => v <= 1, 'be in (0, 1]'),
  eta: /* @__PURE__ */ positiveWithin(1.05, (v) => v >= 1, 'be a finite number >= 1 (the overshoot of each step)'),
  beta: /* @__PURE__ */ positiveWithin(0.9, (v) => v <= 1, 'be in (0, 1]'),
  targetClasses: /* @__PURE__ */ integer(1, 9)
};

/** What FAB's distances are never below (the reference's `1e-8` floor on the projections' norms). */
const MIN_NORM = 1e-8;
/** The most rows one pass of untargeted FAB's linearisation runs (the batch tiled over a chunk of the classes). */
const TILED_ROWS = 4096;
/** The reference's "no adversarial example found yet" distance. */
const NOT_FOUND = 1e10;

/** Checks FAB's options once, with errors naming the function the user called, and fills in the defaults. */
export function resolveFab(options: Readonly<FabTargetedOptions>, targeted: boolean): FabConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
  checkKnownKeys(options, targeted ? FAB_TARGETED_KEYS : FAB_KEYS);
  const { eps, norm, bounds, seed } = resolveThreat(options);
  const { targetClasses, ...fields } = resolveFields(options, FAB_FIELDS);
  return { eps, norm, bounds, seed, ...fields, targetClasses: targeted ? targetClasses : undefined };
}

/** Row-wise dot product of two `[N, D]` tensors, `[N]`. */
function rowDot(a: tf.Tensor, b: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.mul(a, b), 1);
}

/**
 * `out[n, j] = m[n, idx[n, j]]` for `m` `[N, K]` and `idx` `[N, J]` int32: one gather on axis 0 of `m` flattened, at
 * `n·K + idx[n, j]`. (tfjs' `gather` with `batchDims = 1` says this directly, but the wasm backend of tfjs 4.22 returns
 * wrong values for it, and reads out of bounds on large inputs.)
 */
function takeAlongRows(m: tf.Tensor, idx: tf.Tensor): tf.Tensor2D {
  const [n = 0, k = 0] = m.shape;
  const j = idx.shape[1] ?? 1;
  const offsets = tf.reshape(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(k, 'int32')), [n, 1]);
  return tf.reshape(tf.gather(tf.reshape(m, [n * k]), tf.reshape(tf.add(idx, offsets), [n * j])), [n, j]);
}

/** Column `idx[n]` of row `n` of `m` (`[N, K]`, `idx` `[N]` int32), `[N]`. */
function pick(m: tf.Tensor, idx: tf.Tensor): tf.Tensor1D {
  const n = m.shape[0] ?? 0;
  return tf.reshape(takeAlongRows(m, tf.reshape(idx, [n, 1])), [n]);
}

/** The last column of an `[N, K]` tensor, `[N]`. */
function lastColumn(m: tf.Tensor): tf.Tensor1D {
  const [n = 0, k = 0] = m.shape;
  return tf.reshape(tf.slice(m, [0, k - 1], [n, 1]), [n]);
}

/**
 * The binary search of FAB's projections, vectorised over the rows: `⌈log₂ D⌉` halvings of `[lo, hi]` (as integers
 * stored in floats), moving `lo` up where `above(mid)` holds, else `hi` down. Returns `lo`, `[N]` int32.
 */
function bisect(n: number, dim: number, above: (mid: tf.Tensor) => tf.Tensor): tf.Tensor1D {
  let lo: tf.Tensor = tf.zeros([n]);
  let hi: tf.Tensor = tf.fill([n], dim - 1);
  for (let i = 0; i < Math.ceil(Math.log2(dim)); i++) {
    const mid = tf.floor(tf.div(tf.add(lo, hi), 2));
    const up = above(tf.cast(mid, 'int32'));
    lo = tf.where(up, mid, lo);
    hi = tf.where(up, hi, mid);
  }
  return tf.cast(lo, 'int32') as tf.Tensor1D;
}

/**
 * FAB's L∞ projection (Croce & Hein 2020, arXiv 1907.02044, Sec. 3.2), row by row: the smallest `‖d‖∞` with
 * `⟨w, t + d⟩ = b` and `t + d ∈ [0, 1]^D`, by sorting the coordinates by their room to the box corner `w` points
 * away from and a binary search over the sorted breakpoints; where the hyperplane cannot be reached inside the box,
 * the step toward that corner. The same arithmetic as the reference implementation (fra31/auto-attack,
 * `projection_linf`), except that a row whose `w` is all zero gets `d = 0` (the reference gives NaN). Internal;
 * exported for tests.
 *
 * @param t - points `[N, D]` in `[0, 1]`.
 * @param w - hyperplane normals `[N, D]`.
 * @param b - offsets `[N]`.
 * @returns `d` `[N, D]`; the caller disposes it.
 */
export function fabProjectLinf(t: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, dim] = t.shape;
    // Orient every hyperplane so that t lies on its non-negative side.
    const side = tf.sub(tf.mul(tf.cast(tf.greaterEqual(tf.sub(rowDot(w, t), b), 0), 'float32'), 2), 1);
    const wo = tf.mul(w, tf.expandDims(side, 1));
    const bo = tf.mul(b, side);
    const toZero = tf.cast(tf.less(wo, 0), 'float32');
    const nonzero = tf.notEqual(wo, 0);
    // The step to the corner, and each coordinate's room to it.
    const corner = tf.where(nonzero, tf.sub(toZero, t), tf.zerosLike(t));
    const room = tf.sub(toZero, tf.mul(t, tf.sub(tf.mul(toZero, 2), 1)));
    // The coordinates by decreasing room (the reference's argsort, reversed).
    const { values: roomDesc, indices: order } = tf.topk(room, dim);
    const gap = tf.sub(bo, rowDot(wo, t));
    const atCorner = rowDot(wo, corner);
    const ws = takeAlongRows(wo, order);
    const s = tf.cumsum(tf.abs(ws), 1);
    const sb = tf.add(tf.cumsum(tf.neg(tf.mul(ws, takeAlongRows(corner, order))), 1), tf.expandDims(atCorner, 1));
    const allIn = tf.sub(lastColumn(sb), tf.mul(lastColumn(s), lastColumn(roomDesc)));
    const inside = tf.greater(tf.sub(gap, allIn), 0);
    const search = tf.logicalAnd(tf.greater(tf.sub(gap, atCorner), 0), tf.logicalNot(inside));
    const lb = bisect(n, dim, (mid) => tf.greater(tf.sub(gap, tf.sub(pick(sb, mid), tf.mul(pick(s, mid), pick(roomDesc, mid)))), 0));
    const lambdaInside = tf.expandDims(tf.relu(tf.div(tf.sub(gap, lastColumn(sb)), tf.neg(lastColumn(s)))), 1);
    const dInside = tf.mul(tf.sub(tf.mul(toZero, 2), 1), lambdaInside);
    const lambda = tf.expandDims(tf.relu(tf.div(tf.sub(gap, pick(sb, lb)), tf.neg(pick(s, lb)))), 1);
    const dSearch = tf.add(tf.mul(tf.minimum(lambda, corner), toZero), tf.mul(tf.maximum(tf.neg(lambda), corner), tf.sub(1, toZero)));
    const d = tf.where(tf.expandDims(inside, 1), dInside, tf.where(tf.expandDims(search, 1), dSearch, corner));
    return tf.where(tf.logicalAnd(nonzero, tf.isFinite(d)), d, tf.zerosLike(d)) as tf.Tensor2D;
  });
}

/**
 * FAB's L2 projection (Croce & Hein 2020, arXiv 1907.02044, Sec. 3.2), row by row: the smallest `‖d‖₂` with
 * `⟨w, t + d⟩ = b` and `t + d ∈ [0, 1]^D`, `d_i = clip(−α·w_i, −t_i, 1 − t_i)` with α found by sorting the
 * coordinates' clipping points and a binary search. The same arithmetic as the reference implementation
 * (fra31/auto-attack, `projection_l2`), except that a row whose `w` is all zero gets `d = 0` (the reference gives
 * NaN). Internal; exported for tests.
 *
 * @param t - points `[N, D]` in `[0, 1]`.
 * @param w - hyperplane normals `[N, D]`.
 * @param b - offsets `[N]`.
 * @returns `d` `[N, D]`; the caller disposes it.
 */
export function fabProjectL2(t: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, dim] = t.shape;
    const BIG = 1e12;
    const c0 = tf.sub(rowDot(w, t), b);
    const side = tf.sub(tf.mul(tf.cast(tf.greaterEqual(c0, 0), 'float32'), 2), 1);
    const wo = tf.mul(w, tf.expandDims(side, 1));
    const c = tf.mul(c0, side);
    const used = tf.greater(tf.abs(wo), 1e-8);
    // Where each coordinate leaves the box along −w (its clipping point in units of α).
    const rRaw = tf.clipByValue(tf.maximum(tf.div(t, wo), tf.div(tf.sub(t, 1), wo)), -BIG, BIG);
    const r = tf.where(tf.logicalOr(tf.logicalNot(used), tf.equal(rRaw, -BIG)), tf.fill([n, dim], BIG), rRaw);
    // Ascending order of r.
    const { values: negSorted, indices: order } = tf.topk(tf.neg(r), dim);
    const rsFull = tf.neg(negSorted);
    const rs2Full = tf.concat([tf.slice(rsFull, [0, 1], [n, dim - 1]), tf.zeros([n, 1])], 1);
    const rs = tf.where(tf.equal(rsFull, BIG), tf.zerosLike(rsFull), rsFull);
    const rs2 = tf.where(tf.equal(rs2Full, BIG), tf.zerosLike(rs2Full), rs2Full);
    const w2s = takeAlongRows(tf.square(wo), order);
    const w5 = tf.sum(w2s, 1, true);
    const ws = tf.sub(w5, tf.cumsum(w2s, 1));
    const d = tf.where(used, tf.neg(tf.mul(r, wo)), tf.zerosLike(wo));
    const first = tf.mul(w5, tf.slice(rs, [0, 0], [n, 1]));
    const s = tf.concat([tf.neg(first), tf.sub(tf.cumsum(tf.mul(tf.sub(rs, rs2), ws), 1), first)], 1);
    const free = tf.less(tf.add(tf.reshape(tf.slice(s, [0, 0], [n, 1]), [n]), c), 0);
    const clipped = tf.greater(tf.add(rowDot(d, wo), c), 0);
    const search = tf.logicalNot(tf.logicalOr(free, clipped));
    const lb = bisect(n, dim, (mid) => tf.greater(tf.add(pick(s, mid), c), 0));
    const dFree = tf.neg(tf.mul(tf.expandDims(tf.div(c, tf.reshape(w5, [n])), 1), wo));
    const wsLb = pick(ws, lb);
    const alphaRaw = tf.add(tf.div(tf.add(pick(s, lb), c), wsLb), pick(rs, lb));
    const alpha = tf.expandDims(tf.where(tf.equal(wsLb, 0), tf.zerosLike(alphaRaw), alphaRaw), 1);
    const beyond = tf.greater(alpha, r);
    const dSearch = tf.where(beyond, d, tf.neg(tf.mul(alpha, wo)));
    const out = tf.where(tf.expandDims(free, 1), dFree, tf.where(tf.expandDims(search, 1), dSearch, d));
    return tf.where(tf.logicalAnd(used, tf.isFinite(out)), out, tf.zerosLike(out)) as tf.Tensor2D;
  });
}

/** Per-row norm of an `[N, D]` tensor in `norm`, `[N]`. */
function rowNorm(m: tf.Tensor, norm: Norm): tf.Tensor1D {
  return (norm === 'linf' ? tf.max(tf.abs(m), 1) : tf.sqrt(tf.sum(tf.square(m), 1))) as tf.Tensor1D;
}

/** Per-row dual norm (L1 for L∞, L2 for L2) over the last axis. */
function dualNorm(m: tf.Tensor, norm: Norm): tf.Tensor {
  const axis = m.rank - 1;
  return norm === 'linf' ? tf.sum(tf.abs(m), axis) : tf.sqrt(tf.sum(tf.square(m), axis));
}

/** What one FAB run found, per point: tensors that stay on the device, owned by the caller. */
interface FabRunResult {
  /** `[B, D]` in the unit box: the smallest adversarial point found, else the clean point. */
  readonly adv: tf.Tensor2D;
}

/**
 * The linearisation FAB projects on at an iterate `u` `[B, D]` (unit box): the differences `df = z_k − z_y` and their
 * gradients `dg` `[B, K, D]` for the candidate classes (every class, the label's difference set to 1e10; or the target
 * only). Untargeted: forward and backward passes on the batch tiled over chunks of the classes (at most TILED_ROWS rows
 * each), class k's copy carrying the cotangent of logit k.
 */
function linearise(
  f: (u: tf.Tensor) => tf.Tensor2D,
  u: tf.Tensor2D,
  y: tf.Tensor1D,
  targets: tf.Tensor1D | undefined,
  classes: number
): { df: tf.Tensor2D; dg: tf.Tensor3D } {
  const [batch, dim] = u.shape;
  const logitsOut: { z?: tf.Tensor2D } = {};
  if (targets !== undefined) {
    const g = safeGradient((v: tf.Tensor) => {
      const z = f(v);
      logitsOut.z = tf.keep(tf.clone(z));
      const diff = tf.sum(tf.mul(z, tf.sub(tf.oneHot(targets, classes), tf.oneHot(y, classes))), 1);
      return tf.sum(diff);
    })(u);
    const z = logitsOut.z;
    if (z === undefined) throw argumentError(Error, 'internal: no logits');
    return tf.tidy(() => {
      const df = tf.reshape(tf.sum(tf.mul(z, tf.sub(tf.oneHot(targets, classes), tf.oneHot(y, classes))), 1), [batch, 1]);
      const out = { df: df as tf.Tensor2D, dg: tf.reshape<tf.Rank.R3>(g, [batch, 1, dim]) };
      z.dispose();
      g.dispose();
      return out;
    });
  }
  // The classes in chunks of at most TILED_ROWS rows (the whole batch times the chunk's classes), so that a large batch
  // of many classes does not hold one huge tape.
  const perChunk = Math.max(1, Math.floor(TILED_ROWS / Math.max(batch, 1)));
  const parts: tf.Tensor[] = [];
  try {
    for (let c0 = 0; c0 < classes; c0 += perChunk) {
      const k = Math.min(perChunk, classes - c0);
      const tiled = tf.tidy(() => tf.tile(u, [k, 1]));
      const cotangent = tf.tidy(() => tf.oneHot(tf.add(tf.floorDiv(tf.range(0, k * batch, 1, 'int32'), tf.scalar(batch, 'int32')), tf.scalar(c0, 'int32')), classes));
      try {
        parts.push(safeGradient((v: tf.Tensor) => {
          const z = f(v);
          if (c0 === 0) logitsOut.z = tf.keep(tf.slice(z, [0, 0], [batch, classes]));
          return tf.sum(tf.mul(z, cotangent));
        })(tiled));
      } finally {
        tf.dispose([tiled, cotangent]);
      }
    }
    const z = logitsOut.z;
    if (z === undefined) throw argumentError(Error, 'internal: no logits');
    const g = parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 0);
    if (parts.length > 1) tf.dispose(parts);
    parts.length = 0;
    return tf.tidy(() => {
      const labelMask = tf.oneHot(y, classes);
      const zy = tf.sum(tf.mul(z, labelMask), 1, true);
      const df = tf.where(tf.cast(labelMask, 'bool'), tf.fill([batch, classes], NOT_FOUND), tf.sub(z, zy));
      const grads = tf.transpose(tf.reshape(g, [classes, batch, dim]), [1, 0, 2]);
      const gy = tf.sum(tf.mul(grads, tf.expandDims(labelMask, 2)), 1, true);
      const out = { df: df as tf.Tensor2D, dg: tf.sub<tf.Tensor3D>(grads, gy) };
      z.dispose();
      g.dispose();
      return out;
    });
  } catch (error) {
    tf.dispose(parts);
    logitsOut.z?.dispose();
    throw error;
  }
}

/**
 * One FAB run (Croce & Hein 2020, Algorithm 1) on points `x0` `[B, D]` of the unit box, all on the device: no
 * readback. Each iteration linearises the decision boundary of the closest class (or of the target), projects both
 * the iterate and the original point on it, steps `x ← clip((x + η·d₁)(1 − α) + (x₀ + η·d₂)·α)` with
 * `α = min(‖d₁‖ / (‖d₁‖ + ‖d₂‖), α_max)`, and where the step is adversarial keeps the smaller of it and the best
 * so far, then moves back to `x₀ + β(x − x₀)`.
 */
function fabRun(
  f: (u: tf.Tensor) => tf.Tensor2D,
  x0: tf.Tensor2D,
  y: tf.Tensor1D,
  targets: tf.Tensor1D | undefined,
  classes: number,
  cfg: FabConfig,
  epsUnit: number,
  start: Random | undefined
): FabRunResult {
  const [batch] = x0.shape;
  const project = cfg.norm === 'linf' ? fabProjectLinf : fabProjectL2;
  const state = tensorSlots<'x1' | 'adv' | 'res'>();
  try {
    state.set('adv', tf.clone(x0));
    state.set('res', tf.fill([batch], NOT_FOUND));
    state.set('x1', start === undefined ? tf.clone(x0) : tf.tidy(() => {
      const t = cfg.norm === 'linf' ? start.uniform(x0.shape, -1, 1) : start.normal(x0.shape, 0, 1);
      const scale = tf.div(epsUnit * 0.5, tf.maximum(tf.expandDims(rowNorm(t, cfg.norm), 1), 1e-12));
      return tf.clipByValue(tf.add(x0, tf.mul(t, scale)), 0, 1);
    }));
    for (let k = 0; k < cfg.steps; k++) {
      const x1 = state.get('x1') as tf.Tensor2D;
      const lin = linearise(f, x1, y, targets, classes);
      let next: tf.Tensor2D;
      try {
        next = tf.tidy((): tf.Tensor2D => {
          const { df, dg } = lin;
          const dist = tf.div(tf.abs(df), tf.add(dualNorm(dg, cfg.norm), 1e-12));
          // The candidate whose linearised boundary is closest (FAB-T has one candidate, the target).
          const closest = df.shape[1] === 1 ? tf.onesLike(df) : tf.cast(tf.oneHot(tf.argMin(dist, 1), df.shape[1]), 'float32');
          const w = tf.sum<tf.Tensor2D>(tf.mul(dg, tf.expandDims(closest, 2)), 1);
          const b = tf.add(tf.neg(tf.sum(tf.mul(df, closest), 1)), rowDot(w, x1));
          const d3 = project(tf.concat([x1, x0], 0), tf.concat([w, w], 0), tf.concat([b, b], 0) as tf.Tensor1D);
          const d1 = tf.slice(d3, [0, 0], [batch, -1]);
          const d2 = tf.slice(d3, [batch, 0], [batch, -1]);
          const a0 = tf.maximum(rowNorm(d3, cfg.norm), MIN_NORM);
          const a1 = tf.slice(a0, [0], [batch]);
          const a2 = tf.slice(a0, [batch], [batch]);
          const alpha = tf.expandDims(tf.clipByValue(tf.div(a1, tf.add(a1, a2)), 0, cfg.alphaMax), 1);
          return tf.clipByValue(tf.add<tf.Tensor2D>(tf.mul(tf.add(x1, tf.mul(d1, cfg.eta)), tf.sub(1, alpha)), tf.mul(tf.add(x0, tf.mul(d2, cfg.eta)), alpha)), 0, 1);
        });
      } finally {
        tf.dispose([lin.df, lin.dg]);
      }
      state.set('x1', next);
      const logits = tf.tidy(() => f(next));
      tf.tidy(() => {
        const fooled = tf.notEqual(tf.argMax(logits, 1), y);
        const t = rowNorm(tf.sub(next, x0), cfg.norm);
        const better = tf.logicalAnd(fooled, tf.less(t, state.get('res')));
        state.set('adv', tf.where(tf.expandDims(better, 1), next, state.get('adv')));
        state.set('res', tf.where(better, t, state.get('res')));
        state.set('x1', tf.where(tf.expandDims(fooled, 1), tf.add(x0, tf.mul(tf.sub(next, x0), cfg.beta)), next));
      });
      logits.dispose();
    }
    return { adv: state.take('adv') as tf.Tensor2D };
  } finally {
    state.dispose();
  }
}

/**
 * Runs FAB's rounds (one per restart, per target class for FAB-T) on the whole batch, on the device: a round's result
 * counts for a point still robust where it is misclassified and within ε of `x` (the reference's rule), and the point
 * is then out. Points misclassified at `x` are returned unchanged. Nothing is read back.
 */
function runFab(model: Model, x: unknown, y: unknown, cfg: FabConfig): AttackOutput {
  const inputs = checkAttackInputs(model, x, y, cfg.bounds);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  checkGradientsRegistered();
  const xIn = inputs.x;
  const labels = inputs.y;
  const batch = xIn.shape[0] ?? 0;
  const dim = xIn.size / Math.max(batch, 1);
  const [lo, hi] = cfg.bounds;
  const span = hi - lo;
  const shape = xIn.shape;
  /** The model on the unit box: FAB's projections and clipping assume [0, 1]^D. */
  const f = (u: tf.Tensor): tf.Tensor2D => {
    const rows = u.shape[0] ?? 0;
    const xs = lo === 0 && span === 1 ? tf.reshape(u, [rows, ...shape.slice(1)]) : tf.reshape(tf.add(tf.mul(u, span), lo), [rows, ...shape.slice(1)]);
    return checkLogits(model(xs), rows, -1);
  };
  const clean = tf.tidy(() => tf.clone(checkLogits(model(xIn), batch, inputs.maxLabel, labels)));
  const classes = clean.shape[1];
  if (cfg.targetClasses !== undefined && classes < 2) rangeError('model', 'return logits for at least 2 classes', clean);
  const state = tensorSlots<'xAdv' | 'robust' | 'x0' | 'order'>();
  try {
    state.set('xAdv', tf.clone(xIn));
    state.set('robust', correctOnDevice(clean, labels));
    state.set('x0', tf.tidy(() => tf.reshape(lo === 0 && span === 1 ? xIn : tf.div(tf.sub(xIn, lo), span), [batch, dim])));
    const rng = createRandom(cfg.seed);
    const ranks: (number | undefined)[] = cfg.targetClasses === undefined ? [undefined] : [];
    if (cfg.targetClasses !== undefined) {
      for (let r = 1; r <= Math.min(cfg.targetClasses, classes - 1); r++) ranks.push(r);
      state.set('order', tf.tidy(() => {
        const label = tf.cast(tf.oneHot(labels, classes), 'bool');
        return tf.topk(tf.where(label, tf.fill(clean.shape, -Infinity), clean), classes - 1).indices;
      }));
    }
    if (cfg.eps > 0) {
      for (const rank of ranks) {
        const targets = rank === undefined ? undefined : tf.tidy(() => tf.reshape<tf.Rank.R1>(tf.slice(state.get('order'), [0, rank - 1], [batch, 1]), [batch]));
        try {
          for (let r = 0; r < cfg.restarts; r++) {
            const run = fabRun(f, state.get('x0') as tf.Tensor2D, labels, targets, classes, cfg, cfg.eps / span, r > 0 ? rng : undefined);
            try {
              const candidate = tf.tidy(() => tf.reshape(lo === 0 && span === 1 ? run.adv : tf.add(tf.mul(run.adv, span), lo), shape));
              let logits: tf.Tensor2D;
              try {
                logits = tf.tidy(() => checkLogits(model(candidate), batch));
              } catch (error) {
                candidate.dispose();
                throw error;
              }
              tf.tidy(() => {
                const fooled = tf.notEqual(tf.argMax(logits, 1), labels);
                const within = tf.lessEqual(rowNorm(tf.reshape(tf.sub(candidate, xIn), [batch, dim]), cfg.norm), cfg.eps);
                const broken = tf.logicalAnd(state.get('robust'), tf.logicalAnd(fooled, within));
                state.set('xAdv', tf.where(tf.reshape(broken, [batch, ...new Array<number>(xIn.rank - 1).fill(1)]), candidate, state.get('xAdv')));
                state.set('robust', tf.logicalAnd(state.get('robust'), tf.logicalNot(broken)));
              });
              tf.dispose([candidate, logits]);
            } finally {
              run.adv.dispose();
            }
          }
        } finally {
          targets?.dispose();
        }
      }
    }
    const success = tf.tidy(() => tf.logicalNot(state.get('robust')));
    return { xAdv: state.take('xAdv'), success: success as tf.Tensor1D };
  } finally {
    state.dispose();
    clean.dispose();
  }
}

/**
 * FAB, the Fast Adaptive Boundary attack (Croce & Hein 2020, arXiv 1907.02044), untargeted, in L∞ or L2: a
 * minimum-norm attack. Each iteration linearises the model around the iterate, takes the class whose linearised
 * boundary is closest, projects both the iterate and `x` on that boundary inside the box, and steps to a convex
 * combination of the two projections, biased toward `x`; after each adversarial iterate it keeps the smallest one and
 * steps back toward `x`. It needs the gradients of all C logits per iteration (one pass on the batch tiled C times).
 * As AutoAttack counts it: a point is broken where the smallest adversarial example FAB found is within ε, and then
 * gets it; every other point is returned unchanged (`x' = x`). Restarts after the first start at ε/2 from `x`, in a
 * random direction. The arithmetic follows the reference implementation (fra31/auto-attack, `FABAttack`); nothing is
 * read back, on any backend.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` of any rank, inside `bounds`.
 * @param y - `[B]` int32 true labels.
 * @param options - see {@link FabOptions}; defaults: L∞, 100 steps, 1 restart, α_max 0.1, η 1.05, β 0.9.
 * @returns `x'`, same shape as `x`: an adversarial example within ε where FAB found one, else `x`; the caller
 * disposes it.
 * @throws RangeError when eps is missing, negative or NaN, steps or restarts is not a positive integer, alphaMax or
 * beta is outside (0, 1], eta is below 1, the norm is unknown, labels are invalid, x lies outside bounds or the model
 * returns the wrong shape; TypeError when model is not a function; any error the model throws (nothing leaks).
 * @example
 * const xAdv = fab(model, x, y, { eps: 0.3 });                        // L∞, 100 steps
 * const xL2 = fab(model, x, y, { eps: 1.5, norm: 'l2', restarts: 5, seed: 0 });
 */
export function fab<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<FabOptions>): T {
  return named('fab', () => {
    const out = runFab(model, x, y, resolveFab(options, false));
    out.success?.dispose();
    return out.xAdv as T;
  });
}

/**
 * FAB-T, the targeted FAB of AutoAttack (Croce & Hein 2020, arXiv 1907.02044 and 2003.01690): {@link fab} toward each
 * of the `targetClasses` most likely other classes of every point (by clean logit, most likely first), on the points
 * not broken yet; each iteration needs one gradient, of `z_t − z_y`. AutoAttack's standard version runs it with 9
 * target classes, 100 steps and one run per target. A point is broken where FAB-T found a misclassified point within
 * ε; every other point is returned unchanged.
 *
 * @param model - a {@link Model} returning logits `[B, C]`, C ≥ 2.
 * @param x - clean inputs `[B, ...]` of any rank, inside `bounds`.
 * @param y - `[B]` int32 true labels.
 * @param options - see {@link FabTargetedOptions}; defaults: L∞, 100 steps, 1 run per target, 9 target classes.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws RangeError for the options of {@link fab}, or targetClasses that is not a positive integer; TypeError when
 * model is not a function; any error the model throws (nothing leaks).
 * @example
 * const xAdv = fabTargeted(model, x, y, { eps: 8 / 255 });            // FAB-T, 9 targets
 */
export function fabTargeted<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<FabTargetedOptions>): T {
  return named('fabTargeted', () => {
    const out = runFab(model, x, y, resolveFab(options, true));
    out.success?.dispose();
    return out.xAdv as T;
  });
}

/**
 * The {@link Attack} of a FAB or FAB-T configuration resolved once by {@link resolveFab}, whose calls' errors name `name`:
 * `fabAttack`, `fabTargetedAttack`, or the suite that made it (`autoAttack`). Internal.
 */
export function fabAttackFrom(name: string, config: FabConfig): Attack {
  return makeAttack(name, { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, y, seed) =>
    runFab(model, x, y, seed === config.seed ? config : { ...config, seed })
  );
}

/**
 * {@link fab} as an {@link Attack}: options checked once, when made; errors of its calls name `fabAttack`.
 * `detailed` adds `success` (`[B]` bool: broken within ε).
 *
 * @param options - see {@link FabOptions}; `eps` is required.
 * @returns an {@link Attack} (its norm, the given bounds).
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { fab: fabAttack({ eps: 0.3 }) } });
 */
export function fabAttack(options: Readonly<FabOptions>): Attack {
  return named('fabAttack', () => {
    return fabAttackFrom('fabAttack', resolveFab(options, false));
  });
}

/**
 * {@link fabTargeted} as an {@link Attack}: options checked once, when made; errors of its calls name
 * `fabTargetedAttack`. `detailed` adds `success` (`[B]` bool: broken within ε).
 *
 * @param options - see {@link FabTargetedOptions}; `eps` is required.
 * @returns an {@link Attack} (its norm, the given bounds).
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { 'fab-t': fabTargetedAttack({ eps: 0.3 }) } });
 */
export function fabTargetedAttack(options: Readonly<FabTargetedOptions>): Attack {
  return named('fabTargetedAttack', () => {
    return fabAttackFrom('fabTargetedAttack', resolveFab(options, true));
  });
}

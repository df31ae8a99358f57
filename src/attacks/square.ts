import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { createRandom, type Random } from '../core/random.js';
import { checkKnownKeys, optionKeys, checkLogits, type Bounds } from '../core/validate.js';
import { custom, integer, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { checksReadAtOnce } from '../core/device-checks.js';
import { marginPerExample } from '../losses/cw-margin.js';
import { checkAttackInputs } from './runner.js';
import { indicesWhere } from './rows.js';
import { tensorSlots } from './slots.js';
import { resolveThreat } from './options.js';
import type { Norm } from './norms.js';
import { makeAttack } from './attack.js';
import type { Attack, AttackOutput } from './types.js';

/** Options of {@link square}. */
export interface SquareOptions {
  /** The radius ε, in input units. Required. */
  readonly eps: number;
  /** The norm of the ball: L∞ (squares at the ball's corners) or L2 (AutoAttack's L2 Square). @defaultValue 'linf' */
  readonly norm?: Norm;
  /**
   * Model queries allowed per point, all included: one at `x`, one at the stripe initialisation, then one per
   * proposed square. @defaultValue 5000
   */
  readonly queries?: number;
  /** The initial fraction `p` of the input a square covers, in (0, 1]. @defaultValue 0.8 */
  readonly pInit?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of the random stripes, squares and signs. */
  readonly seed?: number;
}

/**
 * What `square` returned before it returned `x'` alone: `squareAttack(options).detailed(model, x, y)` returns the same
 * three tensors (as an {@link AttackOutput}), all owned by the caller.
 * @deprecated Use `squareAttack(options).detailed(model, x, y)`, whose `queries` and `success` are this type's. Removed in
 * the next minor release.
 */
export interface SquareResult {
  /** `x'`, same shape as `x`, inside the ε-ball and the bounds. */
  readonly xAdv: tf.Tensor;
  /**
   * `[B]` int32: the model queries spent on each point (at most `queries`; fewer when the point was fooled early).
   * `await queries.data()` is an `Int32Array`.
   */
  readonly queries: tf.Tensor1D;
  /**
   * `[B]` bool: true where `x'` is misclassified (margin `z_y − max_{j≠y} z_j < 0`). `await success.data()` is a
   * `Uint8Array` of 0 and 1; `tf.sum(success)` counts the points fooled.
   */
  readonly success: tf.Tensor1D;
}

/**
 * The square-size schedule of Square Attack (Andriushchenko et al. 2020, arXiv 1912.00049): `p` starts at
 * `pInit` and halves after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10 000-query run;
 * for another budget the iteration is first rescaled to `⌊iteration/queries·10 000⌋`, unless `rescale` is false (the
 * reference AutoAttack's Square, `resc_schedule=False`: its 5000 queries run the first half of the schedule, down to
 * `pInit/128`). Internal; exported for tests.
 */
export function squareSchedule(iteration: number, queries: number, pInit: number, rescale = true): number {
  const it = rescale ? Math.floor((iteration / queries) * 10000) : iteration;
  const thresholds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  const halvings = thresholds.filter((t) => it > t).length;
  return pInit / 2 ** halvings;
}

/** The layout of one example: `height × width` positions of `channels` values each (NHWC order). */
interface Geometry {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly size: number;
}

/** `[B, D]` vectors are one row of D positions; `[B, H, W]` one channel; `[B, H, W, C, …]` NHWC with the tail as channels. */
function geometry(shape: readonly number[]): Geometry {
  const [, a = 1, b, ...rest] = shape;
  const height = b === undefined ? 1 : a;
  const width = b ?? a;
  const channels = rest.reduce((p, d) => p * d, 1);
  return { height, width, channels, size: height * width * channels };
}

/** The window of one update: `p·n/c` positions, a square (or a segment of a 1-row input), inside the image. */
function windowSize(g: Geometry, p: number): { h: number; w: number } {
  const positions = (p * g.size) / g.channels;
  if (g.height === 1) return { h: 1, w: Math.min(g.width, Math.max(1, Math.round(positions))) };
  const s = Math.min(g.height, g.width, Math.max(1, Math.round(Math.sqrt(positions))));
  return { h: s, w: s };
}

/**
 * Square Attack, L∞ or L2 (Andriushchenko et al. 2020, arXiv 1912.00049): a score-based black-box attack that only
 * queries the model's logits, never its gradient. Points the model misclassifies at `x` are returned unchanged
 * (one query). The others start from vertical stripes (`x + ε·s`, one random sign `s` per column and channel),
 * then each iteration proposes, per point, a random square window of side
 * `≈ √(p·n/c)` (n input values, c channels) whose values are set to `x ± ε` with one random sign per
 * channel, and keeps the proposal only if it lowers the margin loss
 * `z_y − max_{j≠y} z_j`. `p` starts at `pInit` and halves after iterations 10, 50, 200, 500, 1000, 2000, 4000,
 * 6000 and 8000 of a 10 000-query run, rescaled to the budget. A point stops (and stops costing queries) once its
 * margin is below 0. As in the reference, a proposal's signs are redrawn when it would not change the window (here:
 * the first of 10 sign sets drawn per point that changes it).
 *
 * L2 (`norm: 'l2'`, AutoAttack's L2 member, images only): the start tiles the image with blocks of side ⌊H/5⌋, each
 * a pattern of nested rectangles (positive upper half, negative lower half) times a random sign per channel, scaled to
 * the sphere of radius ε. Each iteration draws two windows of odd side `max(round(√(p·n/c)), 3)` per point: the
 * perturbation of both windows, plus the budget `ε² − ‖δ‖²` left, goes into the first, as a fresh pattern added to its
 * normalised old content; the second is zeroed; the whole δ is rescaled to norm ε and clipped to the box. The windows
 * are drawn per point (the reference draws one position per iteration for the whole batch).
 *
 * Every iteration runs on the device: the window positions and signs are drawn on the host from the seeded stream
 * (they depend on no data) and uploaded as small tensors; proposals, the model query, the acceptance and the query
 * counts are tensors. On cpu, wasm and tensorflow the attack reads one success mask per iteration, to query the model
 * only on the points still attacked and to stop once all are fooled. On webgl and webgpu it reads nothing back: the
 * model then sees the whole batch in every iteration, and the loop always runs the whole budget (the cost of
 * `queries` full-batch forward passes, also once every point is fooled), but the draws, the decisions and the counts
 * are the same, so results agree with cpu up to the backend's floating-point differences.
 *
 * Inputs `[B, H, W, C]` (NHWC, tfjs' layout) or `[B, H, W]`; `[B, D]` vectors are treated as one row, where the
 * square becomes a segment of `p·D` values.
 *
 * @param model - a {@link Model} returning logits `[B, C]`; only called forward.
 * @param x - clean inputs inside `bounds`.
 * @param y - `[B]` int32 true labels.
 * @param options - see {@link SquareOptions}; defaults: L∞, 5000 queries, pInit 0.8.
 * @returns `x'`, same shape and type as `x`, inside the ε-ball and `bounds`; the caller disposes it. The queries spent
 * per point and the per-point success come from `squareAttack(options).detailed(model, x, y)`.
 * @throws RangeError when eps is missing, negative or NaN, the norm is unknown, queries is not a positive integer, pInit
 * is not in (0, 1], labels are invalid, x lies outside bounds, x is not an image of side ≥ 5 (L2) or the model returns
 * the wrong shape; TypeError when model is not a function.
 * @example
 * const xAdv = square(model, x, y, { eps: 0.3, queries: 1000, seed: 0 });
 * const { xAdv: xa, queries, success } = squareAttack({ eps: 0.3, queries: 1000, seed: 0 }).detailed(model, x, y);
 * const spent = await queries?.data(); // Int32Array, one count per point
 * tf.dispose([xAdv, xa, queries, success].filter((t) => t !== undefined));
 */
export function square<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<SquareOptions>): T {
  return named('square', () => {
    const config = resolveSquare(options);
    const out = runSquare(model, x, y, config, config.seed);
    tf.dispose([out.queries, out.success]);
    return out.xAdv as T;
  });
}

const SQUARE_KEYS = optionKeys<SquareOptions>()('eps', 'norm', 'queries', 'pInit', 'bounds', 'seed');

/** The default of {@link SquareOptions.pInit}. */
const P_INIT = 0.8;

/**
 * The initial fraction `p`, a number in (0, 1]; `null` counts as left out (`pInit ?? 0.8`), as it always has, unlike
 * the other options.
 */
function squareFraction(): OptionField<number> {
  return custom((arg, value) => {
    const p = value ?? P_INIT;
    if (typeof p !== 'number' || !(p > 0 && p <= 1)) rangeError(arg, 'be a number in (0, 1]', p);
    return p;
  }, P_INIT);
}

/** How {@link square}'s options are checked and defaulted, besides the threat model (`resolveThreat`), in that order. */
const SQUARE_FIELDS: OptionFields<Pick<SquareOptions, 'queries' | 'pInit'>> = {
  queries: /* @__PURE__ */ integer(1, 5000),
  pInit: /* @__PURE__ */ squareFraction()
};

/** {@link SquareOptions} checked once, with the defaults filled in: what {@link runSquare} runs. Internal. */
export interface SquareConfig {
  readonly eps: number;
  readonly norm: Norm;
  readonly budget: number;
  readonly pInit: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
  /** Whether the p schedule is rescaled to the budget (true except in AutoAttack's suite, as the reference). */
  readonly rescale: boolean;
}

/** Checks {@link square}'s options once (errors naming the function the user called) and fills in the defaults. Internal. */
export function resolveSquare(options: Readonly<SquareOptions>): SquareConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
  checkKnownKeys(options, SQUARE_KEYS);
  const { eps, norm, bounds, seed } = resolveThreat(options);
  const { queries: budget, pInit } = resolveFields(options, SQUARE_FIELDS);
  return { eps, norm, budget, pInit, bounds, seed, rescale: true };
}

/**
 * {@link square} as an {@link Attack} (see `pgdAttack`): options checked once, when made; errors of its calls name
 * `squareAttack`; a call's seed overrides `options.seed`. {@link Attack.detailed} also returns the queries spent
 * and the success per point, as tensors the caller disposes; a plain call returns `x'` alone (and releases them).
 *
 * @param options - see {@link SquareOptions}; `eps` is required.
 * @returns an {@link Attack} (its norm, the given bounds).
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const sq = squareAttack({ eps: 0.3, queries: 1000, seed: 0 });
 * const { xAdv, queries, success } = sq.detailed(model, x, y);
 * console.log(await queries?.data());
 * tf.dispose([xAdv, queries, success].filter((t) => t !== undefined));
 */
export function squareAttack(options: Readonly<SquareOptions>): Attack {
  return named('squareAttack', () => {
    return squareAttackFrom('squareAttack', resolveSquare(options));
  });
}

/**
 * A Square configuration as AutoAttack builds it (fra31/auto-attack): the schedule not rescaled, and `queries`
 * proposals after the two queries at x and at the start (the reference counts proposals only). Internal.
 */
export function referenceSquare(config: SquareConfig): SquareConfig {
  return { ...config, rescale: false, budget: config.budget + 2 };
}

/**
 * The {@link Attack} of a Square configuration resolved once by {@link resolveSquare} (or {@link referenceSquare}),
 * whose calls' errors name `name`: `squareAttack`, or the suite that made it (`autoAttack`). Internal.
 */
export function squareAttackFrom(name: string, config: SquareConfig): Attack {
  return makeAttack(name, { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, y, seed) => runSquare(model, x, y, config, seed));
}

/**
 * Sign sets drawn per point and iteration. The reference redraws a proposal's signs while it would leave the window
 * unchanged (a wasted query); here the first of these pre-drawn sets that changes the window is chosen on the device.
 */
const SIGN_SETS = 10;

/** What the host draws for one iteration, for every point: no data dependency, so nothing is read back. */
interface SquareDraws {
  /** `[B]` row of each window's top edge. */
  readonly top: Float32Array;
  /** `[B]` column of each window's left edge. */
  readonly left: Float32Array;
  /** `[B, SIGN_SETS, channels]`: 1 for +ε, 0 for −ε. */
  readonly positive: Float32Array;
}

/** A window position and {@link SIGN_SETS} sign sets per point, drawn from `rng` in a fixed order. */
function drawSquares(rng: Random, batch: number, g: Geometry, win: { h: number; w: number }): SquareDraws {
  const top = new Float32Array(batch);
  const left = new Float32Array(batch);
  const perPoint = SIGN_SETS * g.channels;
  const positive = new Float32Array(batch * perPoint);
  for (let b = 0; b < batch; b++) {
    top[b] = rng.nextInt(g.height - win.h + 1);
    left[b] = rng.nextInt(g.width - win.w + 1);
    for (let k = 0; k < perPoint; k++) positive[b * perPoint + k] = rng.next() < 0.5 ? 0 : 1;
  }
  return { top, left, positive };
}

/*
 * The Square tensors are `[B, D]` rows (D = H·W·C values in NHWC order) and 0/1 masks. Per-point and per-channel values
 * are spread over the rows by matrix products rather than by broadcasting a size-1 axis: tfjs' cpu backend broadcasts
 * element by element through index arithmetic, many times slower, while a GPU does either alike.
 */

/** Constant tensors of one run, made once. */
interface SquareLayout {
  /** `[H]` the row index 0 … H−1. */
  readonly rowIndex: tf.Tensor;
  /** `[W·C]` the column of each value of an image row: w, repeated for every channel. */
  readonly columnIndex: tf.Tensor;
  /** `[D, C]` 0/1: 1 where value j belongs to channel c. */
  readonly channelOf: tf.Tensor;
  /** `[1, n]` ones, for the lengths n = H, W·C and D. */
  readonly ones: ReadonlyMap<number, tf.Tensor>;
}

/** Makes the {@link SquareLayout} of a geometry (kept tensors: the caller disposes them with {@link disposeLayout}). */
function squareLayout(g: Geometry): SquareLayout {
  const channelOf = new Float32Array(g.size * g.channels);
  for (let j = 0; j < g.size; j++) channelOf[j * g.channels + (j % g.channels)] = 1;
  const columnIndex = Float32Array.from({ length: g.width * g.channels }, (_, j) => Math.floor(j / g.channels));
  // Made directly from host values (no intermediate tensors), and kept out of any tidy scope of the caller.
  const ones = new Map<number, tf.Tensor>();
  for (const n of [g.height, g.width * g.channels, g.size]) if (!ones.has(n)) ones.set(n, tf.keep(tf.ones([1, n])));
  return {
    rowIndex: tf.keep(tf.range(0, g.height)),
    columnIndex: tf.keep(tf.tensor1d(columnIndex)),
    channelOf: tf.keep(tf.tensor2d(channelOf, [g.size, g.channels])),
    ones
  };
}

function disposeLayout(layout: SquareLayout): void {
  tf.dispose([layout.rowIndex, layout.columnIndex, layout.channelOf, ...layout.ones.values()]);
}

/** `[B, n]`, every column equal to `v` (`[B]`). To be called inside a tidy scope. */
function spreadColumns(layout: SquareLayout, v: tf.Tensor, n: number): tf.Tensor {
  const ones = layout.ones.get(n);
  if (ones === undefined) throw new Error(`Square Attack: internal layout has no ones of length ${String(n)}`);
  return tf.matMul(tf.reshape(v, [v.size, 1]), ones);
}

/**
 * `[B, n]` 0/1: whether `start_b ≤ index_j < start_b + length`, with the row or column of each value in `index`
 * (`[n]`): the window's extent along one axis, compared on the device. To be called inside a tidy scope.
 */
function windowExtent(layout: SquareLayout, offsets: Float32Array, length: number, index: tf.Tensor): tf.Tensor {
  const start = spreadColumns(layout, tf.tensor1d(offsets), index.size);
  return tf.cast(tf.logicalAnd(tf.greaterEqual(index, start), tf.less(index, tf.add(start, length))), 'float32');
}

/**
 * `[B, D]` 0/1: the `win.h × win.w` window of each point at (`top`, `left`), every channel: the outer product of its
 * row and column extents, per point. To be called inside a tidy scope.
 */
function windowMask(layout: SquareLayout, top: Float32Array, left: Float32Array, win: { h: number; w: number }, g: Geometry): tf.Tensor {
  const batch = top.length;
  const rows = windowExtent(layout, top, win.h, layout.rowIndex);
  const columns = windowExtent(layout, left, win.w, layout.columnIndex);
  return tf.reshape(tf.matMul(tf.reshape(rows, [batch, g.height, 1]), tf.reshape(columns, [batch, 1, g.width * g.channels])), [batch, g.size]);
}

/**
 * The proposals of one iteration, `[B, D]`, built on the device: per point a `win.h × win.w` window (a mask from the
 * row and column indices compared with the point's offsets) whose values become `clip(x ± ε)` with one sign per
 * channel, from the first of the point's sign sets that changes the window (when none does, the proposal is `best`
 * itself). Outside the window the proposal is `best`. To be called inside a tidy scope.
 */
function proposeSquares(
  layout: SquareLayout,
  best: tf.Tensor,
  plus: tf.Tensor,
  minus: tf.Tensor,
  draws: SquareDraws,
  g: Geometry,
  win: { h: number; w: number }
): tf.Tensor {
  const batch = best.shape[0] ?? 0;
  const window = windowMask(layout, draws.top, draws.left, win, g);
  // Per point and channel, `[B, C, 1]`: how many values of the window +ε (−ε) would change.
  const changes = (values: tf.Tensor): tf.Tensor => tf.reshape(tf.matMul(tf.mul(window, tf.cast(tf.notEqual(values, best), 'float32')), layout.channelOf), [batch, g.channels, 1]);
  const positive = tf.tensor3d(draws.positive, [batch, SIGN_SETS, g.channels]);
  // Per point and sign set: how many values of the window the set would change; the first set that changes some wins.
  const effective = tf.add(tf.matMul(positive, changes(plus)), tf.matMul(tf.sub(1, positive), changes(minus)));
  const first = tf.argMax(tf.cast(tf.greater(tf.reshape(effective, [batch, SIGN_SETS]), 0), 'int32'), 1);
  const chosen = tf.reshape(tf.matMul(tf.cast(tf.reshape(tf.oneHot(first, SIGN_SETS), [batch, 1, SIGN_SETS]), 'float32'), positive), [batch, g.channels]);
  const values = tf.where(tf.cast(tf.matMul(chosen, layout.channelOf, false, true), 'bool'), plus, minus);
  return tf.where(tf.cast(window, 'bool'), values, best);
}

/**
 * The reference's `eta_rectangles(h, w)` of the L2 Square Attack: nested rectangles around the centre of an `h × w`
 * window, ring k weighted `1/(k + 1)²`, L2-normalised. Row-major.
 */
function etaRectangles(h: number, w: number): Float64Array {
  const out = new Float64Array(h * w);
  let top = Math.floor(h / 2);
  let left = Math.floor(w / 2);
  for (let k = 0; k < Math.max(Math.floor(h / 2) + 1, Math.floor(w / 2) + 1); k++) {
    const weight = 1 / (k + 1) ** 2;
    for (let i = Math.max(top, 0); i < Math.min(top + 2 * k + 1, h); i++) {
      for (let j = Math.max(left, 0); j < Math.min(left + 2 * k + 1, w); j++) out[i * w + j] = (out[i * w + j] ?? 0) + weight;
    }
    top -= 1;
    left -= 1;
  }
  return normalised(out);
}

/** `v / ‖v‖₂` (v itself when it is all zero). */
function normalised(v: Float64Array): Float64Array {
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return norm > 0 ? v.map((x) => x / norm) : v;
}

/**
 * The L2 Square Attack's update pattern of side `s` (the reference's `eta(s)`): the top ⌊s/2⌋ rows positive and the
 * rest negative nested rectangles, L2-normalised, transposed when `transpose`. Row-major `s × s`.
 */
export function squareL2Pattern(s: number, transpose: boolean): Float64Array {
  const half = Math.floor(s / 2);
  const top = etaRectangles(half, s);
  const bottom = etaRectangles(s - half, s);
  const out = new Float64Array(s * s);
  out.set(top, 0);
  bottom.forEach((v, k) => { out[half * s + k] = -v; });
  const unit = normalised(out);
  if (!transpose) return unit;
  return unit.map((_, k) => unit[(k % s) * s + Math.floor(k / s)] ?? 0);
}

/** The side of an L2 window for square fraction `p`: `max(round(√(p·n/c)), 3)`, made odd, at most the image side. */
function l2WindowSide(g: Geometry, p: number): number {
  let s = Math.max(Math.round(Math.sqrt((p * g.size) / g.channels)), 3);
  if (s % 2 === 0) s += 1;
  return Math.min(s, g.height, g.width);
}

/**
 * The L2 start (the reference's initialisation): the image tiled by blocks of side ⌊H/5⌋ from a centred origin, each
 * block the update pattern (randomly transposed) times one random sign per point and channel; `[B, D]` values of δ
 * before it is scaled to the sphere of radius ε. Drawn on the host from the seeded stream.
 */
function l2Start(rng: Random, batch: number, g: Geometry): Float32Array {
  const delta = new Float32Array(batch * g.size);
  const s = Math.floor(g.height / 5);
  const origin = Math.floor((g.height - 5 * s) / 2);
  const blocksDown = Math.floor(g.height / s);
  const blocksAcross = Math.floor(g.width / s);
  for (let bi = 0; bi < blocksDown; bi++) {
    for (let bj = 0; bj < blocksAcross; bj++) {
      const pattern = squareL2Pattern(s, rng.next() > 0.5);
      for (let b = 0; b < batch; b++) {
        for (let c = 0; c < g.channels; c++) {
          const sign = rng.next() < 0.5 ? -1 : 1;
          for (let i = 0; i < s; i++) {
            const row = origin + bi * s + i;
            if (row >= g.height) continue;
            for (let j = 0; j < s; j++) {
              const col = origin + bj * s + j;
              if (col >= g.width) continue;
              const at = b * g.size + (row * g.width + col) * g.channels + c;
              delta[at] = (delta[at] ?? 0) + (pattern[i * s + j] ?? 0) * sign;
            }
          }
        }
      }
    }
  }
  return delta;
}

/** What the host draws for one L2 iteration: two windows, the pattern placed in the first, and signs per channel. */
interface SquareL2Draws {
  /** `[B]` top and left edges of the window that gets the new pattern. */
  readonly top: Float32Array;
  readonly left: Float32Array;
  /** `[B]` top and left edges of the window whose perturbation moves into the first. */
  readonly top2: Float32Array;
  readonly left2: Float32Array;
  /** `[B, H·W]`: the update pattern at the first window, zero elsewhere. */
  readonly pattern: Float32Array;
  /** `[B, C]`: ±1 per point and channel. */
  readonly signs: Float32Array;
}

/** Draws one L2 iteration's windows (per point, `s × s`, positions in `[0, H − s)` as the reference), pattern and signs. */
function drawL2(rng: Random, batch: number, g: Geometry, s: number): SquareL2Draws {
  const top = new Float32Array(batch);
  const left = new Float32Array(batch);
  const top2 = new Float32Array(batch);
  const left2 = new Float32Array(batch);
  const pattern = new Float32Array(batch * g.height * g.width);
  const signs = new Float32Array(batch * g.channels);
  const eta = squareL2Pattern(s, rng.next() > 0.5);
  for (let b = 0; b < batch; b++) {
    top[b] = rng.nextInt(g.height - s);
    left[b] = rng.nextInt(g.width - s);
    top2[b] = rng.nextInt(g.height - s);
    left2[b] = rng.nextInt(g.width - s);
    for (let c = 0; c < g.channels; c++) signs[b * g.channels + c] = rng.next() < 0.5 ? -1 : 1;
    const t = top[b] ?? 0;
    const l = left[b] ?? 0;
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) pattern[b * g.height * g.width + (t + i) * g.width + l + j] = eta[i * s + j] ?? 0;
  }
  return { top, left, top2, left2, pattern, signs };
}

/**
 * The L2 proposals of one iteration, `[B, D]` (Andriushchenko et al. 2020, Sec. 3.3; the reference's L2 update): per
 * point and channel, the perturbation δ = best − x inside the second window moves into the first, where the new
 * pattern (times a random sign) is added to the first window's normalised δ and rescaled so that, with
 * `r² = max(ε² − ‖δ‖², 0)`, the two windows' energy `‖δ_w‖²` plus `r²/C` goes into it; the whole δ is then rescaled to
 * norm ε and the result clipped to the box. To be called inside a tidy scope.
 */
function proposeL2(layout: SquareLayout, origin: tf.Tensor, best: tf.Tensor, draws: SquareL2Draws, g: Geometry, s: number, eps: number, bounds: Bounds): tf.Tensor {
  const batch = best.shape[0] ?? 0;
  const first = windowMask(layout, draws.top, draws.left, { h: s, w: s }, g);
  const second = windowMask(layout, draws.top2, draws.left2, { h: s, w: s }, g);
  const perChannel = (v: tf.Tensor): tf.Tensor => tf.matMul(v, layout.channelOf);
  const spread = (v: tf.Tensor): tf.Tensor => tf.matMul(v, layout.channelOf, false, true);
  const delta = tf.sub(best, origin);
  const squares = tf.square(delta);
  const firstNorm = tf.sqrt(perChannel(tf.mul(squares, first)));
  const imageNorm2 = tf.sum(squares, 1, true);
  const windowsNorm2 = perChannel(tf.mul(squares, tf.maximum(first, second)));
  const pattern = tf.reshape(tf.tile(tf.reshape(tf.tensor2d(draws.pattern, [batch, g.height * g.width]), [batch, g.height * g.width, 1]), [1, 1, g.channels]), [batch, g.size]);
  const fresh = tf.add(tf.mul(pattern, spread(tf.tensor2d(draws.signs, [batch, g.channels]))), tf.mul(tf.div(delta, tf.add(spread(firstNorm), 1e-12)), first));
  const freshNorm = tf.sqrt(perChannel(tf.square(fresh)));
  const energy = tf.sqrt(tf.add(tf.div(tf.relu(tf.sub(eps * eps, imageNorm2)), g.channels), windowsNorm2));
  const moved = tf.mul(tf.div(fresh, tf.add(spread(freshNorm), 1e-12)), spread(energy));
  const next = tf.where(tf.cast(first, 'bool'), moved, tf.where(tf.cast(second, 'bool'), tf.zerosLike(delta), delta));
  const norm = tf.sqrt(tf.sum(tf.square(next), 1, true));
  return tf.clipByValue(tf.add(origin, tf.mul(tf.div(next, tf.add(norm, 1e-12)), eps)), bounds[0], bounds[1]);
}

/** The tensors the Square loop carries. */
type SquareSlot = 'plus' | 'minus' | 'origin' | 'best' | 'loss' | 'queries' | 'success';

/**
 * Square Attack on a resolved configuration: it checks the call's inputs, never the options; `seed` is this call's
 * seed (it replaces `cfg.seed`). Every iteration runs on the device: the host draws the window offsets and signs
 * (no data dependency) and uploads them; proposals, the model query, the acceptance (the margin improved and the
 * point is not fooled yet) and the query counts are tensors. Where synchronous readback is cheap
 * (`checksReadAtOnce()`: cpu, wasm, tensorflow) the success mask is read once per query, so that the model is queried
 * only on the points still attacked (as the reference does) and the loop ends once every point is fooled; elsewhere
 * nothing is read back, the model sees the whole batch every iteration, and the budget is always run out. The draws,
 * and so the results, are the same either way.
 */
function runSquare(model: Model, x: tf.Tensor, y: tf.Tensor1D, cfg: SquareConfig, seed: number | undefined): Required<AttackOutput> {
  const { budget, pInit, eps } = cfg;
  const [lo, hi] = cfg.bounds;
  const inputs = checkAttackInputs(model, x, y, [lo, hi]);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  const batch = inputs.x.shape[0] ?? 0;
  const g = geometry(inputs.x.shape);
  if (cfg.norm === 'l2' && (g.height < 5 || g.width < 5)) {
    rangeError('x', 'be images [B, H, W] or [B, H, W, C] with H, W >= 5 for the L2 Square Attack (its windows are squares)', inputs.x);
  }
  const rng = createRandom(seed);
  const onHost = checksReadAtOnce();
  /** Host path only: the labels, read once. */
  const labels = onHost ? inputs.y.dataSync() : undefined;
  const state = tensorSlots<SquareSlot>();
  const layout = squareLayout(g);

  /** Margins `z_y − max_{j≠y} z_j` `[B]` at `candidates`, one query per point of `idx` (all points when undefined). */
  const query = (candidates: tf.Tensor, idx: readonly number[] | undefined): tf.Tensor =>
    tf.tidy(() => {
      const xs = tf.reshape(candidates, inputs.x.shape);
      if (idx === undefined || idx.length === batch) {
        return marginPerExample(checkLogits(model(xs), batch, inputs.maxLabel, inputs.y), inputs.y);
      }
      // Host path: the rows of the points still attacked, copied on the host (tfjs' cpu gather is slow, and reading
      // back is cheap on the backends of this path).
      const values = candidates.dataSync();
      const rows = new Float32Array(idx.length * g.size);
      idx.forEach((b, k) => { rows.set(values.subarray(b * g.size, (b + 1) * g.size), k * g.size); });
      const at = tf.tensor1d(Int32Array.from(idx), 'int32');
      const ys = tf.tensor1d(Int32Array.from(idx, (b) => labels?.[b] ?? 0), 'int32');
      const subset = tf.tensor(rows, [idx.length, ...inputs.x.shape.slice(1)]);
      const margins = marginPerExample(checkLogits(model(subset), idx.length, inputs.maxLabel, ys), ys);
      return tf.scatterND(tf.reshape(at, [idx.length, 1]), margins, [batch]);
    });
  /** Host path only: the points not fooled yet (one readback); undefined on the device path. */
  const attacked = (): number[] | undefined => {
    if (!onHost) return undefined;
    const fooled = state.get('success').dataSync();
    return indicesWhere(Uint8Array.from(fooled, (v) => (v === 0 ? 1 : 0)));
  };
  /**
   * Queries the model at `candidates` for the points not fooled yet, counts the query, and moves each such point to its
   * candidate where the margin improved (always, for the stripes).
   */
  const step = (candidates: tf.Tensor, idx: readonly number[] | undefined, always: boolean): void => {
    const margins = query(candidates, idx);
    try {
      tf.tidy(() => {
        const active = tf.logicalNot(state.get('success'));
        const take = always ? active : tf.logicalAnd(active, tf.less(margins, state.get('loss')));
        const takeRow = tf.cast(spreadColumns(layout, tf.cast(take, 'float32'), g.size), 'bool');
        state.set('best', tf.where(takeRow, candidates, state.get('best')));
        state.set('loss', tf.where(take, margins, state.get('loss')));
        state.set('queries', tf.add(state.get('queries'), tf.cast(active, 'int32')));
        state.set('success', tf.logicalOr(state.get('success'), tf.logicalAnd(take, tf.less(margins, 0))));
      });
    } finally {
      margins.dispose();
    }
  };

  try {
    state.set('best', tf.reshape(inputs.x, [batch, g.size]));
    if (cfg.norm === 'linf') {
      state.set('plus', tf.tidy(() => tf.clipByValue(tf.add(state.get('best'), eps), lo, hi)));
      state.set('minus', tf.tidy(() => tf.clipByValue(tf.sub(state.get('best'), eps), lo, hi)));
    } else {
      state.set('origin', tf.clone(state.get('best')));
    }
    // Query 1, at x: points already misclassified are returned unchanged, as APGD does.
    const clean = state.set('loss', query(state.get('best'), undefined));
    state.set('success', tf.less(clean, 0));
    state.set('queries', tf.ones([batch], 'int32'));
    // Query 2 (L2): the reference's block pattern on the sphere of radius ε (kept unconditionally).
    if (cfg.norm === 'l2' && budget >= 2 && eps > 0) {
      const delta = l2Start(rng, batch, g);
      const idx = attacked();
      if (idx === undefined || idx.length > 0) {
        const start = tf.tidy(() => {
          const d = tf.tensor2d(delta, [batch, g.size]);
          return tf.clipByValue(tf.add(state.get('origin'), tf.mul(tf.div(d, tf.add(tf.sqrt(tf.sum(tf.square(d), 1, true)), 1e-12)), eps)), lo, hi);
        });
        try {
          step(start, idx, true);
        } finally {
          start.dispose();
        }
      }
    }
    // Query 2 (L∞): vertical stripes, one sign per column and channel, the same down every row (kept unconditionally).
    if (cfg.norm === 'linf' && budget >= 2 && eps > 0) {
      const positive = new Float32Array(batch * g.width * g.channels);
      for (let i = 0; i < positive.length; i++) positive[i] = rng.next() < 0.5 ? 0 : 1;
      const idx = attacked();
      if (idx === undefined || idx.length > 0) {
        const stripes = tf.tidy(() => {
          const rowOfSigns = tf.reshape(tf.tensor2d(positive, [batch, g.width * g.channels]), [batch, 1, g.width * g.channels]);
          const signs = tf.reshape(tf.matMul(tf.ones([batch, g.height, 1]), rowOfSigns), [batch, g.size]);
          return tf.where(tf.cast(signs, 'bool'), state.get('plus'), state.get('minus'));
        });
        try {
          step(stripes, idx, true);
        } finally {
          stripes.dispose();
        }
      }
    }
    for (let iteration = 0; iteration < budget - 2 && eps > 0; iteration++) {
      const idx = attacked();
      if (idx?.length === 0) break;
      const p = squareSchedule(iteration, cfg.rescale ? budget : budget - 2, pInit, cfg.rescale);
      let candidates: tf.Tensor;
      if (cfg.norm === 'l2') {
        const side = l2WindowSide(g, p);
        const draws = drawL2(rng, batch, g, side);
        candidates = tf.tidy(() => proposeL2(layout, state.get('origin'), state.get('best'), draws, g, side, eps, cfg.bounds));
      } else {
        const win = windowSize(g, p);
        const draws = drawSquares(rng, batch, g, win);
        candidates = tf.tidy(() => proposeSquares(layout, state.get('best'), state.get('plus'), state.get('minus'), draws, g, win));
      }
      try {
        step(candidates, idx, false);
      } finally {
        candidates.dispose();
      }
    }
    return {
      xAdv: tf.reshape(state.get('best'), inputs.x.shape),
      queries: state.take('queries') as tf.Tensor1D,
      success: state.take('success') as tf.Tensor1D
    };
  } finally {
    state.dispose();
    disposeLayout(layout);
  }
}

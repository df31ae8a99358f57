import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../core/random.js';
import { checkInteger, checkKnownKeys, checkTensor } from '../core/validate.js';
import { finite, flag, integer, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { formatValue, rangeError, named, argumentError, runAs } from '../core/errors.js';
import { batchRows } from './batch-rows.js';

/** Options of {@link batches}. */
export interface BatchOptions {
  /** Examples per batch. @defaultValue 32 */
  readonly batchSize?: number;
  /** Visit the examples in a new seeded random order every epoch. @defaultValue false */
  readonly shuffle?: boolean;
  /** Leave out the last batch of an epoch when it is smaller than `batchSize`. @defaultValue false */
  readonly dropRemainder?: boolean;
  /** Seed of the shuffling; the same seed gives the same sequence of epoch orders. @defaultValue random */
  readonly seed?: number;
}

/**
 * How each of {@link BatchOptions} is checked and defaulted: `null` counts as left out, except for `seed` (an error);
 * `seed` left out stays undefined (a random seed).
 */
const BATCH_FIELDS: OptionFields<Omit<BatchOptions, 'seed'>> & { readonly seed: OptionField<number | undefined> } = {
  batchSize: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(1, 32)),
  shuffle: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ flag(false)),
  dropRemainder: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ flag(false)),
  seed: /* @__PURE__ */ finite()
};

/** One batch: the rows of `x` and `y` at the same example indices. The caller disposes both. */
export interface Batch<X extends tf.Tensor = tf.Tensor, Y extends tf.Tensor = tf.Tensor> {
  /** `[b, ...]` rows of the inputs, `b <= batchSize`. */
  readonly x: X;
  /** `[b, ...]` rows of the targets, at the same indices as `x`. */
  readonly y: Y;
}

/**
 * The batches of a data set, one epoch per iteration: every `for await … of` (every call of
 * `[Symbol.asyncIterator]()`) starts an epoch and, when shuffling, draws that epoch's order.
 */
export interface Batches<X extends tf.Tensor = tf.Tensor, Y extends tf.Tensor = tf.Tensor> extends AsyncIterable<Batch<X, Y>> {
  /** The number of examples, `x.shape[0]`. */
  readonly numExamples: number;
  /** The number of batches each epoch yields. */
  readonly batchesPerEpoch: number;
  /** The state of the shuffling's random stream, to save in a checkpoint (read it between epochs). */
  getState(): number;
  /** Restores a state from {@link Batches.getState}: the next epoch draws the order it would have drawn then. */
  setState(state: number): void;
}

/**
 * Splits in-memory tensors into batches along their first axis, as an async iterable: each iteration is one
 * epoch. With `shuffle`, each epoch visits the examples in a seeded Fisher–Yates order (a new order every epoch,
 * drawn from one stream seeded by `seed`); without it, in their stored order.
 *
 * Ownership: every yielded `x` and `y` is a new tensor owned by the caller, who disposes it (typically right
 * after the training step); the iterator never disposes what it yielded, so a batch may be kept, and breaking
 * out of the loop leaks nothing. `x` and `y` themselves are never disposed, and must stay alive while iterating.
 *
 * @param x - inputs `[N, ...]`, N >= 1.
 * @param y - targets `[N, ...]` (e.g. int32 labels `[N]`, or soft targets `[N, C]`), rows matching `x`.
 * @param options - see {@link BatchOptions}.
 * @returns an async iterable of `{ x: [b, ...], y: [b, ...] }` with `b = batchSize` (the last batch may be
 * smaller unless `dropRemainder`), plus `numExamples`, `batchesPerEpoch` and the shuffle state.
 * @throws TypeError when `x` or `y` is not a live tensor, or `shuffle`/`dropRemainder` is not a boolean;
 * RangeError when their first dimensions differ or are 0, `batchSize` is not a positive integer (or exceeds N
 * with `dropRemainder`, which would yield nothing), `seed` is not finite or an option is unknown. Iterating
 * rejects with a TypeError when `x` or `y` was disposed meanwhile.
 * @example
 * const data = batches(xTrain, yTrain, { batchSize: 128, shuffle: true, seed: 1 });
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   for await (const batch of data) {
 *     trainStep(batch.x, batch.y);
 *     tf.dispose([batch.x, batch.y]);
 *   }
 * }
 */
export function batches<X extends tf.Tensor, Y extends tf.Tensor>(x: X, y: Y, options: Readonly<BatchOptions> = {}): Batches<X, Y> {
  return named('batches', () => {
    // The keys are checked before the tensors, the values after them.
    checkKnownKeys(options as Readonly<Record<string, unknown>>, Object.keys(BATCH_FIELDS));
    checkTensor('x', x, { min: 1 });
    checkTensor('y', y, { min: 1 });
    const n = x.shape[0] ?? 0;
    if (n === 0) rangeError('x', 'hold at least one example', x);
    if (y.shape[0] !== n) {
      throw argumentError(RangeError, `x and y must hold the same number of examples (first dimension) (got ${formatValue(x.shape)} and ${formatValue(y.shape)})`
      );
    }
    const { batchSize, shuffle, dropRemainder, seed } = resolveFields(options, BATCH_FIELDS);
    if (dropRemainder && batchSize > n) {
      rangeError('batchSize', `be <= the number of examples (${String(n)}) when dropRemainder is true, or no batch is left`, batchSize);
    }
    const rng = createRandom(seed);
    const batchesPerEpoch = dropRemainder ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);

    /** One epoch, as a synchronous generator: nothing in it waits, and {@link asAsync} makes it an async iterator. */
    const epoch = function* (): Generator<Batch<X, Y>, void, undefined> {
      for (const [arg, t] of [['x', x], ['y', y]] as const) {
        if (t.isDisposed) {
          throw runAs('batches', () => argumentError(TypeError, `${arg} must stay alive while its batches are iterated (got a disposed tensor)`));
        }
      }
      yield* batchRows(x, y, batchSize, shuffle ? rng.permutation(n) : undefined, batchesPerEpoch);
    };

    return {
      numExamples: n,
      batchesPerEpoch,
      getState: () => rng.getState(),
      setState: (state) => {
        runAs('batches.setState', () => { rng.setState(checkInteger('state', state, 0)); });
      },
      [Symbol.asyncIterator]: () => asAsync(epoch())
    };
  });
}

/** Wraps a generator as an async iterator; an error thrown by the generator becomes a rejection. */
function asAsync<T>(it: Generator<T, void, undefined>): AsyncIterableIterator<T, void, undefined> {
  const iterator: AsyncIterableIterator<T, void, undefined> = {
    next: () => new Promise((resolve) => { resolve(it.next()); }),
    return: () => new Promise((resolve) => { resolve(it.return()); }),
    [Symbol.asyncIterator]: () => iterator
  };
  return iterator;
}

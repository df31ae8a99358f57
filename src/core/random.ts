import * as tf from '@tensorflow/tfjs-core';
import { rangeError, named } from './errors.js';

/**
 * A seeded source of randomness. Every stochastic function in ardkit draws from one, so the
 * same seed on the same backend gives the same result.
 *
 * The generator is SplitMix32 (a 32-bit variant of Steele et al.'s SplitMix); tensors are
 * drawn by tfjs' own seeded ops with seeds taken from this stream, so results do not depend
 * on the backend's kernels.
 */
export interface Random {
  /** A float in `[0, 1)`. */
  next(): number;
  /** An unsigned 32-bit integer, used as the seed of one tfjs random op. */
  nextSeed(): number;
  /** An integer in `[0, n)`. */
  nextInt(n: number): number;
  /** A tensor of uniform draws in `[lo, hi)`. */
  uniform(shape: readonly number[], lo: number, hi: number): tf.Tensor;
  /** A tensor of normal draws with the given mean and standard deviation. */
  normal(shape: readonly number[], mean: number, std: number): tf.Tensor;
  /** A seeded Fisher–Yates permutation of `0 … n−1`. */
  permutation(n: number): Int32Array;
  /** The internal state, to save in a checkpoint. */
  getState(): number;
  /** Restores a state returned by {@link Random.getState}. */
  setState(state: number): void;
}

let unseededCounter = 0;

/**
 * Creates a seeded {@link Random}. Without a seed, one is drawn from `Math.random`, so runs differ.
 *
 * @param seed - any finite number; the same seed always gives the same stream.
 * @returns a new, independent random source.
 * @throws RangeError when `seed` is not a finite number.
 * @example
 * const rng = createRandom(42);
 * const noise = rng.uniform([2, 3], -0.1, 0.1); // the caller disposes it
 */
export function createRandom(seed?: number): Random {
  return named('createRandom', () => {
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isFinite(seed))) {
      rangeError('seed', 'be a finite number', seed);
    }
    let state =
    seed === undefined
      ? (Math.floor(Math.random() * 0x100000000) ^ (unseededCounter++ * 0x9e3779b9)) >>> 0
      : hashSeed(seed);

    const nextSeed = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    const next = (): number => nextSeed() / 0x100000000;
    const nextInt = (n: number): number => Math.floor(next() * n);

    return {
      next,
      nextSeed,
      nextInt,
      uniform: (shape, lo, hi) => tf.randomUniform([...shape], lo, hi, 'float32', nextSeed()),
      normal: (shape, mean, std) => tf.randomNormal([...shape], mean, std, 'float32', nextSeed()),
      permutation: (n) => {
        const p = new Int32Array(n);
        for (let i = 0; i < n; i++) p[i] = i;
        for (let i = n - 1; i > 0; i--) {
          const j = nextInt(i + 1);
          const t = p[i] ?? 0;
          p[i] = p[j] ?? 0;
          p[j] = t;
        }
        return p;
      },
      getState: () => state,
      setState: (s) => {
        state = s >>> 0;
      }
    };
  });
}

/** Maps any finite number (including fractions and negatives) to a 32-bit state. */
function hashSeed(seed: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, seed);
  return (Math.imul(view.getUint32(0), 0x27d4eb2d) ^ view.getUint32(4)) >>> 0;
}

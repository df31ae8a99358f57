/**
 * The backend comparison shared by `npm run bench` (bench/measure.ts `--compare`) and `npm run bench:gpu`
 * (bench/gpu.ts): on the current backend, for each example network (bench/networks.ts), the time of a PGD attack
 * and of one PGD-AT training step on a batch of real MNIST test images, each call read back with `await data()`
 * (never `dataSync`, which webgpu lacks in Node). ardkit's functions are timed where they run on the backend; where
 * they fail, the same ops written with tfjs-core ("hand") are, and the error is kept. After each call of ardkit's
 * functions the value checks they queued on a GPU backend are read (`flushChecks()`, as a user's own loop does once
 * per batch; nothing to read on cpu and wasm), inside the timed call.
 */
import * as tf from '@tensorflow/tfjs-core';
import { flushChecks, fromLayersModel } from 'ardkit/core';
import { loadMnist } from '../examples/mnist.js';
import { attack, buildNetwork, type Impl, type NetworkName, pgdAtStep } from './networks.js';
import type { Rate } from './types.js';

export const EPS = 0.3;
export const STEP_SIZE = 0.01;

/** A rate and the implementation it timed. */
export type ImplRate = Rate & { impl: Impl };

export interface NetworkComparison {
  network: NetworkName;
  params: number;
  /** A PGD attack of `pgdSteps` steps (random start, sign steps, projection). */
  pgd?: ImplRate;
  /** One PGD-AT step: a `trainAttackSteps`-step PGD attack, then an SGD update of the cross-entropy on it. */
  train?: ImplRate;
  /** The hand-written ops too, where asked (`bothImpls`): the reference backend's, so ratios pair like with like. */
  handPgd?: Rate;
  handTrain?: Rate;
  /** Why ardkit's functions were not timed (they failed on this backend), or why a measurement is missing. */
  errors?: Record<string, string>;
}

export interface ComparisonResult {
  batch: number;
  pgdSteps: number;
  trainAttackSteps: number;
  networks: NetworkComparison[];
  /** Seconds the whole comparison took on this backend (warm-ups and shader compiles included). */
  seconds: number;
}

export interface CompareOptions {
  readonly networks: readonly NetworkName[];
  readonly batch: number;
  readonly pgdSteps: number;
  readonly trainAttackSteps: number;
  /** Timed calls of each measurement (the median counts). */
  readonly reps: number;
  /** Untimed calls first (shader compiles on GPU backends). */
  readonly warmup: number;
  /** Time the hand-written ops as well as ardkit's. */
  readonly bothImpls?: boolean;
  /** Networks whose training step is not timed here (the cpu backend's filter gradient takes half a minute on smallCnn). */
  readonly skipTrain?: readonly NetworkName[];
  readonly log?: (what: string) => void;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

/**
 * Images/s of `f` (its result read back asynchronously, then disposed, and for ardkit's functions the checks they
 * queued read too): `warmup` untimed calls, the median of `reps`.
 */
export async function rate(f: () => tf.Tensor, batch: number, reps: number, warmup: number, impl: Impl = 'hand'): Promise<Rate> {
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const out = f();
    try {
      await out.data();
    } finally {
      out.dispose();
    }
    if (impl === 'ardkit') await flushChecks();
    return (performance.now() - t0) / 1000;
  };
  for (let w = 0; w < warmup; w++) await once();
  const seconds: number[] = [];
  for (let r = 0; r < reps; r++) seconds.push(await once());
  return { imagesPerSecond: batch / median(seconds), medianSeconds: median(seconds), reps, seconds };
}

/**
 * Times ardkit's implementation, or, when it fails on this backend, the hand-written one (the error is recorded).
 * The first call is part of the warm-up, so a failure costs one call.
 */
async function ardkitOrHand(label: string, f: (impl: Impl) => () => tf.Tensor, o: CompareOptions, errors: Record<string, string>): Promise<ImplRate | undefined> {
  try {
    return { ...(await rate(f('ardkit'), o.batch, o.reps, o.warmup, 'ardkit')), impl: 'ardkit' };
  } catch (error) {
    errors[`ardkit ${label}`] = firstLine(error);
  }
  try {
    return { ...(await rate(f('hand'), o.batch, o.reps, o.warmup)), impl: 'hand' };
  } catch (error) {
    errors[`hand ${label}`] = firstLine(error);
    return undefined;
  }
}

/** Runs the comparison on the current backend (see the file's comment). */
export async function compareNetworks(o: CompareOptions): Promise<ComparisonResult> {
  const t0 = performance.now();
  const { x, y } = await loadMnist('test', o.batch);
  const a = { eps: EPS, stepSize: STEP_SIZE };
  const out: NetworkComparison[] = [];
  for (const name of o.networks) {
    const net = buildNetwork(name);
    const model = fromLayersModel(net);
    const optimizer = tf.train.sgd(0.01);
    const row: NetworkComparison = { network: name, params: net.countParams() };
    const errors: Record<string, string> = {};
    const pgdCall = (impl: Impl) => (): tf.Tensor => attack(impl, model, x, y, o.pgdSteps, a, 1);
    const trainCall = (impl: Impl) => (): tf.Tensor => pgdAtStep(impl, model, optimizer, x, y, o.trainAttackSteps, a, 2);
    o.log?.(`${name}: PGD-${String(o.pgdSteps)}`);
    const pgdRate = await ardkitOrHand(`PGD-${String(o.pgdSteps)}`, pgdCall, o, errors);
    if (pgdRate !== undefined) row.pgd = pgdRate;
    if (o.bothImpls === true && row.pgd?.impl === 'ardkit') row.handPgd = await rate(pgdCall('hand'), o.batch, o.reps, o.warmup);
    if (o.skipTrain?.includes(name) === true) {
      errors['training step'] = 'not timed on this backend (too slow for the benchmark)';
    } else {
      o.log?.(`${name}: PGD-${String(o.trainAttackSteps)}-AT training step`);
      const trainRate = await ardkitOrHand('training step', trainCall, o, errors);
      if (trainRate !== undefined) row.train = trainRate;
      if (o.bothImpls === true && row.train?.impl === 'ardkit') row.handTrain = await rate(trainCall('hand'), o.batch, o.reps, o.warmup);
    }
    if (Object.keys(errors).length > 0) row.errors = errors;
    out.push(row);
    optimizer.dispose();
    net.dispose();
  }
  tf.dispose([x, y]);
  return { batch: o.batch, pgdSteps: o.pgdSteps, trainAttackSteps: o.trainAttackSteps, networks: out, seconds: (performance.now() - t0) / 1000 };
}

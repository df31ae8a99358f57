/**
 * `fit`'s checkpoints: the folder probe and lock, resuming from the latest checkpoint, and saving after an epoch. The
 * store and the lock live in io/ (checkpoint-store.ts, lock.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { isTensor, rangeError, argumentError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { loadLatestCheckpoint, saveCheckpoint } from '../io/checkpoint-store.js';
import { acquireLock } from '../io/lock.js';
import type { CheckpointOptions, EpochInfo } from './fit-options.js';
import type { ObjectiveState } from './objective.js';
import { restoredState } from './objective-state.js';
import type { Student } from './student.js';

/** Names of the optimizer state that tfjs' `getWeights` leaves out, saved so that resume is exact. */
const EXACT_STATE_PREFIX = 'ardkit:';
/** Optimizer fields tfjs recomputes on `setWeights` instead of restoring. */
const RECOMPUTED_FIELDS = ['accBeta1', 'accBeta2'] as const;

/**
 * The optimizer state tfjs' `getWeights` leaves out. Adam's `setWeights` recomputes its bias-correction powers as
 * `pow(β, t + 1)`, while training multiplies them step by step; the float32 values differ, and so would every
 * update after a resume. Saving the running products makes resume exact.
 */
function exactState(optimizer: tf.Optimizer): Array<{ name: string; tensor: tf.Tensor }> {
  const o = optimizer as unknown as Partial<Record<(typeof RECOMPUTED_FIELDS)[number], unknown>>;
  return RECOMPUTED_FIELDS.flatMap((k) => {
    const v = o[k];
    return v instanceof tf.Variable ? [{ name: `${EXACT_STATE_PREFIX}${k}`, tensor: v }] : [];
  });
}

/** Puts back what {@link exactState} saved, after `setWeights`. */
function restoreExactState(optimizer: tf.Optimizer, saved: ReadonlyArray<{ readonly name: string; readonly tensor: tf.Tensor }>): void {
  const o = optimizer as unknown as Partial<Record<(typeof RECOMPUTED_FIELDS)[number], unknown>>;
  for (const k of RECOMPUTED_FIELDS) {
    const v: unknown = o[k];
    const t = saved.find((s) => s.name === `${EXACT_STATE_PREFIX}${k}`)?.tensor;
    if (v instanceof tf.Variable && t !== undefined && t.size === v.size) tf.tidy(() => { v.assign(tf.reshape(t, v.shape)); });
  }
}

/**
 * Disposes an optimizer `fit` created. tfjs' `MomentumOptimizer.dispose()` does not release the learning-rate scalar
 * its SGD parent keeps (`c`), so that one is released here too.
 */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  const c = (optimizer as unknown as { c?: unknown }).c;
  if (isTensor(c) && !c.isDisposed) c.dispose();
}

/**
 * Makes sure the checkpoint folder exists and is writable, then takes its lock: one run per folder, so a second
 * `fit` pointed at a folder a live one is writing refuses.
 *
 * @returns the lock's release (a no-op without checkpoints).
 */
export async function openCheckpoints(ckpt: CheckpointOptions | undefined): Promise<() => Promise<void>> {
  if (ckpt === undefined) return async () => {};
  const fs = await import('node:fs/promises');
  try {
    await fs.mkdir(ckpt.dir, { recursive: true });
    await fs.access(ckpt.dir, (await import('node:fs')).constants.W_OK);
    const probeFile = `${ckpt.dir}/.ardkit-write-test-${String(process.pid)}`;
    await fs.writeFile(probeFile, '');
    await fs.rm(probeFile);
  } catch (error) {
    throw argumentError(RangeError, `checkpoint.dir must be a writable folder (got ${JSON.stringify(ckpt.dir)}: ${(error as Error).message})`, { cause: error });
  }
  return acquireLock(ckpt.dir);
}

/** What a resume restored: the epoch to continue from and the objective's state. */
export interface Resumed {
  readonly epoch: number;
  readonly state: ObjectiveState;
}

/** Puts a checkpoint's student weights into the student's variables, checking their count and shapes. */
function restoreWeights(net: Student, weights: readonly tf.Tensor[]): void {
  if (weights.length !== net.variables.length) {
    rangeError('resume', `find ${String(net.variables.length)} student variables in the checkpoint`, weights.length);
  }
  net.variables.forEach((v, i) => {
    const w = weights[i];
    if (w === undefined || w.shape.join(',') !== v.shape.join(',')) {
      rangeError('resume', `find variable ${String(i)} of shape [${v.shape.join(', ')}] in the checkpoint`, w);
    }
    v.assign(w);
  });
}

/**
 * Restores weights, optimizer state, objective state and random state from the newest readable checkpoint (warning
 * when it had to fall back past a damaged one).
 *
 * @returns the epoch to continue from (0 without a checkpoint) and the objective's state (`state` restored, or
 * itself); the saved history is appended to `history`.
 */
export async function resumeFrom(
  ckpt: CheckpointOptions,
  run: { readonly net: Student; readonly optimizer: tf.Optimizer; readonly state: ObjectiveState; readonly rng: Random; readonly history: EpochInfo[] }
): Promise<Resumed> {
  const saved = await loadLatestCheckpoint(ckpt.dir, { fallback: true });
  if (saved === undefined) return { epoch: 0, state: run.state };
  if (saved.recovery !== undefined) {
    const why = saved.recovery.skipped.map((k) => `${k.folder}: ${k.reason}`).join('; ');
    console.warn(`fit: resuming from ${saved.recovery.folder}, the newest readable checkpoint (skipped ${why})`);
  }
  try {
    restoreWeights(run.net, saved.weights);
    const own = saved.optimizer.filter((o) => !o.name.startsWith(EXACT_STATE_PREFIX));
    if (own.length > 0) await run.optimizer.setWeights(own.map((o) => ({ name: o.name, tensor: o.tensor })));
    restoreExactState(run.optimizer, saved.optimizer);
    const state = restoredState(run.state, { values: saved.objectiveValues, tensors: saved.objectiveTensors });
    run.rng.setState(saved.randomState);
    const extra = saved.extra as { history?: EpochInfo[] } | null;
    if (extra?.history !== undefined) run.history.push(...extra.history);
    return { epoch: saved.epoch, state };
  } finally {
    tf.dispose([...saved.weights, ...saved.optimizer.map((o) => o.tensor), ...Object.values(saved.objectiveTensors)]);
  }
}

/** Saves the state after `epoch` epochs: weights, the optimizer's exact state, objective state, random state, history. */
export async function saveEpoch(
  ckpt: CheckpointOptions,
  epoch: number,
  run: { readonly net: Student; readonly optimizer: tf.Optimizer; readonly state: ObjectiveState; readonly rng: Random; readonly history: readonly EpochInfo[] }
): Promise<void> {
  const optimizerState = await run.optimizer.getWeights();
  try {
    await saveCheckpoint(
      ckpt.dir,
      {
        epoch,
        randomState: run.rng.getState(),
        weights: run.net.variables,
        optimizer: [...optimizerState, ...exactState(run.optimizer)],
        objectiveValues: run.state.values,
        objectiveTensors: run.state.tensors,
        extra: { history: run.history }
      },
      ckpt.keep === undefined ? {} : { keep: ckpt.keep }
    );
  } finally {
    // getWeights() makes a fresh scalar for the iteration count; the rest are the optimizer's own variables.
    tf.dispose(optimizerState.map((w) => w.tensor).filter((t) => !(t instanceof tf.Variable)));
  }
}

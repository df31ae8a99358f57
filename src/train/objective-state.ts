/**
 * `fit`'s hold on an objective's state (see {@link ObjectiveState}): made by `init`, replaced by `update`, restored
 * from a checkpoint, and released when the run ends. What `init` and `update` return is `fit`'s: the objective keeps
 * nothing, so it can train another student afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchContext, Objective, ObjectiveSetup, ObjectiveState } from './objective.js';

/** The state of an objective without `init`. */
const EMPTY: ObjectiveState = { values: {}, tensors: {} };

/** Runs `make` in a scope that releases its intermediates, keeping the state's tensors. */
function tidyState(make: () => ObjectiveState): ObjectiveState {
  let values: ObjectiveState['values'] = {};
  const tensors = tf.tidy(() => {
    const state = make();
    values = state.values;
    return { ...state.tensors };
  });
  return { values, tensors };
}

/** The state before the first batch: the objective's `init`, or the empty state. */
export function initialState(objective: Objective, setup: ObjectiveSetup): ObjectiveState {
  const init = objective.init?.bind(objective);
  return init === undefined ? EMPTY : tidyState(() => init(setup));
}

/** Disposes the tensors of `previous` that `next` no longer holds. */
function releaseReplaced(previous: ObjectiveState, next: ObjectiveState): void {
  const kept = new Set(Object.values(next.tensors));
  tf.dispose(Object.values(previous.tensors).filter((t) => !kept.has(t)));
}

/** The state after a batch's `update` (the same state without one); the tensors it replaced are released. */
export function advanceState(objective: Objective, state: ObjectiveState, terms: Readonly<Record<string, number>>, ctx: BatchContext): ObjectiveState {
  const update = objective.update?.bind(objective);
  if (update === undefined) return state;
  const next = tidyState(() => update(state, terms, ctx));
  releaseReplaced(state, next);
  return next;
}

/** The trainable variables among the state's tensors, optimised with the student (in the state's order). */
export function trainableOf(state: ObjectiveState): tf.Variable[] {
  return Object.values(state.tensors).filter((t): t is tf.Variable => t instanceof tf.Variable && t.trainable);
}

/**
 * The state a checkpoint saved, put in place of `state`: saved numbers replace the initial ones, a saved tensor is
 * assigned into the variable of that name (so the optimizer keeps training the same variable; tfjs throws when the
 * shapes differ), and any other saved
 * tensor is copied (the caller disposes what the checkpoint loaded).
 */
export function restoredState(state: ObjectiveState, saved: ObjectiveState): ObjectiveState {
  const tensors: Record<string, tf.Tensor> = { ...state.tensors };
  for (const [name, t] of Object.entries(saved.tensors)) {
    const own = tensors[name];
    if (own instanceof tf.Variable) own.assign(t);
    else {
      own?.dispose();
      tensors[name] = tf.clone(t);
    }
  }
  return { values: { ...state.values, ...saved.values }, tensors };
}

/** Releases every tensor of the state (variables too): the end of a run. */
export function releaseState(state: ObjectiveState): void {
  tf.dispose(Object.values(state.tensors));
}

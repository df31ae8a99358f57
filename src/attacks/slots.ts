import { argumentError } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Named tensors that an attack loop carries from one iteration to the next, outside every tidy scope. Setting a slot
 * keeps the new tensor and disposes the one it replaces; {@link TensorSlots.take} hands a tensor over to the caller;
 * {@link TensorSlots.dispose} releases whatever is left (call it in a `finally`, so nothing leaks when a model throws).
 * Internal.
 */
export interface TensorSlots<K extends string> {
  /** Keeps `t` in slot `name` (also inside a tidy scope), disposing the tensor it replaces; returns `t`. */
  set<T extends tf.Tensor>(name: K, t: T): T;
  /** The tensor in slot `name`; throws when the slot is empty (an internal error). */
  get(name: K): tf.Tensor;
  /** Empties slot `name` and returns its tensor, now owned by the caller and tracked by the caller's tidy scope. */
  take(name: K): tf.Tensor;
  /** Disposes every tensor still held. */
  dispose(): void;
}

/** Creates an empty {@link TensorSlots}. Internal. */
export function tensorSlots<K extends string>(): TensorSlots<K> {
  const live = new Map<K, tf.Tensor>();
  const get = (name: K): tf.Tensor => {
    const t = live.get(name);
    if (t === undefined) throw argumentError(Error, `internal state ${name} missing`);
    return t;
  };
  return {
    set: (name, t) => {
      const old = live.get(name);
      live.set(name, tf.keep(t));
      if (old !== undefined && old !== t) old.dispose();
      return t;
    },
    get,
    take: (name) => {
      const t = get(name);
      live.delete(name);
      // A clone (which shares the data) belongs to the caller's scope like any op's result: kept tensors would escape
      // a tidy the caller wraps the attack in.
      const out = tf.clone(t);
      t.dispose();
      return out;
    },
    dispose: () => {
      tf.dispose([...live.values()]);
      live.clear();
    }
  };
}

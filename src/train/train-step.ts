/** One training step of `fit`: the objective's preparation, the loss and its gradients, and the update. */
import * as tf from '@tensorflow/tfjs-core';
import { isTensor } from '../core/errors.js';
import type { BatchContext, Objective, ObjectiveState } from './objective.js';

/** What a step leaves on the device: its loss values in one vector, and the gradients. */
export interface StepOutput {
  /** `[total, ...terms, correct?]`: the total loss, each term, and (when the objective reports logits) the number of correct predictions. */
  readonly readout: tf.Tensor1D;
  /** The term names, in readout order. */
  readonly termNames: readonly string[];
  /** Whether the readout ends with the count of correct predictions. */
  readonly hasAccuracy: boolean;
  /** Gradients of the total by variable name. */
  readonly grads: tf.NamedTensorMap;
}

/** A step's loss values, read back. */
export interface StepValues {
  readonly total: number;
  readonly terms: Readonly<Record<string, number>>;
  /** Correct predictions in the batch, when the objective reports logits. */
  readonly correct: number | undefined;
}

/** Disposes every tensor in `container` except those in `keep`. */
export function disposeExcept(container: tf.TensorContainer, keep: readonly tf.Tensor[]): void {
  const seen = new Set<tf.Tensor>();
  const walk = (c: unknown): void => {
    if (isTensor(c)) {
      if (!keep.includes(c) && !seen.has(c)) {
        seen.add(c);
        c.dispose();
      }
    } else if (Array.isArray(c)) c.forEach(walk);
    else if (typeof c === 'object' && c !== null) Object.values(c).forEach(walk);
  };
  walk(container);
}

/**
 * The objective's loss on a prepared batch and its gradients with respect to `trainable`, with nothing read back:
 * the loss values stay on the device in {@link StepOutput.readout}.
 */
export function gradientStep(
  objective: Objective,
  prepared: tf.TensorContainer,
  batch: { readonly x: tf.Tensor; readonly y: tf.Tensor1D },
  ctx: BatchContext,
  state: ObjectiveState,
  trainable: tf.Variable[]
): StepOutput {
  const { x, y } = batch;
  let readout: tf.Tensor1D | undefined;
  let termNames: string[] = [];
  let hasAccuracy = false;
  const { value, grads } = tf.variableGrads(() => {
    const out = objective.loss(prepared, x, y, ctx, state);
    termNames = Object.keys(out.terms);
    const parts: tf.Tensor[] = [tf.reshape(out.total, [1]), ...termNames.map((k) => tf.reshape(out.terms[k] as tf.Scalar, [1]))];
    if (out.accuracyLogits !== undefined) {
      hasAccuracy = true;
      parts.push(tf.reshape(tf.sum(tf.cast(tf.equal(tf.argMax(out.accuracyLogits, 1), y), 'float32')), [1]));
    }
    readout = tf.keep(tf.concat(parts) as tf.Tensor1D);
    return out.total;
  }, trainable);
  value.dispose();
  if (readout === undefined) throw new Error('fit: the objective returned no loss');
  return { readout, termNames, hasAccuracy, grads };
}

/** Splits a readout's values (see {@link StepOutput.readout}) into the total, the terms and the correct count. */
export function stepValues(values: ArrayLike<number>, termNames: readonly string[], hasAccuracy: boolean): StepValues {
  return {
    total: values[0] ?? NaN,
    terms: Object.fromEntries(termNames.map((k, i) => [k, values[i + 1] ?? NaN])),
    correct: hasAccuracy ? (values[termNames.length + 1] ?? 0) : undefined
  };
}

/** The first non-finite value of a step, as `[name, value]`, or undefined. */
export function nonFinite(v: StepValues): readonly [string, number] | undefined {
  return [['total', v.total] as const, ...Object.entries(v.terms)].find(([, value]) => !Number.isFinite(value));
}

/** Applies the gradients, with coupled weight decay `g + λ·w` on the student's variables in `decayed`. */
export function applyUpdate(optimizer: tf.Optimizer, trainable: readonly tf.Variable[], grads: tf.NamedTensorMap, weightDecay: number, decayed: ReadonlySet<string>): void {
  const update: tf.NamedTensorMap = {};
  for (const v of trainable) {
    const g = grads[v.name];
    if (g === undefined) continue;
    update[v.name] = weightDecay > 0 && decayed.has(v.name) ? tf.tidy(() => tf.add(g, tf.mul(v, weightDecay))) : g;
  }
  try {
    optimizer.applyGradients(update);
  } finally {
    tf.dispose(Object.values(update).filter((t) => !Object.values(grads).includes(t)));
  }
}

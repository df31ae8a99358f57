/** fit's hold on an objective's state: init, update (replaced tensors released), restore from a checkpoint, release. */
import * as tf from '@tensorflow/tfjs-core';
import { advanceState, initialState, releaseState, restoredState, trainableOf } from '../../src/train/objective-state.js';
import type { BatchContext, Objective, ObjectiveState } from '../../src/train/index.js';
import { useBackend } from '../helpers.js';
import { NO_STATE } from './fixtures.js';

/** An objective whose state counts batches and keeps a running tensor, replaced at every update. */
function counting(): Objective {
  return {
    name: 'counting',
    init: () => ({ values: { n: 0 }, tensors: { sum: tf.scalar(0), w: tf.variable(tf.zeros([2]), true, `w_${String(Math.random()).slice(2, 8)}`) } }),
    prepare: () => ({}),
    loss: () => { throw new Error('not called'); },
    update: (state, terms) => ({
      values: { n: (state.values.n ?? 0) + 1 },
      tensors: { sum: tf.add(state.tensors.sum!, terms.total ?? 0), w: state.tensors.w! }
    })
  };
}

const ctx = {} as BatchContext;

describe('objective state', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('is empty without init, and unchanged by an objective without update', () => {
    const plain: Objective = { name: 'plain', prepare: () => ({}), loss: () => { throw new Error('not called'); } };
    const sample = tf.zeros([1, 2]);
    const state = initialState(plain, { student: { forward: () => { throw new Error('not called'); }, trainableVariables: [], variables: [] }, numClasses: 2, sample });
    expect(state).toEqual(NO_STATE);
    expect(advanceState(plain, state, { total: 1 }, ctx)).toBe(state);
    sample.dispose();
  });

  it('advances by update, releasing the tensors the next state no longer holds; trainable variables are the optimised ones', () => {
    const objective = counting();
    const sample = tf.zeros([1, 2]);
    const before = tf.memory().numTensors;
    let state: ObjectiveState = initialState(objective, { student: { forward: () => { throw new Error('not called'); }, trainableVariables: [], variables: [] }, numClasses: 2, sample });
    const w = state.tensors.w;
    expect(trainableOf(state)).toEqual([w]);
    const count = tf.memory().numTensors;
    for (const total of [1, 2, 3]) state = advanceState(objective, state, { total }, ctx);
    expect(state.values).toEqual({ n: 3 });
    expect(state.tensors.sum!.dataSync()[0]).toBe(6);
    expect(state.tensors.w).toBe(w);
    expect(tf.memory().numTensors).toBe(count);
    releaseState(state);
    expect(tf.memory().numTensors).toBe(before);
    sample.dispose();
  });

  it('restores a saved state: numbers replaced, variables assigned in place, other tensors copied', () => {
    const objective = counting();
    const sample = tf.zeros([1, 2]);
    const before = tf.memory().numTensors;
    const state = initialState(objective, { student: { forward: () => { throw new Error('not called'); }, trainableVariables: [], variables: [] }, numClasses: 2, sample });
    const w = state.tensors.w!;
    const saved = { values: { n: 7 }, tensors: { sum: tf.scalar(5), w: tf.tensor1d([1, 2]) } };
    const restored = restoredState(state, saved);
    tf.dispose(Object.values(saved.tensors));
    expect(restored.values).toEqual({ n: 7 });
    expect(restored.tensors.w).toBe(w);
    expect(Array.from(w.dataSync())).toEqual([1, 2]);
    expect(restored.tensors.sum!.dataSync()[0]).toBe(5);
    releaseState(restored);
    expect(tf.memory().numTensors).toBe(before);
    sample.dispose();
  });
});

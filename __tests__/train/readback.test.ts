/** fit's readback: one read per group of deferred batches, emitted in order, a non-finite loss named, nothing leaked. */
import * as tf from '@tensorflow/tfjs-core';
import { named } from '../../src/core/errors.js';
import { Readback, type BatchPlace } from '../../src/train/readback.js';
import type { BatchLog } from '../../src/train/callbacks.js';
import type { StepOutput } from '../../src/train/train-step.js';
import { useBackend } from '../helpers.js';

/** A step whose readout is `[total, a, correct]`. */
function step(total: number, a: number, correct: number): StepOutput {
  return { readout: tf.tensor1d([total, a, correct]), termNames: ['a'], hasAccuracy: true, grads: {} };
}

const place = (batch: number): BatchPlace => ({ epoch: 0, batch, size: 4, learningRate: 0.1 });

describe('Readback', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('reads one step back as its total, terms and correct count; the caller keeps the step', async () => {
    const reads = new Readback('test', () => {});
    const s = step(1.5, 0.5, 3);
    const v = await reads.read(s, undefined);
    expect(v).toEqual({ total: 1.5, terms: { a: 0.5 }, correct: 3 });
    expect(s.readout.isDisposed).toBe(false);
    s.readout.dispose();
  });

  it('emits the deferred batches in order at a flush, and releases their readouts', async () => {
    const before = tf.memory().numTensors;
    const reads = new Readback('test', () => {});
    reads.defer(place(0), step(1, 0.25, 2), undefined);
    reads.defer(place(1), step(2, 0.5, 4), undefined);
    expect(reads.pending).toBe(2);
    const seen: BatchLog[] = [];
    await reads.flush(async (log) => { seen.push(log); await Promise.resolve(); });
    expect(seen.map((l) => [l.batch, l.values.total, l.values.terms.a, l.values.correct, l.skipped])).toEqual([[0, 1, 0.25, 2, false], [1, 2, 0.5, 4, false]]);
    expect(reads.pending).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the epoch, batch and term of a non-finite loss at the flush, after emitting the batches before it', async () => {
    const before = tf.memory().numTensors;
    const reads = new Readback('broken', () => {});
    reads.defer(place(0), step(1, 0.25, 2), undefined);
    reads.defer(place(1), step(NaN, 0.5, 4), undefined);
    const seen: number[] = [];
    await expect(named('fit', () => reads.flush(async (log) => { seen.push(log.batch); await Promise.resolve(); }))).rejects.toThrow(
      /^fit: the loss became non-finite at epoch 1, batch 2 \(term "total" = NaN\) with objective broken$/
    );
    expect(seen).toEqual([0]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('releases what was never read back (after an error)', () => {
    const before = tf.memory().numTensors;
    const reads = new Readback('test', () => {});
    reads.defer(place(0), step(1, 0.25, 2), undefined);
    reads.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

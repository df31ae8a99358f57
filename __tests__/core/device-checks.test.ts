import { named } from '../../src/core/errors.js';
/**
 * Value checks queued on the device (the path of webgl and webgpu), exercised on the cpu backend with
 * `deferChecksForTesting(true)`: no synchronous readback at the call, the same error as the immediate path at the next
 * asynchronous boundary, naming the function that was called, and no tensor left behind.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deferChecksForTesting, flushChecks, pendingChecks, QUEUE_WARNING, readWithChecks } from '../../src/core/device-checks.js';
import { checkExamplesInBounds, checkFiniteExamples, checkInBounds, checkLabels, checkLogits } from '../../src/core/validate.js';
import { klDivergence } from '../../src/losses/index.js';
import { useBackend } from '../helpers.js';

let syncReads: jest.SpyInstance[] = [];

beforeAll(async () => {
  await useBackend('cpu');
});

beforeEach(() => {
  deferChecksForTesting(true);
  const fail = (): never => {
    throw new Error('synchronous readback');
  };
  syncReads = [jest.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(fail), jest.spyOn(tf.Tensor.prototype, 'arraySync').mockImplementation(fail)];
});

afterEach(async () => {
  syncReads.forEach((s) => { s.mockRestore(); });
  await flushChecks().catch(() => undefined);
  deferChecksForTesting(undefined);
});

/** Runs the checks in `f` (queued), then expects the flush to reject with `message` and every tensor to be released. */
async function expectQueued(f: () => void, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  f();
  expect(pendingChecks()).toBeGreaterThan(0);
  await expect(flushChecks()).rejects.toThrow(message);
  expect(pendingChecks()).toBe(0);
  expect(tf.memory().numTensors).toBe(before);
}

describe('queued checks', () => {
  it('labels: returns −1 without reading, the flush names the function, argument, rule and index', async () => {
    const y = tf.tensor1d([0, 2, -1], 'int32');
    await expectQueued(() => { expect(named('myAttack', () => checkLabels('y', y, 3))).toBe(-1); }, /^myAttack: y must hold class indices >= 0 \(got "-1 at index 2"\)$/);
    y.dispose();
  });

  it('labels: the class count given, and the offset of a batch in its data set', async () => {
    const y = tf.tensor1d([0, 5], 'int32');
    await expectQueued(() => { named('fit', () => checkLabels('data.y', y, 2, 4, 100)); }, /^fit: data\.y must hold class indices < 4 \(the number of classes\) \(got "5 at index 101"\)$/);
    y.dispose();
  });

  it('labels: the model\'s class count joins the queued check through checkLogits', async () => {
    const y = tf.tensor1d([0, 3], 'int32');
    const logits = tf.zeros([2, 3]);
    await expectQueued(() => {
      const maxLabel = named('pgd', () => checkLabels('y', y, 2));
      named('pgd', () => checkLogits(logits, 2, maxLabel, y));
    }, /^pgd: y must hold class indices < 3 \(the model's number of classes\) \(got "3 at index 1"\)$/);
    tf.dispose([y, logits]);
  });

  it('a tensor is queued once; valid labels are then known, a failed check is forgotten', async () => {
    const good = tf.tensor1d([0, 1], 'int32');
    named('a', () => checkLabels('y', good, 2));
    named('b', () => checkLabels('y', good, 2));
    expect(pendingChecks()).toBe(1);
    await flushChecks();
    // Read and valid: known now, even in queued mode.
    expect(named('c', () => checkLabels('y', good, 2))).toBe(1);
    expect(pendingChecks()).toBe(0);
    const bad = tf.tensor1d([0, -1], 'int32');
    named('a', () => checkLabels('y', bad, 2));
    await expect(flushChecks()).rejects.toThrow(/^a: y/);
    named('b', () => checkLabels('y', bad, 2));
    await expect(flushChecks()).rejects.toThrow(/^b: y/);
    tf.dispose([good, bad]);
  });

  it('inputs outside the box, NaN, and examples outside or not finite', async () => {
    const x = tf.tensor2d([0, 0.5, 2, 0.1], [2, 2]);
    await expectQueued(() => { named('pgd', () => { checkInBounds('x', x, [0, 1]); }); }, /^pgd: x must lie inside bounds \[0, 1\] \(got "values in \[0, 2\]"\)$/);
    const nan = tf.tensor2d([0, NaN], [1, 2]);
    await expectQueued(() => { named('pgd', () => { checkInBounds('x', nan, [0, 1]); }); }, /^pgd: x must hold no NaN \(got "NaN"\)$/);
    await expectQueued(() => { named('fit', () => { checkExamplesInBounds('data.x', x, [0, 1], 10); }); }, /^fit: data\.x must lie inside bounds \[0, 1\] \(got "example 11 has values outside"\)$/);
    const inf = tf.tensor2d([0, 1, Infinity, 0], [2, 2]);
    await expectQueued(() => { named('evaluate', () => { checkFiniteExamples('x', inf); }); }, /^evaluate: x must hold finite numbers \(got "NaN or ±Infinity in example 1"\)$/);
    tf.dispose([x, nan, inf]);
  });

  it('a loss\'s probability check is queued and names the loss', async () => {
    const p = tf.tensor2d([0.5, 0.6, 0.2, 0.8], [2, 2]);
    const z = tf.zeros<tf.Rank.R2>([2, 2]);
    await expectQueued(() => { tf.dispose(klDivergence(p, z, { targetType: 'probabilities' })); }, /^klDivergence: targetLogits must hold probabilities/);
    tf.dispose([p, z]);
  });

  it('readWithChecks reads its tensors with the queue in one readback, the queued failure first', async () => {
    const data = jest.spyOn(tf.Tensor.prototype, 'data');
    const t = tf.tensor1d([1, 2, 3]);
    const y = tf.tensor1d([0, 1], 'int32');
    named('f', () => checkLabels('y', y, 2));
    const [values] = await readWithChecks([t]);
    expect(Array.from(values ?? [])).toEqual([1, 2, 3]);
    expect(data).toHaveBeenCalledTimes(1);
    const bad = tf.tensor1d([-3], 'int32');
    named('g', () => checkLabels('y', bad, 1));
    await expect(readWithChecks([t])).rejects.toThrow(/^g: y must hold class indices >= 0 \(got "-3 at index 0"\)$/);
    data.mockRestore();
    tf.dispose([t, y, bad]);
  });

  it('warns once when checks pile up unread', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const xs = Array.from({ length: QUEUE_WARNING + 1 }, () => tf.tensor1d([0.5]));
    xs.forEach((x) => { named('pgd', () => { checkInBounds('x', x, [0, 1]); }); });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/flushChecks/);
    await flushChecks();
    warn.mockRestore();
    tf.dispose(xs);
  });
});

describe('immediate checks (cpu, wasm, tensorflow)', () => {
  it('throw at the call and queue nothing', () => {
    syncReads.forEach((s) => { s.mockRestore(); });
    deferChecksForTesting(undefined);
    const y = tf.tensor1d([0, -1], 'int32');
    expect(() => named('pgd', () => checkLabels('y', y, 2))).toThrow(/^pgd: y must hold class indices >= 0 \(got "-1 at index 1"\)$/);
    expect(pendingChecks()).toBe(0);
    y.dispose();
  });
});

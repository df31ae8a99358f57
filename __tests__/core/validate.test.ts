import * as tf from '@tensorflow/tfjs-core';
import {
  checkBoolean,
  checkBounds,
  checkFinite,
  checkFunction,
  checkGradientsRegistered,
  checkInBounds,
  checkInput,
  checkInteger,
  checkKnownKeys,
  checkLabels,
  optionKeys,
  checkLogits,
  checkNonNegative,
  checkOneOf,
  checkPositive,
  checkSameShape,
  checkTensor
} from '../../src/core/validate.js';
import { formatValue, rangeError, typeError, named } from '../../src/core/errors.js';
import { expectThrowsNoLeak, useBackend } from '../helpers.js';
import { crossEntropy } from '../../src/losses/index.js';
import type { Reduction } from '../../src/core/index.js';

describe('validation helpers', () => {
  beforeAll(async () => useBackend('cpu'));

  it('format values for messages', () => {
    const t = tf.zeros([2, 3], 'int32');
    expect(formatValue(t)).toBe('an int32 tensor of shape [2, 3]');
    expect(formatValue([1, 'a', null])).toBe('[1, "a", null]');
    expect(formatValue(undefined)).toBe('undefined');
    expect(formatValue(() => 1)).toBe('a function');
    expect(formatValue({})).toBe('an object');
    expect(formatValue(NaN)).toBe('NaN');
    t.dispose();
    expect(() => named('f', () => rangeError('a', 'be b', 1))).toThrow(new RangeError('f: a must be b (got 1)'));
    expect(() => named('f', () => typeError('a', 'be b', 'x'))).toThrow(new TypeError('f: a must be b (got "x")'));
  });

  it('accept good scalars and reject bad ones with the rule and the value', () => {
    expect(named('f', () => checkNonNegative('a', 0))).toBe(0);
    expect(() => named('f', () => checkNonNegative('a', -0.5))).toThrow('f: a must be a finite number >= 0 (got -0.5)');
    expect(() => named('f', () => checkNonNegative('a', '1'))).toThrow('f: a must be a finite number >= 0 (got "1")');
    expect(named('f', () => checkPositive('a', 2))).toBe(2);
    expect(() => named('f', () => checkPositive('a', 0))).toThrow('f: a must be a finite number > 0 (got 0)');
    expect(named('f', () => checkFinite('a', -3))).toBe(-3);
    expect(() => named('f', () => checkFinite('a', -Infinity))).toThrow('f: a must be a finite number (got -Infinity)');
    expect(named('f', () => checkInteger('a', 3))).toBe(3);
    expect(named('f', () => checkInteger('a', 0, 0))).toBe(0);
    expect(() => named('f', () => checkInteger('a', 1.5))).toThrow('f: a must be an integer >= 1 (got 1.5)');
    expect(named('f', () => checkOneOf('a', 'x', ['x', 'y']))).toBe('x');
    expect(() => named('f', () => checkOneOf('a', 'z', ['x', 'y']))).toThrow('f: a must be one of "x", "y" (got "z")');
    expect(named('f', () => checkBoolean('a', false))).toBe(false);
    expect(() => named('f', () => checkBoolean('a', 0))).toThrow(TypeError);
    expect(named('f', () => checkBounds([-1, 1]))).toEqual([-1, 1]);
    expect(() => named('f', () => checkBounds([0, 0]))).toThrow('f: bounds must be a pair [lo, hi] of finite numbers with lo < hi (got [0, 0])');
    expect(() => named('f', () => checkBounds([0, NaN]))).toThrow(RangeError);
    expect(() => { named('f', () => { checkFunction('model', null); }); }).toThrow('f: model must be a function (got null)');
    expect(() => { named('f', () => { checkKnownKeys({ a: 1, b: 2 }, ['a']); }); }).toThrow('f: options must only have the keys a (got "b")');
    // Missing or non-object options: a clear TypeError, not "Cannot convert undefined or null to object".
    for (const bad of [undefined, null, 3, [1]]) {
      expect(() => { named('f', () => { checkKnownKeys(bad as never, ['a']); }); }).toThrow(TypeError);
      expect(() => { named('f', () => { checkKnownKeys(bad as never, ['a']); }); }).toThrow(/^f: options must be an object \(got /);
    }
    expect(() => { named('f', () => { checkGradientsRegistered(); }); }).not.toThrow();
  });

  it('check tensors, inputs, labels, bounds and model outputs without leaking', () => {
    const x = tf.tensor2d([[0.2, 0.4], [0.6, 0.8]]);
    const y = tf.tensor1d([1, 0], 'int32');
    const disposed = tf.zeros([1]);
    disposed.dispose();
    expect(named('f', () => checkTensor('x', x, { exact: 2 }))).toBe(x);
    expectThrowsNoLeak(() => named('f', () => checkTensor('x', x, { exact: 3 })), /^f: x must have rank 3 \(got a float32 tensor of shape \[2, 2\]\)/);
    expectThrowsNoLeak(() => named('f', () => checkTensor('x', disposed)), /^f: x must be a tensor that is not disposed/, TypeError);
    expect(named('f', () => checkInput('x', x))).toBe(x);
    expect(named('f', () => checkLabels('y', y, 2, 2))).toBe(1);
    expectThrowsNoLeak(() => named('f', () => checkLabels('y', y, 2, 1)), /^f: y must hold class indices < 1 \(the number of classes\) \(got "1 at index \d+"\)/);
    expect(() => { named('f', () => { checkInBounds('x', x, [0, 1]); }); }).not.toThrow();
    expectThrowsNoLeak(() => { named('f', () => { checkInBounds('x', x, [0.3, 1]); }); }, /^f: x must lie inside bounds \[0.3, 1\] \(got "values in \[0.2, 0.8\]"\)/);
    expect(named('f', () => checkLogits(x, 2, 1))).toBe(x);
    expectThrowsNoLeak(() => named('f', () => checkLogits(x, 2, 2)), /^f: labels must hold class indices < 2/);
    // int32 outputs are not logits (pgd, apgd and square accepted them; tradesAttack failed inside tfjs' softmax).
    expectThrowsNoLeak(() => named('f', () => checkLogits(y, 2)), /^f: model must return float32 logits \(got an int32 tensor of shape \[2\]\)/, TypeError);
    const rank1 = tf.zeros([2]);
    expectThrowsNoLeak(() => named('f', () => checkLogits(rank1, 2)), /^f: model must return logits of shape \[2, C\]/);
    const z = tf.zeros([2, 1]);
    expectThrowsNoLeak(() => named('f', () => checkLogits(z, 2)), /^f: model must return logits for at least 2 classes/);
    expectThrowsNoLeak(() => { named('f', () => { checkSameShape('a', x, 'b', z); }); }, /^f: a and b must have the same shape \(got \[2, 2\] and \[2, 1\]\)/);
    tf.dispose([x, y, z, rank1]);
  });
});

describe('optionKeys', () => {
  interface Opts {
    readonly eps: number;
    readonly steps?: number;
  }
  it('returns the keys; the compiler rejects a missing key and a key the interface lacks', () => {
    expect(optionKeys<Opts>()('eps', 'steps')).toEqual(['eps', 'steps']);
    // @ts-expect-error: 'steps' is missing (the type check of the tests fails if this compiles)
    expect(optionKeys<Opts>()('eps')).toEqual(['eps']);
    // @ts-expect-error: 'stpes' is not a key of Opts
    expect(optionKeys<Opts>()('eps', 'steps', 'stpes')).toHaveLength(3);
  });

  it('is what checkKnownKeys checks against', () => {
    expect(() => { named('f', () => { checkKnownKeys({ eps: 1, stpes: 2 } as Opts, optionKeys<Opts>()('eps', 'steps')); }); }).toThrow(/^f: options must only have the keys eps, steps \(got "stpes"\)$/);
  });
});

describe('loss return types follow the reduction', () => {
  it('mean and sum give scalars, none gives [B], a reduction known only at run time gives a tensor', () => {
    const z = tf.tensor2d([[1, 2], [0, 1]]);
    const y = tf.tensor1d([1, 0], 'int32');
    const mean: tf.Scalar = crossEntropy(z, y);
    const sum: tf.Scalar = crossEntropy(z, y, { reduction: 'sum' });
    const none: tf.Tensor1D = crossEntropy(z, y, { reduction: 'none' });
    const r = Math.random() < 2 ? ('none' as Reduction) : 'mean';
    const either: tf.Tensor = crossEntropy(z, y, { reduction: r });
    // @ts-expect-error: a run-time reduction may be 'none', so the result is not known to be a scalar
    const notScalar: tf.Scalar = crossEntropy(z, y, { reduction: r });
    expect([mean.rank, sum.rank, none.rank, either.rank, notScalar.rank]).toEqual([0, 0, 1, 1, 1]);
    tf.dispose([z, y, mean, sum, none, either, notScalar]);
  });
});

/** Bad inputs give a clear error naming function, argument, rule and value, and leave no tensor behind. */
import * as tf from '@tensorflow/tfjs-core';
import { cwLinf, fgsm, l2Step, pgd, projectL2, projectLinf, projectedGradientAscent, signStep, tradesAttack } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { expectThrowsNoLeak, linearModel, useBackend, type LinearModel } from '../helpers.js';

type AttackCall = (model: unknown, x: unknown, y: unknown, options: Record<string, unknown>) => tf.Tensor;

const attacks: Array<[string, AttackCall]> = [
  ['fgsm', (m, x, y, o) => fgsm(m as Model, x as tf.Tensor, y as tf.Tensor1D, o as never)],
  ['pgd', (m, x, y, o) => pgd(m as Model, x as tf.Tensor, y as tf.Tensor1D, o as never)],
  ['cwLinf', (m, x, y, o) => cwLinf(m as Model, x as tf.Tensor, y as tf.Tensor1D, o as never)]
];

describe('attack input validation', () => {
  let lin: LinearModel;
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    lin = linearModel(4, 3, 1);
    x = tf.tensor2d([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]);
    y = tf.tensor1d([0, 2], 'int32');
  });
  afterAll(() => {
    lin.dispose();
    tf.dispose([x, y]);
  });

  describe.each(attacks)('%s', (name, attack) => {
    it.each([
      [{ eps: -1 }, /eps must be a finite number >= 0 \(got -1\)/],
      [{ eps: NaN }, /eps must be a finite number >= 0 \(got NaN\)/],
      [{}, /eps must be given/],
      [{ eps: 0.1, bounds: [1, 0] }, /bounds must be a pair \[lo, hi\]/],
      [{ eps: 0.1, epsilon: 0.3 }, /options must only have the keys .* \(got "epsilon"\)/]
    ])('rejects options %p', (options, message) => {
      expectThrowsNoLeak(() => attack(lin.model, x, y, options), new RegExp(`^${name}: ${message.source}`));
    });

    it('rejects labels of the wrong length, dtype or range', () => {
      const short = tf.tensor1d([0], 'int32');
      const float = tf.tensor1d([0, 1], 'float32');
      const tooBig = tf.tensor1d([0, 3], 'int32');
      const negative = tf.tensor1d([0, -1], 'int32');
      expectThrowsNoLeak(() => attack(lin.model, x, short, { eps: 0.1 }), new RegExp(`^${name}: y must have shape \\[2\\] to match the batch \\(got an int32 tensor of shape \\[1\\]\\)`));
      expectThrowsNoLeak(() => attack(lin.model, x, float, { eps: 0.1 }), new RegExp(`^${name}: y must be an int32 tensor`), TypeError);
      expectThrowsNoLeak(() => attack(lin.model, x, tooBig, { eps: 0.1 }), new RegExp(`^${name}: labels must hold class indices < 3 .* \\(got 3\\)`));
      expectThrowsNoLeak(() => attack(lin.model, x, negative, { eps: 0.1 }), new RegExp(`^${name}: y must hold class indices >= 0 \\(got "-1 at index 1"\\)`));
      tf.dispose([short, float, tooBig, negative]);
    });

    it('rejects x outside the bounds or holding NaN', () => {
      const big = tf.tensor2d([[0.1, 0.2, 0.3, 255], [0.5, 0.6, 0.7, 0.8]]);
      const nan = tf.tensor2d([[0.1, NaN, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]);
      expectThrowsNoLeak(() => attack(lin.model, big, y, { eps: 0.1 }), new RegExp(`^${name}: x must lie inside bounds \\[0, 1\\] \\(images in 0–255\\? divide them by 255, or pass bounds: \\[0, 255\\]\\) \\(got "values in \\[0.1, 255\\]"\\)`));
      expectThrowsNoLeak(() => attack(lin.model, nan, y, { eps: 0.1 }), new RegExp(`^${name}: x must hold no NaN`));
      tf.dispose([big, nan]);
    });

    it('rejects a model that is not a function or returns the wrong shape', () => {
      expectThrowsNoLeak(() => attack({ predict: 1 }, x, y, { eps: 0.1 }), new RegExp(`^${name}: model must be a function \\(got an object\\)`), TypeError);
      const wrongBatch: Model = (input) => tf.slice(lin.model(input), 0, 1);
      expectThrowsNoLeak(() => attack(wrongBatch, x, y, { eps: 0.1 }), new RegExp(`^${name}: model must return logits of shape \\[2, C\\] for a batch of 2 \\(got a float32 tensor of shape \\[1, 3\\]\\)`));
      const notTensor = ((): unknown => [1, 2]) as unknown as Model;
      expectThrowsNoLeak(() => attack(notTensor, x, y, { eps: 0.1 }), new RegExp(`^${name}: model must return a tf.Tensor`), TypeError);
    });

    it('rejects an x that is not a float tensor', () => {
      expectThrowsNoLeak(() => attack(lin.model, [[0.1]], y, { eps: 0.1 }), new RegExp(`^${name}: x must be a tf.Tensor`), TypeError);
      const ints = tf.tensor2d([[0, 1, 0, 1], [1, 0, 1, 0]], undefined, 'int32');
      expectThrowsNoLeak(() => attack(lin.model, ints, y, { eps: 0.1 }), new RegExp(`^${name}: x must be a float32 tensor`), TypeError);
      ints.dispose();
    });
  });

  describe.each([
    ['pgd', (o: Record<string, unknown>): tf.Tensor => pgd(lin.model, x, y, { eps: 0.1, ...o })],
    ['cwLinf', (o: Record<string, unknown>): tf.Tensor => cwLinf(lin.model, x, y, { eps: 0.1, ...o })],
    ['tradesAttack', (o: Record<string, unknown>): tf.Tensor => tradesAttack(lin.model, x, y, { eps: 0.1, ...o })]
  ])('%s iterative options', (name, run) => {
    it.each([
      [{ steps: 0 }, /steps must be an integer >= 1 \(got 0\)/],
      [{ steps: 2.5 }, /steps must be an integer >= 1 \(got 2.5\)/],
      [{ stepSize: -0.1 }, /stepSize must be a finite number >= 0 \(got -0.1\)/],
      [{ norm: 'l1' }, /norm must be one of "linf", "l2" \(got "l1"\)/],
      [{ randomStart: true }, /randomStart must be one of "uniform", "normal", "none" \(got true\)/],
      [{ seed: Infinity }, /seed must be a finite number \(got Infinity\)/]
    ])('rejects %p', (options, message) => {
      expectThrowsNoLeak(() => run(options), new RegExp(`^${name}: ${message.source}`));
    });
  });

  it('pgd rejects an unknown loss and a loss that does not return per-example values', () => {
    expectThrowsNoLeak(() => pgd(lin.model, x, y, { eps: 0.1, loss: 'mse' as never }), /^pgd: loss must be "ce", "cw" or a function/);
    expectThrowsNoLeak(
      () => pgd(lin.model, x, y, { eps: 0.1, loss: (z) => tf.mean(z) }),
      /^pgd: loss must return per-example values of shape \[2\] \(got a float32 tensor of shape \[\]\)/
    );
    expectThrowsNoLeak(() => pgd(lin.model, x, y, { eps: 0.1, targeted: 1 as never }), /^pgd: targeted must be a boolean \(got 1\)/, TypeError);
  });

  it('cwLinf rejects a non-finite kappa; tradesAttack a model of the wrong batch size', () => {
    expectThrowsNoLeak(() => cwLinf(lin.model, x, y, { eps: 0.1, kappa: NaN }), /^cwLinf: kappa must be a finite number \(got NaN\)/);
    const wrongBatch: Model = (input) => tf.concat([lin.model(input), lin.model(input)]);
    expectThrowsNoLeak(() => tradesAttack(wrongBatch, x, y, { eps: 0.1 }), /^tradesAttack: model must return logits of shape \[2, C\]/);
  });

  it('projectedGradientAscent rejects a non-function objective and a scalar objective', () => {
    expectThrowsNoLeak(() => projectedGradientAscent(3 as never, x, { eps: 0.1 }), /^projectedGradientAscent: objective must be a function/, TypeError);
    expectThrowsNoLeak(
      () => projectedGradientAscent((xa) => tf.sum(xa), x, { eps: 0.1 }),
      /^projectedGradientAscent: objective must return per-example values of shape \[2\]/
    );
  });

  it('an error thrown by the model mid-attack leaks nothing', () => {
    let calls = 0;
    const flaky: Model = (input) => {
      calls += 1;
      if (calls === 3) throw new Error('model failed');
      return lin.model(input);
    };
    expectThrowsNoLeak(() => pgd(flaky, x, y, { eps: 0.1, steps: 5 }), /model failed/, Error);
  });

  it('an error thrown by a gradient function (in the backward pass) leaks nothing', () => {
    const throwing = tf.customGrad((t) => ({
      value: tf.clone(t as tf.Tensor),
      gradFunc: () => {
        throw new Error('no gradient here');
      }
    }));
    const model: Model = (input) => lin.model(throwing(input));
    expectThrowsNoLeak(() => pgd(model, x, y, { eps: 0.1, steps: 3 }), /no gradient here/, Error);
  });

  it('the primitives reject mismatched shapes and bad sizes', () => {
    const g = tf.zeros([2, 3]);
    expectThrowsNoLeak(() => signStep(x, g, 0.1), /^signStep: x and grad must have the same shape \(got \[2, 4\] and \[2, 3\]\)/);
    expectThrowsNoLeak(() => l2Step(x, x, -1), /^l2Step: stepSize must be a finite number >= 0 \(got -1\)/);
    expectThrowsNoLeak(() => projectLinf(x, x, NaN), /^projectLinf: eps must be a finite number >= 0 \(got NaN\)/);
    expectThrowsNoLeak(() => projectL2(x, g, 1), /^projectL2: xAdv and x must have the same shape/);
    g.dispose();
  });
});

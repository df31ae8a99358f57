/**
 * sanityChecks: a normal model raises no flag; models that hide or fake their robustness raise the flags that
 * describe how they do it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../../src/core/index.js';
import { sanityChecks, type SanityCheckOptions } from '../../src/eval/index.js';
import { expectRejectsNoLeak, toyProblem, useBackend, type ToyProblem } from '../helpers.js';

const N = 48;
const options: SanityCheckOptions = { eps: 0.1, steps: 8, queries: 150 };

describe('sanityChecks', () => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem(N);
  });
  afterAll(() => {
    p.dispose();
  });

  const ids = async (model: Model): Promise<string[]> => (await sanityChecks(model, p.x, p.y, options)).map((f) => f.id);

  it('raises no flag for a normal model, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    expect(await sanityChecks(p.model, p.x, p.y, options)).toEqual([]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('flags softmax outputs as probabilities', async () => {
    expect(await ids((x) => tf.tidy(() => tf.softmax(p.model(x))))).toContain('probabilities');
  });

  it('flags logits through a step function: zero gradients, accuracy not near 0 at a box-sized ε, Square beating APGD', async () => {
    const stepped: Model = (x) => tf.tidy(() => tf.div<tf.Tensor2D>(tf.round(tf.mul(p.model(x), 4)), 4));
    const flags = await sanityChecks(stepped, p.x, p.y, options);
    expect(flags.map((f) => f.id)).toEqual(['zero-gradients', 'large-eps-not-zero', 'square-beats-white-box']);
    expect(flags[0]?.message).toMatch(/^The input gradient of the margin loss is exactly zero on 48 of 48 points, .*\.$/);
    for (const f of flags) expect(f.message.split(/[.!?] /)).toHaveLength(1); // one sentence each
  });

  it('flags a model that defends better against larger perturbations: accuracy rising with ε', async () => {
    // 21 features: the toy's 20, then the label itself (so bounds [0, 4]). Once that last feature is moved off the
    // integer grid by more than 0.16, the model answers the label it encodes: at ε = 0.15 never, at 2ε often.
    const x21 = tf.tidy(() => tf.concat([tf.reshape(p.x, [N, 20]), tf.reshape(tf.cast(p.y, 'float32'), [N, 1])], 1));
    const guarded: Model = (x) =>
      tf.tidy(() => {
        const code = tf.slice(x, [0, 20], [x.shape[0] ?? 0, 1]);
        const off = tf.greaterEqual(tf.abs(tf.sub(code, tf.round(code))), 0.16);
        const oracle = tf.mul(tf.oneHot(tf.cast(tf.reshape(tf.round(code), [-1]), 'int32'), 4), 20);
        return tf.where(off, oracle, p.model(tf.slice(x, [0, 0], [x.shape[0] ?? 0, 20]))) as tf.Tensor2D;
      });
    const flags = await sanityChecks(guarded, x21, p.y, { ...options, eps: 0.15, bounds: [0, 4] });
    expect(flags.map((f) => f.id)).toEqual(['larger-eps-raises-accuracy', 'large-eps-not-zero']);
    expect(flags[0]?.message).toMatch(/^Accuracy under APGD-CE rises from \d+\.\d % at eps 0\.15 to \d+\.\d % at eps 0\.3, /);
    x21.dispose();
  });

  it('flags a randomized model', async () => {
    let calls = 0;
    const noisy: Model = (x) => tf.tidy(() => tf.add<tf.Tensor2D>(p.model(x), tf.randomNormal([x.shape[0] ?? 0, 4], 0, 0.5, 'float32', calls++)));
    expect(await ids(noisy)).toContain('randomized');
  });

  it('rejects bad options and inputs', async () => {
    await expectRejectsNoLeak(() => sanityChecks(p.model, p.x, p.y, {} as never), /^sanityChecks: eps must be given/);
    await expectRejectsNoLeak(() => sanityChecks(p.model, p.x, p.y, { eps: 0.1, steps: 0 }), /^sanityChecks: steps must be an integer >= 1 \(got 0\)/);
    await expectRejectsNoLeak(() => sanityChecks(p.model, p.x, p.y, { eps: 0.1, norm: 'l0' as never }), /^sanityChecks: norm must be one of "linf", "l2"/);
    await expectRejectsNoLeak(() => sanityChecks(p.model, p.x, p.y, { eps: 0.1, attacks: 2 } as never), /^sanityChecks: options must only have the keys/);
    const short = tf.tensor1d([0], 'int32');
    await expectRejectsNoLeak(() => sanityChecks(p.model, p.x, short, { eps: 0.1 }), /^sanityChecks: y must have shape \[48\]/);
    short.dispose();
  });
});

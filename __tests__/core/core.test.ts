import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createRandom, fromLayersModel, reduce, withTemperature, type Model } from '../../src/core/index.js';
import { expectNoLeak, expectThrowsNoLeak, useBackend } from '../helpers.js';

describe('createRandom', () => {
  beforeAll(async () => useBackend('cpu'));

  it('gives the same stream for the same seed and another for another seed', () => {
    const a = createRandom(5);
    const b = createRandom(5);
    const c = createRandom(6);
    const sa = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(sa);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(sa);
    for (const v of sa) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });

  it('draws roughly uniform floats (mean 0.5, variance 1/12)', () => {
    const r = createRandom(1);
    const n = 20000;
    const v = Array.from({ length: n }, () => r.next());
    const m = v.reduce((s, x) => s + x, 0) / n;
    const varr = v.reduce((s, x) => s + (x - m) ** 2, 0) / n;
    expect(Math.abs(m - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(varr - 1 / 12)).toBeLessThan(0.005);
  });

  it('makes seeded tensors within range, and permutations of 0…n−1', () => {
    const u1 = createRandom(3).uniform([100], -0.5, 0.5);
    const u2 = createRandom(3).uniform([100], -0.5, 0.5);
    expect(Array.from(u1.dataSync())).toEqual(Array.from(u2.dataSync()));
    expect(tf.min(u1).dataSync()[0]).toBeGreaterThanOrEqual(-0.5);
    expect(tf.max(u1).dataSync()[0]).toBeLessThan(0.5);
    const p = createRandom(3).permutation(50);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(p)).toEqual(Array.from(createRandom(3).permutation(50)));
    tf.dispose([u1, u2]);
  });

  it('saves and restores its state', () => {
    const r = createRandom(9);
    r.next();
    const state = r.getState();
    const ahead = [r.next(), r.next()];
    r.setState(state);
    expect([r.next(), r.next()]).toEqual(ahead);
  });

  it('accepts fractional and negative seeds, rejects non-finite ones', () => {
    expect(createRandom(-1.5).next()).not.toEqual(createRandom(1.5).next());
    expect(() => createRandom(NaN)).toThrow(/^createRandom: seed must be a finite number \(got NaN\)/);
  });
});

describe('model adapters', () => {
  beforeAll(async () => useBackend('cpu'));

  it('fromLayersModel gives logits of a tfjs-layers model, differentiable in x', () => {
    const net = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 2, useBias: false, kernelInitializer: 'ones' })] });
    const model = fromLayersModel(net);
    const x = tf.tensor2d([[1, 2, 3]]);
    const z = model(x);
    expect(Array.from(z.dataSync())).toEqual([6, 6]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(model(t)))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 2, 2]);
    expectNoLeak(() => model(x));
    tf.dispose([x, z, g]);
    net.dispose();
  });

  it('fromLayersModel rejects non-models and multi-output models', () => {
    expect(() => fromLayersModel({} as never)).toThrow(/^fromLayersModel: model must be a tfjs-layers model with an apply method \(got an object\)/);
    const multi = fromLayersModel({ apply: () => [tf.zeros([1, 2]), tf.zeros([1, 2])] });
    const before = tf.memory().numTensors;
    expect(() => multi(tf.zeros([1, 3]))).toThrow(/^fromLayersModel: model must return a single tensor of logits/);
    // The two zeros the fake apply made are released with the error: only the caller's input is left.
    expect(tf.memory().numTensors - before).toBe(1);
  });

  it('withTemperature divides logits by τ', () => {
    const base: Model = (x) => tf.mul<tf.Tensor2D>(x, 3);
    const x = tf.tensor2d([[1, -2]]);
    const scaled = withTemperature(base, 4)(x);
    expect(Array.from(scaled.dataSync())).toEqual([0.75, -1.5]);
    expectNoLeak(() => withTemperature(base, 4)(x));
    expect(() => withTemperature(base, 0)).toThrow(/^withTemperature: temperature must be a finite number > 0 \(got 0\)/);
    expect(() => withTemperature(base, NaN)).toThrow(/^withTemperature: temperature must be a finite number > 0 \(got NaN\)/);
    expect(() => withTemperature(5 as never, 1)).toThrow(/^withTemperature: model must be a function \(got 5\)/);
    tf.dispose([x, scaled]);
  });
});

describe('reduce', () => {
  beforeAll(async () => useBackend('cpu'));

  it('computes mean, sum and none', () => {
    const v = tf.tensor1d([1, 2, 6]);
    expect(reduce(v, 'mean').dataSync()[0]).toBe(3);
    expect(reduce(v, 'sum').dataSync()[0]).toBe(9);
    expect(reduce(v, 'none')).toBe(v);
    expectThrowsNoLeak(() => reduce(v, 'max' as never), /^reduce: reduction must be one of "mean", "sum", "none" \(got "max"\)/);
    v.dispose();
  });
});

/**
 * Every objective resolves all its options when it is made: its own, the attack's, and those it passes to its loss
 * (α, τ, β, klReduction, …). A bad loss option throws at the factory call, with a message naming the factory (not the
 * loss, and not at the first batch inside the gradient tape), before any tensor exists or any teacher runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { adaad, ard, arrest, crdnd, darht, fit, iad, ltd, mart, mtard, rslad, trades, type Objective } from '../../src/train/index.js';
import type { Model } from '../../src/core/index.js';
import { expectRejectsNoLeak, expectThrowsNoLeak, useBackend } from '../helpers.js';
import { blobs, linearStudent } from './fixtures.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const ATTACK = { eps: 0.1, steps: 2 };
let teacherCalls = 0;
/** A teacher that counts its calls: a factory that throws must not have run it. */
const teacher: Model = (x) => {
  teacherCalls++;
  return tf.zeros([x.shape[0] ?? 1, 3]);
};
const standardFeatures = (x: tf.Tensor): tf.Tensor2D => tf.zeros([x.shape[0] ?? 1, 4]);

type Case = readonly [string, () => Objective, RegExp];

/** One bad option per case; each is an option the objective passes to its loss (or its own, where noted). */
const cases: readonly Case[] = [
  ['ard alpha', () => ard({ ...ATTACK, teacher, alpha: 2 }), /^ard: alpha must be a number in \[0, 1\] \(got 2\)$/],
  ['ard alpha NaN', () => ard({ ...ATTACK, teacher, alpha: NaN }), /^ard: alpha must be a number in \[0, 1\] \(got NaN\)$/],
  ['ard temperature', () => ard({ ...ATTACK, teacher, temperature: 0 }), /^ard: temperature must be a finite number > 0 \(got 0\)$/],
  ['ard klReduction', () => ard({ ...ATTACK, teacher, klReduction: 'mean' as never }), /^ard: klReduction must be one of "batchmean", "classMean" \(got "mean"\)$/],
  ['rslad klReduction', () => rslad({ ...ATTACK, teacher, klReduction: 'none' as never }), /^rslad: klReduction must be one of "batchmean", "classMean" \(got "none"\)$/],
  ['trades beta', () => trades({ ...ATTACK, beta: -1 }), /^trades: beta must be a finite number >= 0 \(got -1\)$/],
  ['mart beta', () => mart({ ...ATTACK, beta: Infinity }), /^mart: beta must be a finite number >= 0 \(got Infinity\)$/],
  ['mart boost', () => mart({ ...ATTACK, boost: 'bounded' as never }), /^mart: boost must be one of "reference", "exact" \(got "bounded"\)$/],
  ['iad alpha', () => iad({ ...ATTACK, teacher, alpha: 1.5 }), /^iad: alpha must be a number in \[0, 1\] \(got 1.5\)$/],
  ['iad beta', () => iad({ ...ATTACK, teacher, beta: -0.1 }), /^iad: beta must be a finite number >= 0 \(got -0.1\)$/],
  ['iad temperature', () => iad({ ...ATTACK, teacher, temperature: -1 }), /^iad: temperature must be a finite number > 0 \(got -1\)$/],
  ['iad introspectionFrom (its own)', () => iad({ ...ATTACK, teacher, introspectionFrom: 2 }), /^iad: introspectionFrom must be a fraction in \[0, 1\] \(got 2\)$/],
  ['adaad alpha', () => adaad({ ...ATTACK, teacher, alpha: -0.5 }), /^adaad: alpha must be a number in \[0, 1\] \(got -0.5\)$/],
  ['adaad klReduction', () => adaad({ ...ATTACK, teacher, klReduction: 1 as never }), /^adaad: klReduction must be one of "batchmean", "classMean" \(got 1\)$/],
  ['mtard temperature', () => mtard({ ...ATTACK, cleanTeacher: teacher, robustTeacher: teacher, temperature: 0 }), /^mtard: temperature must be a finite number > 0 \(got 0\)$/],
  [
    'mtard klReduction',
    () => mtard({ ...ATTACK, cleanTeacher: teacher, robustTeacher: teacher, klReduction: 'elementMean' as never }),
    /^mtard: klReduction must be one of "batchmean", "classMean" \(got "elementMean"\)$/
  ],
  ['mtard eta (its own)', () => mtard({ ...ATTACK, cleanTeacher: teacher, robustTeacher: teacher, eta: 0 }), /^mtard: eta must be a finite number > 0 \(got 0\)$/],
  // mtardWeights takes η in (0, 1]: η = 2 used to pass the factory and throw at the first weight update.
  ['mtard eta > 1 (the update\'s)', () => mtard({ ...ATTACK, cleanTeacher: teacher, robustTeacher: teacher, eta: 2 }), /^mtard: eta must be a number in \(0, 1\] \(got 2\)$/],
  ['ltd studentTemperature', () => ltd({ ...ATTACK, teacher, studentTemperature: 0 }), /^ltd: studentTemperature must be a finite number > 0 \(got 0\)$/],
  ['ltd teacherTemperature', () => ltd({ ...ATTACK, teacher, teacherTemperature: NaN }), /^ltd: teacherTemperature must be a finite number > 0 \(got NaN\)$/],
  ['ltd beta', () => ltd({ ...ATTACK, teacher, base: 'trades', beta: -6 }), /^ltd: beta must be a finite number >= 0 \(got -6\)$/],
  ['ltd base (its own)', () => ltd({ ...ATTACK, teacher, base: 'mart' as never }), /^ltd: base must be one of "pgdAt", "trades" \(got "mart"\)$/],
  ['crdnd temperature', () => crdnd({ ...ATTACK, teacher, temperature: 0 }), /^crdnd: temperature must be a finite number > 0 \(got 0\)$/],
  ['crdnd beta', () => crdnd({ ...ATTACK, teacher, beta: -1 }), /^crdnd: beta must be a finite number >= 0 \(got -1\)$/],
  ['arrest metric', () => arrest({ ...ATTACK, standardFeatures, metric: 'l1' as never }), /^arrest: metric must be one of "cosine", "l2", "squaredL2" \(got "l1"\)$/],
  ['darht divergence', () => darht({ ...ATTACK, teachers: [teacher], divergence: 'js' as never }), /^darht: divergence must be one of "kl", "mse" \(got "js"\)$/],
  [
    'darht weighting',
    () => darht({ ...ATTACK, teachers: [teacher], weighting: 'confidence' as never }),
    /^darht: weighting must be one of "teacherConfidence", "uniform" \(got "confidence"\)$/
  ]
];

describe('a bad loss option throws when the objective is made, naming the objective', () => {
  it.each(cases)('%s', (_name, make, message) => {
    teacherCalls = 0;
    expectThrowsNoLeak(make, message, RangeError);
    expect(teacherCalls).toBe(0);
  });

  it('a loss option of the right type in range makes the objective', () => {
    const made = [
      ard({ ...ATTACK, teacher, alpha: 0.5, temperature: 4, klReduction: 'classMean' }),
      iad({ ...ATTACK, teacher, alpha: 0, beta: 0, temperature: 2, introspectionFrom: 1 }),
      adaad({ ...ATTACK, teacher, alpha: 1, klReduction: 'batchmean' }),
      ltd({ ...ATTACK, teacher, base: 'trades', beta: 0, studentTemperature: 1, teacherTemperature: 1 }),
      crdnd({ ...ATTACK, teacher, temperature: 1, beta: 0 })
    ];
    expect(made.map((o) => o.name)).toEqual(['ard', 'iad', 'adaad', 'ltd', 'crdnd']);
  });
});

describe('per batch, the loss options are not checked again, but the teacher logits still are (by shape)', () => {
  it('a teacher whose logits ignore the batch size is named at the first batch, not broadcast', async () => {
    // [1, 3] whatever the batch: fit's check on one example passes, the KL would silently broadcast.
    const constant: Model = () => tf.zeros([1, 3]);
    const s = linearStudent(4);
    const data = blobs(16, 3, 2);
    await expectRejectsNoLeak(
      () => fit(s.student, data, ard({ ...ATTACK, teacher: constant }), { epochs: 1, batchSize: 8, seed: 1 }),
      /^ard: teacher must return logits \[B, C\] for a batch of 8 \(got a float32 tensor of shape \[1, 3\]\)$/
    );
    s.net.dispose();
    tf.dispose([data.x, data.y]);
  });
});

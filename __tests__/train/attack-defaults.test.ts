import { named } from '../../src/core/errors.js';
/**
 * Every adversarial objective, given only ε, attacks with the step rule the attacks use (2.5·ε/steps) unless the
 * user sets stepSize: on a linear model the batch it prepares reaches ‖δ‖∞ ≥ 0.95·ε for every example. An absolute
 * default step (DARHT's 0.003 from the CIFAR code) fails this at ε = 0.1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../src/core/random.js';
import {
  adaad,
  ard,
  arrest,
  crdnd,
  darht,
  featuresOf,
  iad,
  ltd,
  mart,
  mtard,
  pgdAt,
  rslad,
  trades,
  type BatchContext,
  type Objective,
  type Student
} from '../../src/train/index.js';
import { asStudent, studentModel } from '../../src/train/student.js';
import type { Model } from '../../src/core/index.js';
import { useBackend } from '../helpers.js';
import { blobs, darhtStudent, linearStudent, linearTeachers, NO_STATE } from './fixtures.js';

const K = 3;
const EPS = 0.1;

describe('adversarial objectives attack at the scale of ε by default', () => {
  let fixtures: ReturnType<typeof linearTeachers>;
  let teacher: Model;
  let teacher2: Model;
  let standard: Student;

  beforeAll(async () => {
    await useBackend('cpu');
    fixtures = linearTeachers();
    ({ teacher, teacher2, standard } = fixtures);
  });
  afterAll(() => {
    fixtures.dispose();
  });

  const cases: Array<[string, () => { objective: Objective; student: () => Student; key: string }]> = [
    ['pgdAt', () => ({ objective: pgdAt({ eps: EPS }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['trades', () => ({ objective: trades({ eps: EPS }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['mart', () => ({ objective: mart({ eps: EPS }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['ard', () => ({ objective: ard({ eps: EPS, teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['rslad', () => ({ objective: rslad({ eps: EPS, teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['iad', () => ({ objective: iad({ eps: EPS, teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['adaad', () => ({ objective: adaad({ eps: EPS, teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['mtard', () => ({ objective: mtard({ eps: EPS, cleanTeacher: teacher2, robustTeacher: teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['ltd (pgdAt)', () => ({ objective: ltd({ eps: EPS, teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['ltd (trades)', () => ({ objective: ltd({ eps: EPS, teacher, base: 'trades' }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['crdnd', () => ({ objective: crdnd({ eps: EPS, teacher }), student: () => linearStudent(1).student, key: 'xAdv' })],
    [
      // The student starts as the standard model (AFT), so nothing has drifted and every example is attacked.
      'arrest',
      () => ({ objective: arrest({ eps: EPS, standardFeatures: featuresOf(standard) }), student: () => standard, key: 'xTrain' })
    ],
    [
      'darht',
      () => ({
        objective: darht({ eps: EPS, teachers: [teacher, teacher2], adversarialProbability: 1 }),
        student: () => darhtStudent(K, 2, 5).student,
        key: 'xt'
      })
    ]
  ];

  it.each(cases)('%s: ‖x′ − x‖∞ ≥ 0.95·ε for every example, and ≤ ε', (_name, make) => {
    const { objective, student: makeStudent, key } = make();
    const student = named('test', () => asStudent(makeStudent()));
    const data = blobs(24, K, 3);
    const sample = tf.slice(data.x, 0, 1);
    tf.tidy(() => objective.check?.(student, K, sample));
    const ctx: BatchContext = {
      epoch: 0,
      epochs: 1,
      batch: 0,
      progress: 0,
      batchesPerEpoch: 1,
      rng: createRandom(5),
      student,
      studentModel: studentModel(student),
      learningRate: 0.01,
      baseLearningRate: 0.01
    };
    const before = tf.memory().numTensors;
    const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx, NO_STATE)) as Record<string, tf.Tensor | tf.Tensor[]>;
    const xAdv = prepared[key] as tf.Tensor;
    const [minDist, maxDist] = tf.tidy(() => {
      const d = tf.max(tf.abs(tf.sub(xAdv, data.x)), 1);
      return [tf.min(d).dataSync()[0]!, tf.max(d).dataSync()[0]!];
    });
    expect(minDist).toBeGreaterThanOrEqual(0.95 * EPS);
    expect(maxDist).toBeLessThanOrEqual(EPS * (1 + 1e-5) + 1e-6);
    const own = Object.values(prepared)
      .flat()
      .filter((t) => t !== data.x && t !== data.y);
    tf.dispose(own);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sample, data.x, data.y]);
  });
});

import { named } from '../../src/core/errors.js';
/**
 * The authors' reference-code conventions as objective options: the KL divided by the number of classes
 * (`klReduction: 'classMean'`), the attack run with the student in training mode (`attackMode`), and MTARD's η
 * following the learning-rate schedule (`etaSchedule`). Each test fails without its option; bad values and leaks too.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../src/attacks/index.js';
import { createRandom, type Model } from '../../src/core/index.js';
import {
  adaad,
  ard,
  fit,
  iad,
  mtard,
  multiStep,
  rslad,
  type BatchContext,
  type Objective,
  type Schedule,
  type Student
} from '../../src/train/index.js';
import { asStudent, studentModel } from '../../src/train/student.js';
import { expectRelClose, linearModel, useBackend, type LinearModel } from '../helpers.js';
import { blobs, DIM, mlp, NO_STATE } from './fixtures.js';

const K = 3;
const ATTACK = { eps: 0.1, steps: 3, stepSize: 0.05 };

/** A linear student whose training-mode pass masks its inputs (a deterministic stand-in for dropout), counting those passes. */
function modeStudent(seed: number): { student: Student; trainingCalls: () => number; dispose: () => void } {
  const init = linearModel(DIM, K, seed);
  const w = tf.variable(tf.tensor2d(init.W), true, `modeStudent_w_${String(seed)}_${String(Math.random()).slice(2, 8)}`);
  const b = tf.variable(tf.tensor1d(init.b), true, `modeStudent_b_${String(seed)}_${String(Math.random()).slice(2, 8)}`);
  init.dispose();
  const mask = tf.tensor1d(Array.from({ length: DIM }, (_, i) => (i % 3 === 0 ? 0 : 1.5)));
  let calls = 0;
  const student: Student = {
    forward: (x, training) => {
      if (training) calls += 1;
      return { logits: tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(training ? tf.mul(x, mask) : x, w), b)) };
    },
    trainableVariables: [w, b],
    variables: [w, b]
  };
  return { student, trainingCalls: () => calls, dispose: () => { tf.dispose([w, b, mask]); } };
}

/** The context `fit` hands to an objective, built by hand. */
function contextFor(student: Student, seed: number, learningRate = 0.1, baseLearningRate = 0.1): BatchContext {
  return {
    epoch: 0,
    epochs: 1,
    batch: 0,
    progress: 0,
    batchesPerEpoch: 1,
    rng: createRandom(seed),
    student,
    studentModel: studentModel(student),
    learningRate,
    baseLearningRate
  };
}

/** `prepare`'s adversarial examples (the rest of what it prepares is disposed). */
function preparedAdv(objective: Objective, x: tf.Tensor, y: tf.Tensor1D, ctx: BatchContext): tf.Tensor {
  const p = objective.prepare(x, y, ctx, NO_STATE) as Record<string, tf.Tensor>;
  const xAdv = p.xAdv!;
  tf.dispose(Object.values(p).filter((t) => t !== xAdv));
  return xAdv;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? NaN);
}

describe('reference-code options of the objectives', () => {
  let data: { x: tf.Tensor2D; y: tf.Tensor1D };
  let t1: LinearModel;
  let t2: LinearModel;
  let teacher: Model;
  let teacher2: Model;

  beforeAll(async () => {
    await useBackend('cpu');
    data = blobs(32, K, 1);
    t1 = linearModel(DIM, K, 11);
    t2 = linearModel(DIM, K, 12);
    teacher = t1.model;
    teacher2 = t2.model;
  });
  afterAll(() => {
    tf.dispose([data.x, data.y]);
    t1.dispose();
    t2.dispose();
  });

  describe('attackMode', () => {
    const makers: Array<[string, (mode?: 'inference' | 'training') => Objective]> = [
      ['ard', (mode) => ard({ ...ATTACK, teacher, ...(mode === undefined ? {} : { attackMode: mode }) })],
      ['iad', (mode) => iad({ ...ATTACK, teacher, ...(mode === undefined ? {} : { attackMode: mode }) })]
    ];

    it.each(makers)("%s attacks the training-mode student with 'training' and the inference-mode one by default", (_name, make) => {
      const { student, trainingCalls, dispose } = modeStudent(3);
      const training: Model = (x) => student.forward(x, true).logits;
      const attack = (model: Model, seed: number): tf.Tensor => pgd(model, data.x, data.y, { ...ATTACK, seed: createRandom(seed).nextSeed() });

      const byDefault = preparedAdv(make(), data.x, data.y, contextFor(student, 5));
      const inference = preparedAdv(make('inference'), data.x, data.y, contextFor(student, 5));
      expect(trainingCalls()).toBe(0);
      const trained = preparedAdv(make('training'), data.x, data.y, contextFor(student, 5));
      // One training-mode forward pass per attack step.
      expect(trainingCalls()).toBe(ATTACK.steps);
      const expectedInference = attack(studentModel(student), 5);
      const expectedTraining = attack(training, 5);
      expect(maxAbsDiff(byDefault, expectedInference)).toBe(0);
      expect(maxAbsDiff(inference, expectedInference)).toBe(0);
      expect(maxAbsDiff(trained, expectedTraining)).toBeLessThan(1e-7);
      // The two modes give different adversarial examples for this student.
      expect(maxAbsDiff(trained, inference)).toBeGreaterThan(1e-2);
      tf.dispose([byDefault, inference, trained, expectedInference, expectedTraining]);
      dispose();
    });

    it("updates tfjs-layers batch-norm moving statistics during a 'training' attack, and only then", () => {
      const net = tfl.sequential({
        layers: [
          tfl.layers.dense({ inputShape: [DIM], units: 8, kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }),
          tfl.layers.batchNormalization({ name: `bn_${String(Math.random()).slice(2, 8)}` }),
          tfl.layers.activation({ activation: 'relu' }),
          tfl.layers.dense({ units: K, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) })
        ]
      });
      const student = named('test', () => asStudent(net));
      const movingMean = (): number[] => Array.from(net.layers[1]!.getWeights()[2]!.dataSync());
      const start = movingMean();
      for (const make of [(): Objective => ard({ ...ATTACK, teacher }), (): Objective => iad({ ...ATTACK, teacher, attackMode: 'inference' })]) {
        preparedAdv(make(), data.x, data.y, contextFor(student, 2)).dispose();
        expect(movingMean()).toEqual(start);
      }
      const before = tf.memory().numTensors;
      preparedAdv(ard({ ...ATTACK, teacher, attackMode: 'training' }), data.x, data.y, contextFor(student, 2)).dispose();
      expect(tf.memory().numTensors).toBe(before);
      const moved = movingMean();
      expect(Math.max(...moved.map((v, i) => Math.abs(v - start[i]!)))).toBeGreaterThan(1e-4);
      net.dispose();
    });

    it("leaks nothing in fit with attackMode 'training'", async () => {
      for (const objective of [ard({ ...ATTACK, teacher, attackMode: 'training', alpha: 0.5 }), iad({ ...ATTACK, teacher, attackMode: 'training', introspectionFrom: 0 })]) {
        const { student, dispose } = modeStudent(6);
        const before = tf.memory().numTensors;
        await fit(student, data, objective, { epochs: 2, batchSize: 16, seed: 1 });
        expect(tf.memory().numTensors).toBe(before);
        dispose();
      }
    });
  });

  describe("klReduction 'classMean'", () => {
    /** The first batch's loss of an objective (the student's initial weights), read from fit's batch callback. */
    async function firstLoss(objective: Objective): Promise<{ loss: number; terms: Readonly<Record<string, number>> }> {
      const { student, dispose } = modeStudent(8);
      let first: { loss: number; terms: Readonly<Record<string, number>> } | undefined;
      await fit(student, data, objective, {
        epochs: 1,
        batchSize: 32,
        seed: 4,
        onBatchEnd: (b) => {
          first ??= { loss: b.loss, terms: b.terms };
        }
      });
      dispose();
      if (first === undefined) throw new Error('no batch');
      return first;
    }

    it.each([
      ['ard', (r?: 'classMean'): Objective => ard({ ...ATTACK, teacher, temperature: 4, ...(r === undefined ? {} : { klReduction: r }) })],
      ['rslad', (r?: 'classMean'): Objective => rslad({ ...ATTACK, teacher, ...(r === undefined ? {} : { klReduction: r }) })],
      ['adaad', (r?: 'classMean'): Objective => adaad({ ...ATTACK, teacher, ...(r === undefined ? {} : { klReduction: r }) })],
      ['mtard', (r?: 'classMean'): Objective => mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher, ...(r === undefined ? {} : { klReduction: r }) })]
    ])('%s divides its KL terms (and the reported ones) by C', async (_name, make) => {
      const base = await firstLoss(make());
      const divided = await firstLoss(make('classMean'));
      expectRelClose(divided.loss, base.loss / K, 1e-5);
      for (const [term, value] of Object.entries(base.terms)) {
        if (term === 'natWeight') expect(divided.terms[term]).toBe(value);
        else expectRelClose(divided.terms[term]!, value / K, 1e-5);
      }
    });

    it('ard with α < 1 leaves the cross-entropy undivided', async () => {
      const full = await firstLoss(ard({ ...ATTACK, teacher, temperature: 4, alpha: 0.25 }));
      const divided = await firstLoss(ard({ ...ATTACK, teacher, temperature: 4, alpha: 0.25, klReduction: 'classMean' }));
      const klOnly = await firstLoss(ard({ ...ATTACK, teacher, temperature: 4, alpha: 1 }));
      // total = 0.25·τ²·KL(/C) + 0.75·CE, so the CE part is what the α = 1 run lacks.
      const ce = (full.loss - 0.25 * klOnly.loss) / 0.75;
      expectRelClose(divided.loss, (0.25 * klOnly.loss) / K + 0.75 * ce, 1e-5);
      expect(Math.abs(ce)).toBeGreaterThan(1e-3);
    });
  });

  describe('etaSchedule', () => {
    /** MTARD's weights after a run: the objective's state, returned by fit as objectiveValues. */
    async function mtardRun(options: { etaSchedule?: 'learningRate' | 'constant'; schedule?: Schedule; epochs?: number; batchSize?: number }): Promise<Readonly<Record<string, number>>> {
      const objective = mtard({
        ...ATTACK,
        cleanTeacher: teacher2,
        robustTeacher: teacher,
        eta: 0.2,
        ...(options.etaSchedule === undefined ? {} : { etaSchedule: options.etaSchedule })
      });
      const net = mlp(K, 2);
      const history = await fit(net, data, objective, {
        epochs: options.epochs ?? 1,
        batchSize: options.batchSize ?? 16,
        seed: 3,
        learningRate: 0.1,
        ...(options.schedule === undefined ? {} : { schedule: options.schedule })
      });
      net.dispose();
      return history.objectiveValues;
    }

    it("'learningRate' (the default) moves the weights half as far as 'constant' under a halved rate", async () => {
      // Two batches: the first records L_first (and leaves w at 0.5), the second moves w by η_batch·(w − r_nat/(r_nat + r_adv))
      // with identical students and losses in every run.
      const half: Schedule = (base) => base / 2;
      const constant = await mtardRun({ etaSchedule: 'constant', schedule: half });
      const following = await mtardRun({ etaSchedule: 'learningRate', schedule: half });
      const byDefault = await mtardRun({ schedule: half });
      expect(Math.abs(constant.natWeight! - 0.5)).toBeGreaterThan(1e-4);
      expect(following.natInitial).toBe(constant.natInitial);
      expect(following.advInitial).toBe(constant.advInitial);
      expectRelClose(following.natWeight! - 0.5, 0.5 * (constant.natWeight! - 0.5), 1e-9);
      expectRelClose(following.advWeight!, 1 - following.natWeight!, 1e-12);
      expect(byDefault).toEqual(following);
      // Without a schedule the factor is 1: both give the same weights.
      const plain = await mtardRun({});
      const plainConstant = await mtardRun({ etaSchedule: 'constant' });
      expect(plain).toEqual(plainConstant);
    });

    it("follows the authors' rule under multiStep (gamma 0.1): η × 0.1 after the milestone", async () => {
      // One batch per epoch: epoch 1 records L_first, epoch 2 (after the milestone) is the first move.
      const schedule = multiStep({ milestones: [1] });
      const constant = await mtardRun({ etaSchedule: 'constant', schedule, epochs: 2, batchSize: 32 });
      const following = await mtardRun({ schedule, epochs: 2, batchSize: 32 });
      expect(Math.abs(constant.natWeight! - 0.5)).toBeGreaterThan(1e-4);
      expectRelClose(following.natWeight! - 0.5, 0.1 * (constant.natWeight! - 0.5), 1e-9);
    });

    it('reads the rate from the context given to update; a zero rate records L_first and moves nothing', () => {
      const objective = mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher, eta: 0.2 });
      const { student, dispose } = modeStudent(1);
      const start = objective.init();
      expect(start).toEqual({ values: { natWeight: 0.5, advWeight: 0.5 }, tensors: {} });
      const first = objective.update(start, { klNat: 2, klAdv: 4 }, contextFor(student, 1, 0, 0.1));
      expect(first.values).toEqual({ natWeight: 0.5, advWeight: 0.5, natInitial: 2, advInitial: 4 });
      // update is pure: the state it was given is unchanged.
      expect(start.values).toEqual({ natWeight: 0.5, advWeight: 0.5 });
      const second = objective.update(first, { klNat: 1.5, klAdv: 1 }, contextFor(student, 1, 0.025, 0.1));
      const rNat = 1.5 / 2;
      const rAdv = 1 / 4;
      expectRelClose(second.values.natWeight!, 0.5 - 0.2 * 0.25 * (0.5 - rNat / (rNat + rAdv)), 1e-12);
      dispose();
    });

    it('leaks nothing', async () => {
      const net = mlp(K, 2);
      const objective = mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher, etaSchedule: 'learningRate', klReduction: 'classMean' });
      const before = tf.memory().numTensors;
      await fit(net, data, objective, { epochs: 2, batchSize: 16, seed: 3, schedule: multiStep({ milestones: [1] }) });
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });
  });

  describe('bad values', () => {
    it('name the function, the argument and the value, before any tensor is made', () => {
      const cases: Array<[() => unknown, RegExp]> = [
        [() => ard({ ...ATTACK, teacher, attackMode: 'train' as never }), /^ard: attackMode must be one of "inference", "training" \(got "train"\)/],
        [() => iad({ ...ATTACK, teacher, attackMode: true as never }), /^iad: attackMode must be one of "inference", "training" \(got true\)/],
        [() => ard({ ...ATTACK, teacher, klReduction: 'mean' as never }), /^ard: klReduction must be one of "batchmean", "classMean" \(got "mean"\)/],
        [() => rslad({ ...ATTACK, teacher, klReduction: 'sum' as never }), /^rslad: klReduction must be one of "batchmean", "classMean" \(got "sum"\)/],
        [() => adaad({ ...ATTACK, teacher, klReduction: 'none' as never }), /^adaad: klReduction must be one of "batchmean", "classMean" \(got "none"\)/],
        [
          () => mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher, klReduction: 'elementMean' as never }),
          /^mtard: klReduction must be one of "batchmean", "classMean" \(got "elementMean"\)/
        ],
        [
          () => mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher, etaSchedule: 'cosine' as never }),
          /^mtard: etaSchedule must be one of "learningRate", "constant" \(got "cosine"\)/
        ],
        [() => rslad({ ...ATTACK, teacher, attackMode: 'training' } as never), /^rslad: options must only have the keys .* \(got "attackMode"\)/]
      ];
      for (const [make, message] of cases) {
        const before = tf.memory().numTensors;
        expect(make).toThrow(RangeError);
        expect(make).toThrow(message);
        expect(tf.memory().numTensors).toBe(before);
      }
    });
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../src/attacks/index.js';
import { evaluate } from '../../src/eval/index.js';
import {
  adaad,
  ard,
  arrest,
  cosine,
  crdnd,
  darht,
  featuresOf,
  fit,
  iad,
  linearWarmup,
  loadLatestCheckpoint,
  ltd,
  mart,
  mtard,
  multiStep,
  natural,
  pgdAt,
  rslad,
  saveCheckpoint,
  trades,
  type Objective,
  type Student
} from '../../src/train/index.js';
import { studentFromLayers } from '../../src/models/index.js';
import { batches as dataBatches } from '../../src/data/index.js';
import type { Model } from '../../src/core/index.js';
import { useBackend } from '../helpers.js';
import { blobs, darhtStudent, featuresName, mlp, trainedTeacher, weightsOf } from './fixtures.js';

const K = 3;
const ATTACK = { eps: 0.1, steps: 3, stepSize: 0.05 };

describe('fit', () => {
  let data: { x: tf.Tensor2D; y: tf.Tensor1D };
  let teacher: Model;
  let teacher2: Model;
  let standardStudent: Student;
  const disposeLater: Array<{ dispose(): void }> = [];
  let tmp: string;

  beforeAll(async () => {
    await useBackend('cpu');
    data = blobs(96, K, 1);
    const t1 = await trainedTeacher(data, K, 11);
    const t2 = await trainedTeacher(data, K, 12, 24);
    teacher = t1.model;
    teacher2 = t2.model;
    standardStudent = studentFromLayers(t1.net, { featuresLayer: featuresName(t1.net) });
    disposeLater.push(t1.net, t2.net);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-fit-'));
  });
  afterAll(() => {
    tf.dispose([data.x, data.y]);
    disposeLater.forEach((d) => { d.dispose(); });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Every objective, with the student it needs. */
  const objectives: Array<[string, () => { objective: Objective; student: () => Student | ReturnType<typeof mlp> }]> = [
    ['natural', () => ({ objective: natural(), student: () => mlp(K, 2) })],
    ['pgdAt', () => ({ objective: pgdAt(ATTACK), student: () => mlp(K, 2) })],
    ['trades', () => ({ objective: trades({ ...ATTACK, beta: 1 }), student: () => mlp(K, 2) })],
    ['mart', () => ({ objective: mart(ATTACK), student: () => mlp(K, 2) })],
    ['ard', () => ({ objective: ard({ ...ATTACK, teacher, temperature: 4, alpha: 0.9 }), student: () => mlp(K, 2) })],
    ['rslad', () => ({ objective: rslad({ ...ATTACK, teacher }), student: () => mlp(K, 2) })],
    ['iad', () => ({ objective: iad({ ...ATTACK, teacher, introspectionFrom: 0.5 }), student: () => mlp(K, 2) })],
    ['adaad', () => ({ objective: adaad({ ...ATTACK, teacher }), student: () => mlp(K, 2) })],
    ['mtard', () => ({ objective: mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher }), student: () => mlp(K, 2) })],
    ['ltd (pgdAt)', () => ({ objective: ltd({ ...ATTACK, teacher, teacherTemperature: 1, studentTemperature: 2 }), student: () => mlp(K, 2) })],
    ['ltd (trades)', () => ({ objective: ltd({ ...ATTACK, teacher, base: 'trades', beta: 1, studentTemperature: 2 }), student: () => mlp(K, 2) })],
    [
      'arrest',
      () => ({
        objective: arrest({ ...ATTACK, standardFeatures: featuresOf(standardStudent), gamma: 0.05 }),
        student: () => {
          const net = mlp(K, 2);
          return studentFromLayers(net, { featuresLayer: featuresName(net) });
        }
      })
    ],
    ['crdnd (confidence)', () => ({ objective: crdnd({ ...ATTACK, teacher, temperature: 0.5 }), student: () => mlp(K, 2) })],
    ['crdnd (learned)', () => ({ objective: crdnd({ ...ATTACK, teacher, compensation: 'learned', temperature: 0.5 }), student: () => mlp(K, 2) })],
    [
      'crdnd (features, projected)',
      () => ({
        objective: crdnd({ ...ATTACK, teacher, embeddings: 'features', teacherFeatures: (x) => tf.tidy(() => tf.concat([featuresOf(standardStudent)(x), featuresOf(standardStudent)(x)], 1)), seed: 3 }),
        student: () => {
          const net = mlp(K, 2);
          return studentFromLayers(net, { featuresLayer: featuresName(net) });
        }
      })
    ],
    [
      'darht',
      () => ({
        // One phase (CE + KD) throughout, so the losses of the first and last epochs are comparable.
        objective: darht({ ...ATTACK, teachers: [teacher, teacher2], ceOnlyUntil: 0, jointUntil: 1 }),
        student: () => darhtStudent(K, 2, 5).student
      })
    ]
  ];

  it.each(objectives)('%s reduces its own loss on a small fixed problem within a few steps', async (_name, make) => {
    const { objective, student } = make();
    const net = student();
    const losses: number[] = [];
    const history = await fit(net, data, objective, {
      epochs: 12,
      batchSize: 96,
      seed: 4,
      learningRate: 0.1,
      onBatchEnd: (b) => {
        losses.push(b.loss);
      }
    });
    expect(history.epochs).toHaveLength(12);
    expect(losses.every(Number.isFinite)).toBe(true);
    // With one batch per epoch, every update sees the same examples: the objective's loss must fall.
    const firstThree = (losses[0]! + losses[1]! + losses[2]!) / 3;
    const lastThree = (losses[9]! + losses[10]! + losses[11]!) / 3;
    expect(lastThree).toBeLessThan(firstThree);
    if ('dispose' in net && typeof net.dispose === 'function') net.dispose();
  });

  it('darht switches phases (CE, CE + KD, KD) and skips batches whose CE exceeds the threshold', async () => {
    const { net, student } = darhtStudent(K, 2, 6);
    const seen: Array<{ epoch: number; loss: number; ce: number; kd: number }> = [];
    await fit(student, data, darht({ ...ATTACK, teachers: [teacher, teacher2], ceOnlyUntil: 0.25, jointUntil: 0.5 }), {
      epochs: 4,
      batchSize: 96,
      seed: 2,
      onBatchEnd: (b) => {
        seen.push({ epoch: b.epoch, loss: b.loss, ce: b.terms.ce!, kd: b.terms.kd! });
      }
    });
    const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
    expect(close(seen[0]!.loss, seen[0]!.ce)).toBe(true);
    expect(close(seen[1]!.loss, seen[1]!.ce + seen[1]!.kd)).toBe(true);
    expect(close(seen[2]!.loss, seen[2]!.kd)).toBe(true);
    expect(close(seen[3]!.loss, seen[3]!.kd)).toBe(true);
    const skipping = await fit(student, data, darht({ ...ATTACK, teachers: [teacher, teacher2], skipAbove: 1e-6 }), { epochs: 1, batchSize: 32 });
    expect(skipping.epochs[0]?.skipped).toBe(3);
    net.dispose();
  });

  it('pgdAt on a 2-class toy problem reaches a higher PGD accuracy than clean training', async () => {
    const toy = blobs(128, 2, 9, 0.35);
    const attack = { eps: 0.15, steps: 5, stepSize: 0.06 };
    const clean = mlp(2, 21);
    const robust = mlp(2, 21);
    await fit(clean, toy, natural(), { epochs: 30, batchSize: 32, seed: 1, learningRate: 0.1 });
    await fit(robust, toy, pgdAt(attack), { epochs: 30, batchSize: 32, seed: 1, learningRate: 0.1 });
    const attacks = { pgd: (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { ...attack, steps: 10, seed: 2 }) };
    const asModel = (net: typeof clean): Model => (x) => net.apply(x) as tf.Tensor2D;
    const rClean = await evaluate(asModel(clean), toy.x, toy.y, { attacks });
    const rRobust = await evaluate(asModel(robust), toy.x, toy.y, { attacks });
    expect(rRobust.attacks.pgd).toBeGreaterThan(rClean.attacks.pgd + 0.1);
    tf.dispose([toy.x, toy.y]);
    clean.dispose();
    robust.dispose();
  });

  it('a run interrupted after epoch 2 and resumed ends with the same weights as an uninterrupted run', async () => {
    for (const [name, makeObjective] of [
      ['pgdAt', () => pgdAt(ATTACK)],
      ['mtard', () => mtard({ ...ATTACK, cleanTeacher: teacher2, robustTeacher: teacher })],
      ['crdnd learned', () => crdnd({ ...ATTACK, teacher, compensation: 'learned' })]
    ] as const) {
      const options = { batchSize: 32, seed: 7, learningRate: 0.05 };
      const whole = mlp(K, 30);
      const objWhole = makeObjective();
      await fit(whole, data, objWhole, { ...options, epochs: 3 });
      const dir = path.join(tmp, `resume-${name.replace(/\W/g, '')}`);
      const first = mlp(K, 30);
      const objFirst = makeObjective();
      await fit(first, data, objFirst, { ...options, epochs: 2, checkpoint: { dir } });
      // A fresh process: new model (same initialisation), new objective, resume from the folder.
      const second = mlp(K, 30);
      const objSecond = makeObjective();
      const history = await fit(second, data, objSecond, { ...options, epochs: 3, checkpoint: { dir }, resume: true });
      expect(history.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
      expect(weightsOf(second.weights.map((w) => w.read()))).toEqual(weightsOf(whole.weights.map((w) => w.read())));
      for (const n of [whole, first, second]) n.dispose();
    }
  });

  it('writes checkpoints atomically: a crash while saving leaves the latest one readable', async () => {
    const dir = path.join(tmp, 'atomic');
    const w = tf.tensor1d([1, 2, 3]);
    await saveCheckpoint(dir, { epoch: 1, randomState: 5, weights: [w], optimizer: [], objectiveValues: { a: 1 }, objectiveTensors: {}, extra: null });
    const w2 = tf.tensor1d([4, 5, 6]);
    await expect(
      saveCheckpoint(
        dir,
        { epoch: 2, randomState: 6, weights: [w2], optimizer: [], objectiveValues: {}, objectiveTensors: {}, extra: null },
        {
          hooks: {
            beforeCommit: () => {
              throw new Error('crash');
            }
          }
        }
      )
    ).rejects.toThrow(/crash/);
    // A crash that killed the process would leave its temporary folder behind; simulate that too.
    fs.mkdirSync(path.join(dir, '.tmp-epoch-0003-1-1'));
    fs.writeFileSync(path.join(dir, '.tmp-epoch-0003-1-1', 'tensors.bin'), 'partial');
    const latest = await loadLatestCheckpoint(dir);
    expect(latest?.epoch).toBe(1);
    expect(Array.from(latest!.weights[0]!.dataSync())).toEqual([1, 2, 3]);
    expect(latest?.objectiveValues).toEqual({ a: 1 });
    tf.dispose([w, w2, ...(latest?.weights ?? [])]);
  });

  it("keeps a given optimizer's learning rate unless told otherwise, and leaks nothing while checkpointing", async () => {
    const net = mlp(K, 80);
    const seen: number[] = [];
    const opt = tf.train.adam(0.003);
    await fit(net, data, natural(), { epochs: 1, optimizer: opt, onBatchEnd: (b) => { seen.push(b.learningRate); } });
    expect(new Set(seen)).toEqual(new Set([0.003]));
    seen.length = 0;
    await fit(net, data, natural(), { epochs: 1, optimizer: opt, learningRate: 0.02, onBatchEnd: (b) => { seen.push(b.learningRate); } });
    expect(new Set(seen)).toEqual(new Set([0.02]));
    const dir = path.join(tmp, 'no-leak');
    const counts: number[] = [];
    await fit(net, data, natural(), { epochs: 3, checkpoint: { dir }, onEpochEnd: () => { counts.push(tf.memory().numTensors); } });
    expect(new Set(counts.slice(1)).size).toBe(1);
    opt.dispose();
    net.dispose();
  });

  it('keeps the tensor count constant from epoch to epoch', async () => {
    const counts: number[] = [];
    const net = mlp(K, 40);
    const before = tf.memory().numTensors;
    await fit(net, data, rslad({ ...ATTACK, teacher }), {
      epochs: 4,
      batchSize: 32,
      seed: 1,
      onEpochEnd: () => {
        counts.push(tf.memory().numTensors);
      }
    });
    // Epoch 1 creates the optimizer's momentum variables; after that nothing may accumulate.
    expect(new Set(counts.slice(1)).size).toBe(1);
    net.dispose();
    // And once fit returns, its own optimizer is gone too: only the model's weights were added... and removed.
    expect(tf.memory().numTensors).toBe(before - net.weights.length);
  });

  it('stops on a non-finite loss naming the epoch, the batch and the term — unless the objective skips the batch', async () => {
    const nan = (skip: boolean): Objective => ({
      name: 'broken',
      prepare: () => ({}),
      loss: (_p, x, _y, ctx) => {
        const z = ctx.student.forward(x, true).logits;
        const bad = tf.mul<tf.Scalar>(tf.sum(z), NaN);
        const ok = tf.mean<tf.Scalar>(z);
        return { total: tf.add<tf.Scalar>(ok, bad), terms: { fine: ok, exploded: bad } };
      },
      ...(skip ? { skip: () => true } : {})
    });
    const net = mlp(K, 50);
    const before = tf.memory().numTensors;
    await expect(fit(net, data, nan(false), { epochs: 2, batchSize: 32 })).rejects.toThrow(
      /^fit: the loss became non-finite at epoch 1, batch 1 \(term "total" = NaN\)|^fit: the loss became non-finite at epoch 1, batch 1 \(term "exploded" = NaN\)/
    );
    expect(tf.memory().numTensors).toBe(before);
    const history = await fit(net, data, nan(true), { epochs: 1, batchSize: 32 });
    expect(history.epochs[0]?.skipped).toBe(3);
    net.dispose();
  });

  it('accepts async iterables and tf.data-style datasets, and validates with evaluate', async () => {
    const net = mlp(K, 60);
    async function* batches(): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
      for (let i = 0; i < 3; i++) {
        await Promise.resolve();
        yield { x: tf.slice(data.x, i * 32, 32), y: tf.slice(data.y, i * 32, 32) };
      }
    }
    const iterable = { [Symbol.asyncIterator]: batches };
    const h1 = await fit(net, iterable, natural(), { epochs: 2, validation: { x: data.x, y: data.y } });
    expect(h1.epochs[1]?.batches).toBe(3);
    expect(h1.epochs[1]?.validation?.clean).toBeGreaterThan(0);
    const dataset = { iterator: async () => Promise.resolve(batches()) };
    const h2 = await fit(net, dataset, natural(), { epochs: 1 });
    expect(h2.epochs[0]?.batches).toBe(3);
    // ardkit/data's batches(): shuffled, one epoch per pass; fit disposes each batch after its step.
    const before = tf.memory().numTensors;
    const h3 = await fit(net, dataBatches(data.x, data.y, { batchSize: 40, shuffle: true, seed: 1 }), natural(), { epochs: 2 });
    expect(h3.epochs.map((e) => e.batches)).toEqual([3, 3]);
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });

  it('rejects bad inputs clearly, leaking nothing', async () => {
    const net = mlp(K, 70);
    const short = tf.tensor1d([0, 1], 'int32');
    const big = tf.tensor1d(Array.from({ length: 96 }, (_, i) => (i === 5 ? 7 : 0)), 'int32');
    const fourClass: Model = (x) => tf.tidy(() => tf.concat([teacher(x), tf.zeros([x.shape[0] ?? 1, 1])], 1));
    const wrongHead = darhtStudent(K, 3, 8);
    const before = tf.memory().numTensors;
    await expect(fit(net, { x: data.x, y: short }, natural())).rejects.toThrow(/^fit: data.x and data.y must hold the same number of examples/);
    await expect(fit(net, { x: data.x, y: big }, natural())).rejects.toThrow(/^fit: data.y must hold class indices < 3 \(the number of classes\) \(got "7 at index \d+"\)/);
    await expect(fit(net, data, ard({ ...ATTACK, teacher: fourClass }))).rejects.toThrow(/^ard: teacher must have the student's number of classes \(3\) \(got 4\)/);
    await expect(fit(wrongHead.student, data, darht({ ...ATTACK, teachers: [teacher, teacher2] }))).rejects.toThrow(
      /^darht: student must have a feature map of width M·C = 6 for 2 teachers of 3 classes \(got a float32 tensor of shape \[1, 9\]\)/
    );
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    await expect(fit(net, data, natural(), { checkpoint: { dir: path.join(file, 'sub') } })).rejects.toThrow(/^fit: checkpoint.dir must be a writable folder/);
    await expect(fit(net, data, natural(), { epochs: 0 })).rejects.toThrow(/^fit: epochs must be an integer >= 1 \(got 0\)/);
    await expect(fit(net, data, natural(), { resume: true })).rejects.toThrow(/^fit: resume must come with checkpoint.dir/);
    await expect(fit(net, data, { name: 'x' } as never)).rejects.toThrow(/^fit: objective must be a training objective/);
    await expect(fit({} as never, data, natural())).rejects.toThrow(/^fit: student must be a Student/);
    expect(() => pgdAt({} as never)).toThrow(/^pgdAt: eps must be given/);
    expect(() => rslad({ eps: 0.1 } as never)).toThrow(/^rslad: teacher must be a model/);
    expect(() => darht({ eps: 0.1, teachers: [] })).toThrow(/^darht: teachers must hold at least one teacher/);
    // No CIFAR default radius: ε is the threat model's, and the step follows it.
    expect(() => darht({ teachers: [teacher] } as never)).toThrow(/^darht: eps must be given/);
    expect(() => trades({ eps: 0.1, gamma: 1 } as never)).toThrow(/^trades: options must only have the keys/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([short, big]);
    wrongHead.net.dispose();
    net.dispose();
  });
});

describe('schedules', () => {
  const at = (epoch: number, batch = 0): { epoch: number; batch: number; batchesPerEpoch: number; epochs: number } => ({ epoch, batch, batchesPerEpoch: 10, epochs: 20 });
  it('multiStep multiplies by gamma at each milestone', () => {
    const s = multiStep({ milestones: [5, 10], gamma: 0.5 });
    expect([0, 4, 5, 9, 10, 19].map((e) => s(0.2, at(e)))).toEqual([0.2, 0.2, 0.1, 0.1, 0.05, 0.05]);
    expect(() => multiStep({ milestones: [5, 3] })).toThrow(/^multiStep: milestones must be increasing/);
  });
  it('cosine goes from the base rate to min along a half cosine', () => {
    const s = cosine({ min: 0.01 });
    expect(s(0.1, at(0))).toBeCloseTo(0.1, 12);
    expect(s(0.1, at(10))).toBeCloseTo(0.01 + 0.09 * 0.5, 12);
    expect(s(0.1, at(19, 9))).toBeLessThan(0.0102);
  });
  it('linearWarmup ramps up per batch, then follows the schedule', () => {
    const s = linearWarmup({ epochs: 2, then: multiStep({ milestones: [10] }) });
    expect(s(1, at(0, 0))).toBe(0);
    expect(s(1, at(1, 0))).toBeCloseTo(0.5, 12);
    expect(s(1, at(3))).toBe(1);
    expect(s(1, at(12))).toBeCloseTo(0.1, 12);
    expect(() => linearWarmup({ epochs: 0 })).toThrow(/^linearWarmup: epochs must be a finite number > 0 \(got 0\)/);
  });
});

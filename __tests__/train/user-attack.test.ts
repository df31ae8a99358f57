import { named } from '../../src/core/errors.js';
/**
 * Every adversarial objective trains with a user-supplied attack (`attack: Attack`): APGD for all of them here, a
 * wrapped attack value that counts its calls. The objective calls it once per batch, against the model it attacks,
 * with a fresh seed from fit's seeded source; the batch it prepares is the attack's output; runs repeat; and a
 * mismatched threat model, settings of the method's own attack, or a wrong output are clear errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../src/core/random.js';
import { apgdAttack, pgdAttack, type AttackFunction } from '../../src/attacks/index.js';
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
  fit,
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

/** An APGD attack value wrapped to record its calls' seeds and outputs. */
function spy(): { attack: AttackFunction; seeds: Array<number | undefined>; outputs: number[][] } {
  const inner = apgdAttack({ eps: EPS, steps: 5 });
  const seeds: Array<number | undefined> = [];
  const outputs: number[][] = [];
  const attack: AttackFunction = (model, x, y, call) => {
    seeds.push(call?.seed);
    const out = inner(model, x, y, call);
    outputs.push(Array.from(out.dataSync()));
    return out;
  };
  return { attack, seeds, outputs };
}

describe('every adversarial objective trains with a user-supplied attack', () => {
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

  const cases: Array<[string, (attack: AttackFunction) => { objective: Objective; student: () => Student; key: string }]> = [
    ['pgdAt', (attack) => ({ objective: pgdAt({ eps: EPS, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['trades', (attack) => ({ objective: trades({ eps: EPS, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['mart', (attack) => ({ objective: mart({ eps: EPS, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['ard', (attack) => ({ objective: ard({ eps: EPS, teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['rslad', (attack) => ({ objective: rslad({ eps: EPS, teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['iad', (attack) => ({ objective: iad({ eps: EPS, teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['adaad', (attack) => ({ objective: adaad({ eps: EPS, teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['mtard', (attack) => ({ objective: mtard({ eps: EPS, cleanTeacher: teacher2, robustTeacher: teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['ltd (pgdAt)', (attack) => ({ objective: ltd({ eps: EPS, teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['ltd (trades)', (attack) => ({ objective: ltd({ eps: EPS, teacher, base: 'trades', attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['crdnd', (attack) => ({ objective: crdnd({ eps: EPS, teacher, attack }), student: () => linearStudent(1).student, key: 'xAdv' })],
    ['arrest', (attack) => ({ objective: arrest({ eps: EPS, standardFeatures: featuresOf(standard), attack }), student: () => standard, key: 'xTrain' })],
    ['darht', (attack) => ({ objective: darht({ eps: EPS, teachers: [teacher, teacher2], adversarialProbability: 1, attack }), student: () => darhtStudent(K, 2, 5).student, key: 'xt' })]
  ];

  it.each(cases)('%s: one call per batch with a fresh seed; the prepared batch is its output; fit trains', async (_name, make) => {
    const s = spy();
    const { objective, student: makeStudent, key } = make(s.attack);
    const student = named('test', () => asStudent(makeStudent()));
    const data = blobs(24, K, 3);
    const sample = tf.slice(data.x, 0, 1);
    tf.tidy(() => objective.check?.(student, K, sample));
    const ctx: BatchContext = {
      epoch: 0, epochs: 1, batch: 0, progress: 0, batchesPerEpoch: 1, rng: createRandom(5), student, studentModel: studentModel(student), learningRate: 0.01, baseLearningRate: 0.01
    };
    const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx, NO_STATE)) as Record<string, tf.Tensor | tf.Tensor[]>;
    // DARHT flips its coin first, then draws the attack's seed.
    const expected = createRandom(5);
    if (key === 'xt') expected.next();
    expect(s.seeds).toEqual([expected.nextSeed()]);
    // ARREST starts from the standard model, so every example is adversarial and xTrain is the attack's output.
    expect(Array.from((prepared[key] as tf.Tensor).dataSync())).toEqual(s.outputs[0]);
    tf.dispose(Object.values(prepared).flat().filter((t) => t !== data.x && t !== data.y));

    const again = spy();
    const fresh = make(again.attack);
    const history = await fit(fresh.student(), data, fresh.objective, { epochs: 1, batchSize: 8, seed: 1 });
    expect(again.seeds).toHaveLength(3);
    expect(new Set(again.seeds).size).toBe(3);
    expect(Number.isFinite(history.epochs[0]!.loss)).toBe(true);
    tf.dispose([sample, data.x, data.y]);
  });

  it('the same seed gives the same run with a user attack (pgdAt with APGD)', async () => {
    const data = blobs(24, K, 4);
    const run = async (): Promise<number[][]> => {
      const { net } = linearStudent(9);
      await fit(net, data, pgdAt({ eps: EPS, attack: apgdAttack({ eps: EPS, steps: 5 }) }), { epochs: 2, batchSize: 8, seed: 3 });
      const w = net.getWeights().map((t) => Array.from(t.dataSync()));
      net.dispose();
      return w;
    };
    expect(await run()).toEqual(await run());
    tf.dispose([data.x, data.y]);
  });

  it('rejects a mismatched threat model, settings of the own attack, a non-function and a wrong output', async () => {
    expect(() => pgdAt({ eps: EPS, attack: pgdAttack({ eps: 0.2 }) })).toThrow(/^pgdAt: attack must have the objective's eps 0.1 \(got "pgdAttack with eps 0.2"\)$/);
    expect(() => trades({ eps: EPS, attack: pgdAttack({ eps: EPS, norm: 'l2' }) })).toThrow(/^trades: attack must have the objective's norm linf \(got "pgdAttack with norm l2"\)$/);
    expect(() => ard({ eps: EPS, teacher, bounds: [-1, 1], attack: pgdAttack({ eps: EPS }) })).toThrow(/^ard: attack must have the objective's bounds \[-1, 1\] \(got "pgdAttack with bounds \[0, 1\]"\)$/);
    expect(() => mart({ eps: EPS, steps: 3, attack: pgdAttack({ eps: EPS }) })).toThrow(/^mart: steps must be left out when an attack is given \(configure the attack itself\) \(got 3\)$/);
    expect(() => pgdAt({ eps: EPS, attack: 5 as unknown as AttackFunction })).toThrow(TypeError);
    expect(() => pgdAt({ eps: EPS, attack: 5 as unknown as AttackFunction })).toThrow(/^pgdAt: attack must be a function \(got 5\)$/);
    const data = blobs(16, K, 5);
    const { net } = linearStudent(10);
    const before = tf.memory().numTensors;
    const wrong: AttackFunction = (_m, x) => tf.slice(x, 0, 1);
    await expect(fit(net, data, pgdAt({ eps: EPS, attack: wrong }), { epochs: 1, batchSize: 8 })).rejects.toThrow(/^pgdAt: attack must return adversarial inputs of the batch's shape \[8, 12\]/);
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
    tf.dispose([data.x, data.y]);
  });
});

/**
 * One parse of the options, at the public boundary: an attack value checks its options when it is made and never
 * again when called, and an objective resolves its attack's options when it is made and never again inside `fit`'s
 * loop. Shown two ways: options wrapped in a Proxy that counts every read (property reads, key listings, `in` tests),
 * which must all happen at creation; and a spy on `resolvePerturbation`, the options parser of every gradient attack,
 * which must not run again once the value or objective exists (an objective copies its settings when made, so only the
 * spy sees a parse of that copy per batch: the parse that training used to repeat in every batch).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as perturbationOptions from '../../src/attacks/options.js';
import {
  apgdAttack,
  apgdTargetedAttack,
  cwLinfAttack,
  fgsmAttack,
  pgd,
  pgdAttack,
  squareAttack,
  tradesKlAttack,
  type Attack
} from '../../src/attacks/index.js';
import { adaad, ard, arrest, crdnd, darht, featuresOf, fit, iad, ltd, mart, mtard, pgdAt, rslad, trades, type Objective } from '../../src/train/index.js';
import { toyProblem, useBackend } from '../helpers.js';
import { blobs, darhtStudent, linearStudent, linearTeachers } from './fixtures.js';

/** `options` behind a Proxy that counts every read of it: property reads, key listings, `in` tests, descriptors. */
function counted<T extends object>(options: T): { options: T; reads: () => number } {
  let n = 0;
  const proxy = new Proxy(options, {
    get: (target, key, receiver) => {
      n++;
      return Reflect.get(target, key, receiver) as unknown;
    },
    has: (target, key) => {
      n++;
      return Reflect.has(target, key);
    },
    ownKeys: (target) => {
      n++;
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor: (target, key) => {
      n++;
      return Reflect.getOwnPropertyDescriptor(target, key);
    }
  });
  return { options: proxy, reads: () => n };
}

const CALLS = 4;
const EPS = 0.1;

beforeAll(async () => {
  await useBackend('cpu');
});

describe('attack values read their options only when made', () => {
  let p: ReturnType<typeof toyProblem>;
  beforeAll(() => {
    p = toyProblem(8, 4, 3);
  });
  afterAll(() => {
    p.dispose();
  });

  const factories: Array<[string, (o: never) => Attack, object]> = [
    ['pgdAttack', pgdAttack, { eps: EPS, steps: 2, seed: 1 }],
    ['cwLinfAttack', cwLinfAttack, { eps: EPS, steps: 2, kappa: 1 }],
    ['fgsmAttack', fgsmAttack, { eps: EPS }],
    ['tradesKlAttack', tradesKlAttack, { eps: EPS, steps: 2 }],
    ['apgdAttack', apgdAttack, { eps: EPS, steps: 3, loss: 'dlr' }],
    ['apgdTargetedAttack', apgdTargetedAttack, { eps: EPS, steps: 3, targetClasses: 2 }],
    ['squareAttack', squareAttack, { eps: EPS, queries: 5 }]
  ];

  it.each(factories)('%s: no read of its options in its calls', (_name, factory, raw) => {
    const { options, reads } = counted(raw);
    const attack = factory(options as never);
    const atCreation = reads();
    expect(atCreation).toBeGreaterThan(0);
    for (let i = 0; i < CALLS; i++) tf.dispose(attack(p.model, p.x, p.y, { seed: i }));
    expect(reads()).toBe(atCreation);
  });
});

type Kind = 'linear' | 'standard' | 'darht';
type Fixtures = ReturnType<typeof linearTeachers>;
const SETTINGS = { eps: EPS, steps: 2 };

/** Every adversarial objective with its method's own attack: its full options (built from the fixtures) and its student. */
const objectives: Array<[string, (o: never) => Objective, (fx: Fixtures) => object, Kind]> = [
  ['pgdAt', pgdAt, () => ({ ...SETTINGS }), 'linear'],
  ['trades', trades, () => ({ ...SETTINGS }), 'linear'],
  ['mart', mart, () => ({ ...SETTINGS }), 'linear'],
  ['ard', ard, (fx) => ({ ...SETTINGS, teacher: fx.teacher }), 'linear'],
  ['ard (training mode)', ard, (fx) => ({ ...SETTINGS, teacher: fx.teacher, attackMode: 'training' }), 'linear'],
  ['rslad', rslad, (fx) => ({ ...SETTINGS, teacher: fx.teacher }), 'linear'],
  ['iad', iad, (fx) => ({ ...SETTINGS, teacher: fx.teacher }), 'linear'],
  ['adaad', adaad, (fx) => ({ ...SETTINGS, teacher: fx.teacher }), 'linear'],
  ['mtard', mtard, (fx) => ({ ...SETTINGS, cleanTeacher: fx.teacher2, robustTeacher: fx.teacher }), 'linear'],
  ['ltd (pgdAt)', ltd, (fx) => ({ ...SETTINGS, teacher: fx.teacher }), 'linear'],
  ['ltd (trades)', ltd, (fx) => ({ ...SETTINGS, teacher: fx.teacher, base: 'trades' }), 'linear'],
  ['crdnd', crdnd, (fx) => ({ ...SETTINGS, teacher: fx.teacher, seed: 2 }), 'linear'],
  ['arrest', arrest, (fx) => ({ ...SETTINGS, standardFeatures: featuresOf(fx.standard) }), 'standard'],
  ['darht', darht, (fx) => ({ ...SETTINGS, teachers: [fx.teacher, fx.teacher2], adversarialProbability: 1 }), 'darht'],
  ['pgdAt with a pgdAttack', pgdAt, () => ({ eps: EPS, attack: pgdAttack({ ...SETTINGS }) }), 'linear']
];

/** Trains a fresh student of the given kind with `objective`: 24 examples in batches of 8 for 2 epochs, 6 batches. */
async function train(objective: Objective, kind: Kind): Promise<void> {
  const data = blobs(24, 3, 1);
  const s = kind === 'darht' ? darhtStudent(3, 2, 5) : kind === 'standard' ? linearStudent(23) : linearStudent(1);
  try {
    await fit(s.student, data, objective, { epochs: 2, batchSize: 8, seed: 3 });
  } finally {
    s.net.dispose();
    tf.dispose([data.x, data.y]);
  }
}

describe('objectives read their options only when made', () => {
  let fx: Fixtures;
  beforeAll(() => {
    fx = linearTeachers();
  });
  afterAll(() => {
    fx.dispose();
  });

  it.each(objectives)('%s: no read of its options during fit', async (_name, make, raw, kind) => {
    const { options, reads } = counted(raw(fx));
    const objective = make(options as never);
    const atCreation = reads();
    expect(atCreation).toBeGreaterThan(0);
    await train(objective, kind);
    expect(reads()).toBe(atCreation);
  });

  it("pgdAt with a pgdAttack: the attack value's options are not read during fit either", async () => {
    const inner = counted({ ...SETTINGS });
    const objective = pgdAt({ eps: EPS, attack: pgdAttack(inner.options) });
    const atCreation = inner.reads();
    await train(objective, 'linear');
    expect(inner.reads()).toBe(atCreation);
  });
});

describe('resolvePerturbation, the parser of every gradient attack, runs when an attack value or objective is made', () => {
  let p: ReturnType<typeof toyProblem>;
  let fx: Fixtures;
  let spy: jest.SpyInstance;
  beforeAll(() => {
    p = toyProblem(8, 4, 3);
    fx = linearTeachers();
  });
  beforeEach(() => {
    spy = jest.spyOn(perturbationOptions, 'resolvePerturbation');
  });
  afterEach(() => {
    spy.mockRestore();
  });
  afterAll(() => {
    p.dispose();
    fx.dispose();
  });

  it('the function form parses per call (the spy sees the calls)', () => {
    for (let i = 0; i < CALLS; i++) tf.dispose(pgd(p.model, p.x, p.y, { eps: EPS, steps: 2, seed: i }));
    expect(spy).toHaveBeenCalledTimes(CALLS);
  });

  it.each([
    ['pgdAttack', (): Attack => pgdAttack({ ...SETTINGS })],
    ['cwLinfAttack', (): Attack => cwLinfAttack({ ...SETTINGS })],
    ['fgsmAttack', (): Attack => fgsmAttack({ eps: EPS })],
    ['tradesKlAttack', (): Attack => tradesKlAttack({ ...SETTINGS })]
  ])('%s: once when made, never in its calls', (_name, make) => {
    const attack = make();
    expect(spy).toHaveBeenCalledTimes(1);
    for (let i = 0; i < CALLS; i++) tf.dispose(attack(p.model, p.x, p.y, { seed: i }));
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it.each(objectives)('%s: parsed when made, never in fit over 6 batches', async (_name, make, raw, kind) => {
    const objective = make(raw(fx) as never);
    const atCreation = spy.mock.calls.length;
    expect(atCreation).toBeGreaterThan(0);
    await train(objective, kind);
    expect(spy).toHaveBeenCalledTimes(atCreation);
  });
});

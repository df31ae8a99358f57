/**
 * Property-based tests (fast-check) across the public API: random shapes, dtypes, batch sizes (0 included) and
 * option values, valid and not. Every call either returns a result that satisfies the function's invariants, or
 * throws a RangeError/TypeError whose message starts with the name of the function called; it never leaks a tensor
 * either way. Seeded: a failure prints the seed and the shrunk counterexample, and reruns identically.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { apgd, apgdTargeted, cwLinf, fgsm, pgd, square, tradesAttack } from '../../src/attacks/index.js';
import { ardLoss, crossEntropy, cwMarginLoss, dlrLoss, kdLoss, klDivergence, martLoss, representationDistance, rsladLoss, tradesLoss } from '../../src/losses/index.js';
import { evaluate } from '../../src/eval/index.js';
import type { Model } from '../../src/core/index.js';
import { useBackend } from '../helpers.js';

const SEED = 20261201;
const RUNS = 250;
/** Classes of the models (APGD-T needs at least 4). */
const C = 4;

/** What every generated call is built from. */
interface Case {
  readonly b: number;
  readonly d: number;
  readonly xDtype: 'float32' | 'int32';
  readonly xScale: number;
  readonly labels: number[];
  readonly yDtype: 'int32' | 'float32';
  readonly options: Record<string, unknown> | null | undefined;
}

const eps = fc.oneof(
  { arbitrary: fc.double({ min: 0, max: 0.5, noNaN: true }), weight: 6 },
  { arbitrary: fc.constantFrom(-0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.1', undefined), weight: 1 }
);
const steps = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 3 }), weight: 6 }, { arbitrary: fc.constantFrom(0, -1, 1.5, Number.NaN, '2'), weight: 1 });
/** `usual` seven times in eight, `unusual` otherwise. */
const rare = <T>(usual: T, unusual: T): fc.Arbitrary<T> => fc.oneof({ arbitrary: fc.constant(usual), weight: 7 }, { arbitrary: fc.constant(unusual), weight: 1 });
/** One options object in twelve gets an unknown key. */
const withTypo = ({ typo, ...o }: Record<string, unknown>): Record<string, unknown> => (typo === 0 ? { ...o, bogus: 1 } : o);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });

/** Every attack option the generator knows, mostly valid values, sometimes invalid ones. */
const ATTACK_FIELDS = {
  eps,
  steps: maybe(steps),
  norm: maybe(fc.constantFrom('linf', 'l2', 'linf', 'l2', 'linf', 'l2', 'l1')),
  seed: maybe(fc.oneof({ arbitrary: fc.integer(), weight: 6 }, { arbitrary: fc.constant(Number.NaN), weight: 1 })),
  randomStart: maybe(fc.constantFrom('uniform', 'normal', 'none', 'uniform', 'normal', 'none', 'gauss')),
  stepSize: maybe(fc.oneof({ arbitrary: fc.double({ min: 0, max: 0.2, noNaN: true }), weight: 6 }, { arbitrary: fc.constant(-1), weight: 1 })),
  queries: maybe(fc.constantFrom(1, 3, 0)),
  typo: fc.integer({ min: 0, max: 11 })
};
type AttackField = keyof typeof ATTACK_FIELDS;

/** Options of an attack that takes `keys`; sometimes an unknown key, sometimes no object at all. */
const attackOptions = (keys: readonly AttackField[]): fc.Arbitrary<Record<string, unknown> | null | undefined> =>
  fc.oneof(
    {
      arbitrary: fc
        .record(Object.fromEntries(keys.map((k) => [k, ATTACK_FIELDS[k]])) as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: ['eps', 'typo'] as never })
        .map(withTypo),
      weight: 10
    },
    { arbitrary: fc.constantFrom(null, undefined), weight: 1 }
  );
const PGD_FIELDS: readonly AttackField[] = ['eps', 'steps', 'norm', 'seed', 'randomStart', 'stepSize', 'typo'];

const caseArb = (options: fc.Arbitrary<Record<string, unknown> | null | undefined>): fc.Arbitrary<Case> =>
  fc
    .record({
      b: fc.integer({ min: 0, max: 5 }),
      d: fc.constantFrom(2, 4),
      // Each kind of bad input about one case in eight.
      xDtype: rare<'float32' | 'int32'>('float32', 'int32'),
      xScale: rare(1, 2),
      yDtype: rare<'int32' | 'float32'>('int32', 'float32'),
      labelShift: fc.oneof({ arbitrary: fc.constant(0), weight: 14 }, { arbitrary: fc.constantFrom(1, -1), weight: 2 }),
      labelSeed: fc.integer({ min: 0, max: 1000 }),
      options
    })
    .map(({ labelShift, labelSeed, ...c }) => ({
      ...c,
      // One label in C (out of range) or a wrong length, now and then.
      labels: Array.from({ length: Math.max(0, c.b + labelShift) }, (_, i) => (labelSeed + i) % (labelSeed % 9 === 0 ? C + 1 : C))
    }));

/** A fixed linear model from d inputs to C logits. */
function linear(d: number): { model: Model; dispose: () => void } {
  const w = tf.tensor2d(Array.from({ length: d * C }, (_, i) => Math.sin(i + 1)), [d, C]);
  const model: Model = (x) => tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0] ?? 0, d]), w));
  return { model, dispose: () => { w.dispose(); } };
}

function tensors(c: Case): { x: tf.Tensor; y: tf.Tensor1D } {
  const values = Array.from({ length: c.b * c.d }, (_, i) => ((i * 0.37) % 1) * c.xScale);
  const x = tf.tensor2d(values, [c.b, c.d], c.xDtype);
  const y = tf.tensor1d(c.labels, c.yDtype);
  return { x, y };
}

/** Outcomes of the current property: results and clear errors. */
const tally = { ok: 0, errors: 0 };

/** What an error of `fn` says about the property: undefined for a clear RangeError/TypeError naming `fn` (counted). */
function judge(fn: string | readonly string[], error: unknown): Error | undefined {
  if (error instanceof Error && error.name === 'JestAssertionError') throw error;
  const names = typeof fn === 'string' ? [fn] : fn;
  if (!(error instanceof RangeError || error instanceof TypeError)) return new Error(`${names[0] ?? ''} threw ${String(error)}`, { cause: error });
  if (!names.some((n) => error.message.startsWith(`${n}: `))) return new Error(`${names[0] ?? ''}'s error names another function: ${error.message}`, { cause: error });
  tally.errors += 1;
  return undefined;
}

/**
 * Runs `call` on the case and checks: a result satisfying `check`, or a RangeError/TypeError naming `fn`; no leak.
 */
function property(
  fn: string | readonly string[],
  call: (m: Model, x: tf.Tensor, y: tf.Tensor1D, o: unknown) => tf.TensorContainer,
  check: (r: tf.TensorContainer, x: tf.Tensor, c: Case) => void
): (c: Case) => void {
  return (c) => {
    const { model, dispose } = linear(c.d);
    const { x, y } = tensors(c);
    const before = tf.memory().numTensors;
    let failure: Error | undefined;
    try {
      const result = call(model, x, y, c.options);
      check(result, x, c);
      tf.dispose(result);
      tally.ok += 1;
    } catch (error) {
      failure = judge(fn, error);
    }
    const leaked = tf.memory().numTensors - before;
    tf.dispose([x, y]);
    dispose();
    if (failure !== undefined) throw failure;
    if (leaked !== 0) throw new Error(`${String(fn)} leaked ${String(leaked)} tensors`);
  };
}

/**
 * {@link property} for an asynchronous function: its promise resolves to a result satisfying `check`, or rejects with
 * a RangeError/TypeError naming `fn` (it never throws at the call); no leak.
 */
function asyncProperty(
  fn: string | readonly string[],
  call: (m: Model, x: tf.Tensor, y: tf.Tensor1D, o: unknown) => Promise<tf.TensorContainer>,
  check: (r: tf.TensorContainer, x: tf.Tensor, c: Case) => void
): (c: Case) => Promise<void> {
  return async (c) => {
    const { model, dispose } = linear(c.d);
    const { x, y } = tensors(c);
    const before = tf.memory().numTensors;
    let failure: Error | undefined;
    let promise: Promise<tf.TensorContainer> | undefined;
    try {
      promise = call(model, x, y, c.options);
    } catch (error) {
      failure = new Error(`${String(fn)} threw at the call instead of rejecting: ${String(error)}`, { cause: error });
    }
    if (promise !== undefined) {
      try {
        const result = await promise;
        check(result, x, c);
        tf.dispose(result);
        tally.ok += 1;
      } catch (error) {
        failure = judge(fn, error);
      }
    }
    const leaked = tf.memory().numTensors - before;
    tf.dispose([x, y]);
    dispose();
    if (failure !== undefined) throw failure;
    if (leaked !== 0) throw new Error(`${String(fn)} leaked ${String(leaked)} tensors`);
  };
}

/** ‖x′ − x‖ ≤ ε (in the norm of the options) and x′ inside [0, 1]: the attacks' invariants. */
function withinEps(r: tf.TensorContainer, x: tf.Tensor, c: Case): void {
  const xAdv = r as tf.Tensor;
  expect(xAdv.shape).toEqual(x.shape);
  if (c.b === 0) return;
  const o = c.options as { eps: number; norm?: string };
  const [dist, lo, hi] = tf.tidy(() => {
    const d = tf.sub(xAdv, tf.cast(x, 'float32'));
    const per = o.norm === 'l2' ? tf.sqrt(tf.sum(tf.square(d), 1)) : tf.max(tf.abs(d), 1);
    return [tf.max(per).dataSync()[0] ?? NaN, tf.min(xAdv).dataSync()[0] ?? NaN, tf.max(xAdv).dataSync()[0] ?? NaN];
  });
  expect(dist).toBeLessThanOrEqual(o.eps * (1 + 1e-5) + 1e-6);
  expect(lo).toBeGreaterThanOrEqual(0);
  expect(hi).toBeLessThanOrEqual(1);
}

beforeAll(async () => {
  await useBackend('cpu');
});

const run = (p: (c: Case) => void, opts: fc.Arbitrary<Record<string, unknown> | null | undefined>, runs = RUNS): void => {
  tally.ok = 0;
  tally.errors = 0;
  fc.assert(fc.property(caseArb(opts), p), { seed: SEED, numRuns: runs });
  // Both sides are exercised: a good share of the calls return results whose invariants were checked.
  expect(tally.ok).toBeGreaterThanOrEqual(runs / 6);
  expect(tally.errors).toBeGreaterThanOrEqual(runs / 20);
};

/** {@link run} for an {@link asyncProperty}. */
const runAsync = async (p: (c: Case) => Promise<void>, opts: fc.Arbitrary<Record<string, unknown> | null | undefined>, runs = RUNS): Promise<void> => {
  tally.ok = 0;
  tally.errors = 0;
  await fc.assert(fc.asyncProperty(caseArb(opts), p), { seed: SEED, numRuns: runs });
  expect(tally.ok).toBeGreaterThanOrEqual(runs / 6);
  expect(tally.errors).toBeGreaterThanOrEqual(runs / 20);
};

describe('attacks: a valid result or a clear error naming the attack, never a leak', () => {
  it('fgsm', () => {
    run(property('fgsm', (m, x, y, o) => fgsm(m, x, y, o as never), withinEps), attackOptions(['eps', 'typo']));
  });
  it('pgd', () => {
    run(property('pgd', (m, x, y, o) => pgd(m, x, y, o as never), withinEps), attackOptions(PGD_FIELDS));
  });
  it('cwLinf', () => {
    run(property('cwLinf', (m, x, y, o) => cwLinf(m, x, y, o as never), withinEps), attackOptions(PGD_FIELDS));
  });
  it('tradesAttack', () => {
    run(property('tradesAttack', (m, x, y, o) => tradesAttack(m, x, y, o as never), withinEps), attackOptions(PGD_FIELDS));
  });
  it('apgd', () => {
    run(property('apgd', (m, x, y, o) => apgd(m, x, y, o as never), withinEps), attackOptions(['eps', 'steps', 'norm', 'seed', 'typo']));
  });
  it('apgdTargeted', () => {
    run(
      property('apgdTargeted', (m, x, y, o) => apgdTargeted(m, x, y, o === null || o === undefined ? (o as never) : ({ ...o, targetClasses: 2 } as never)), withinEps),
      attackOptions(['eps', 'steps', 'norm', 'seed', 'typo'])
    );
  });
  it('square', () => {
    run(
      property('square', (m, x, y, o) => square(m, x, y, o as never), withinEps),
      attackOptions(['eps', 'queries', 'seed', 'typo']),
      // Square's per-query work makes each call slower: fewer runs.
      100
    );
  });
});

const lossOptions = fc.oneof(
  {
    arbitrary: fc.record({
      reduction: maybe(fc.constantFrom('mean', 'sum', 'none', 'avg')),
      temperature: maybe(fc.oneof(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.constantFrom(0, -1, Number.NaN))),
      typo: fc.integer({ min: 0, max: 11 })
    }).map(withTypo),
    weight: 10
  },
  { arbitrary: fc.constantFrom(null, undefined), weight: 1 }
);

/** A finite scalar, or a finite [B] vector with reduction 'none'. */
function finiteLoss(r: tf.TensorContainer, _x: tf.Tensor, c: Case): void {
  const t = r as tf.Tensor;
  const o = (c.options ?? {}) as { reduction?: string };
  expect(t.shape).toEqual(o.reduction === 'none' ? [c.b] : []);
  if (c.b > 0) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
}

describe('losses: a finite loss of the right shape, or a clear error naming the loss, never a leak', () => {
  const logits = (m: Model, x: tf.Tensor): tf.Tensor2D => m(tf.cast(x, 'float32'));
  const noTemp = (o: unknown): unknown => {
    if (o === null || o === undefined) return o;
    const rest: Record<string, unknown> = { ...(o as Record<string, unknown>) };
    delete rest.temperature;
    return rest;
  };
  const cases: Array<[string, (m: Model, x: tf.Tensor, y: tf.Tensor1D, o: unknown) => tf.Tensor]> = [
    ['crossEntropy', (m, x, y, o) => crossEntropy(logits(m, x), y, noTemp(o) as never)],
    ['cwMarginLoss', (m, x, y, o) => cwMarginLoss(logits(m, x), y, noTemp(o) as never)],
    ['dlrLoss', (m, x, y, o) => dlrLoss(logits(m, x), y, noTemp(o) as never)],
    ['klDivergence', (m, x, _y, o) => klDivergence(logits(m, x), tf.reverse(logits(m, x), 1), noTemp(o) as never)],
    ['kdLoss', (m, x, _y, o) => kdLoss(logits(m, x), tf.reverse(logits(m, x), 1), o === null || o === undefined ? (o as never) : ({ ...(noTemp(o) as object), studentTemperature: (o as { temperature?: number }).temperature } as never))],
    ['tradesLoss', (m, x, y, o) => tradesLoss({ clean: logits(m, x), adv: tf.reverse(logits(m, x), 1), labels: y }, noTemp(o) as never)],
    ['martLoss', (m, x, y, o) => martLoss({ clean: logits(m, x), adv: tf.reverse(logits(m, x), 1), labels: y }, noTemp(o) as never)],
    ['ardLoss', (m, x, _y, o) => ardLoss({ studentAdv: logits(m, x), teacherClean: tf.reverse(logits(m, x), 1) }, o as never)],
    ['rsladLoss', (m, x, _y, o) => rsladLoss({ studentAdv: logits(m, x), studentClean: logits(m, x), teacherClean: tf.reverse(logits(m, x), 1) }, noTemp(o) as never)],
    ['representationDistance', (m, x, _y, o) => representationDistance(logits(m, x), tf.reverse(logits(m, x), 1), noTemp(o) as never)]
  ];
  it.each(cases)('%s', (name, call) => {
    // The logits are made inside the call, so they count against its leak check: wrap it in a tidy that keeps the result.
    run(
      property(name, (m, x, y, o) => {
        let out: tf.Tensor | undefined;
        tf.tidy(() => {
          out = tf.keep(call(m, x, y, o));
        });
        if (out === undefined) throw new Error('no result');
        return out;
      }, finiteLoss),
      lossOptions
    );
  });
});

describe('evaluate: accuracies in [0, 1] with robust ≤ clean, or a clear error, never a leak', () => {
  it('evaluate', async () => {
    await runAsync(
      asyncProperty(
        // An error of the attack the user passed names that attack.
        ['evaluate', 'pgd'],
        // No async wrapper: an error thrown at the call (not through the promise) is caught as such.
        (m, x, y, o) =>
          evaluate(m, x, y, o === null || o === undefined ? (o as never) : { attacks: { pgd: (mm, xx, yy) => pgd(mm, xx, yy, o as never) }, batchSize: 2 }).then((r) => {
            expect(r.n).toBe(x.shape[0]);
            expect(r.clean).toBeGreaterThanOrEqual(0);
            expect(r.clean).toBeLessThanOrEqual(1);
            expect(r.worstCase).toBeLessThanOrEqual(r.clean);
            return [];
          }),
        () => undefined
      ),
      attackOptions(PGD_FIELDS)
    );
  });
});

import { named } from '../../src/core/errors.js';
/**
 * Target selection (`target: 'random' | 'leastLikely' | function`) of pgd, fgsm and miFgsm: the targets picked from
 * the clean logits, computed independently here; the attack then equals the targeted attack on those targets; seeded
 * runs repeat; bad options and bad function outputs are errors naming the function called; nothing leaks; no readback
 * beyond the input checks, and none synchronous on the device path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cwLinf, cwLinfAttack, fgsm, fgsmAttack, pgd, pgdAttack } from '../../src/attacks/index.js';
import { miFgsm } from '../../src/attacks/mi-fgsm.js';
import { selectTargets, type TargetSelection } from '../../src/attacks/targets.js';
import { deferChecksForTesting, flushChecks, pendingChecks } from '../../src/core/device-checks.js';
import type { Model } from '../../src/core/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { accuracy, expectNoLeak, expectThrowsNoLeak, randomLogits, toyProblem, useBackend, withoutSyncReads, type ToyProblem } from '../helpers.js';

const EPS = 0.2;
let p: ToyProblem;

beforeAll(async () => {
  await useBackend('cpu');
  p = toyProblem();
});
afterAll(() => { p.dispose(); });
afterEach(async () => {
  await flushChecks().catch(() => undefined);
  deferChecksForTesting(undefined);
});

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

/** The clean logits of the toy model as plain rows. */
function cleanLogits(): number[][] {
  return tf.tidy(() => p.model(p.x).arraySync());
}

describe('selectTargets', () => {
  it("'random': never the label, inside [0, C), uniform over the other classes, and seeded", () => {
    const b = 6000;
    const c = 4;
    const z = tf.tensor2d(randomLogits(b, c, 3, 1));
    const labels = tf.tensor1d(Array.from({ length: b }, (_, i) => i % c), 'int32');
    const t = named('test', () => selectTargets('random', z, labels, 7));
    const again = named('test', () => selectTargets('random', z, labels, 7));
    const other = named('test', () => selectTargets('random', z, labels, 8));
    expect(t.dtype).toBe('int32');
    const ts = values(t);
    const counts = Array.from({ length: c }, () => Array.from({ length: c }, () => 0));
    ts.forEach((v, i) => {
      expect(v).not.toBe(i % c);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(c);
      const row = counts[i % c];
      if (row !== undefined) row[v] = (row[v] ?? 0) + 1;
    });
    // Each label's 1500 points spread evenly over the 3 other classes (sd of a share ≈ 0.012).
    counts.forEach((row, label) => {
      row.forEach((n, k) => {
        if (k !== label) expect(Math.abs(n / (b / c) - 1 / 3)).toBeLessThan(0.05);
      });
    });
    expect(values(again)).toEqual(ts);
    expect(values(other)).not.toEqual(ts);
    tf.dispose([z, labels, t, again, other]);
  });

  it("'leastLikely': the argmin of the clean logits", () => {
    const rows = randomLogits(50, 7, 5, 2);
    const z = tf.tensor2d(rows);
    const labels = tf.zeros<tf.Rank.R1>([50], 'int32');
    const t = named('test', () => selectTargets('leastLikely', z, labels, undefined));
    expect(values(t)).toEqual(rows.map((r) => r.indexOf(Math.min(...r))));
    tf.dispose([z, labels, t]);
  });

  it('a function: called with the clean logits and the labels; its output is copied, not disposed', () => {
    const z = tf.tensor2d(randomLogits(3, 4, 1, 3));
    const labels = tf.tensor1d([0, 1, 2], 'int32');
    const kept = tf.tensor1d([3, 3, 0], 'int32');
    let seen: number[][] = [];
    const t = named('test', () => selectTargets((logits, ys) => {
      seen = [values(logits), values(ys)];
      return kept;
    }, z, labels, undefined));
    expect(seen).toEqual([values(z), [0, 1, 2]]);
    expect(values(t)).toEqual([3, 3, 0]);
    t.dispose();
    expect(kept.isDisposed).toBe(false);
    tf.dispose([z, labels, kept]);
  });
});

describe('attacks with target', () => {
  /** The targeted attack on explicit targets, and the same attack with `target`. */
  const forms: Array<[string, (y: tf.Tensor1D, o: { target?: TargetSelection; targeted?: boolean; seed?: number }) => tf.Tensor]> = [
    ['pgd', (y, o) => pgd(p.model, p.x, y, { eps: EPS, steps: 5, ...o })],
    ['fgsm', (y, o) => fgsm(p.model, p.x, y, { eps: EPS, ...o })],
    ['miFgsm', (y, o) => miFgsm(p.model, p.x, y, { eps: EPS, steps: 5, ...o })],
    ['cwLinf', (y, o) => cwLinf(p.model, p.x, y, { eps: EPS, steps: 5, ...o })],
    ['cwLinfAttack', (y, o) => cwLinfAttack({ eps: EPS, steps: 5, ...o })(p.model, p.x, y)]
  ];

  describe.each(forms)('%s', (name, run) => {
    it.each(['random', 'leastLikely'] as const)("target '%s' equals the targeted attack toward the targets picked by hand", (selection) => {
      const seed = 11;
      const picked = tf.tidy(() => named('test', () => selectTargets(selection, p.model(p.x), p.y, seed)));
      if (selection === 'leastLikely') expect(values(picked)).toEqual(cleanLogits().map((r) => r.indexOf(Math.min(...r))));
      const got = run(p.y, { target: selection, seed });
      const want = run(picked, { targeted: true, seed });
      expect(values(got)).toEqual(values(want));
      tf.dispose([picked, got, want]);
    });

    it('a target function gets the clean logits and the true labels, and the attack moves toward its targets', () => {
      const next = (z: tf.Tensor2D, y: tf.Tensor1D): tf.Tensor1D => tf.tidy(() => tf.cast(tf.mod(tf.add(y, 1), z.shape[1]), 'int32') as tf.Tensor1D);
      const targets = tf.tidy(() => next(p.model(p.x), p.y));
      const got = run(p.y, { target: next, seed: 1 });
      const want = run(targets, { targeted: true, seed: 1 });
      expect(values(got)).toEqual(values(want));
      expect(accuracy(p.model, got, targets)).toBeGreaterThan(accuracy(p.model, p.x, targets));
      tf.dispose([targets, got, want]);
    });

    it('seeded runs are identical', () => {
      const a = run(p.y, { target: 'random', seed: 5 });
      const b = run(p.y, { target: 'random', seed: 5 });
      expect(values(a)).toEqual(values(b));
      tf.dispose([a, b]);
    });

    it('target with targeted is an error, as is an unknown selection', () => {
      expectThrowsNoLeak(() => run(p.y, { target: 'random', targeted: true }), new RegExp(`^${name}: targeted must be left out when target is given \\(target makes the attack targeted, with y the true labels\\) \\(got true\\)$`));
      expectThrowsNoLeak(() => run(p.y, { target: 'random', targeted: false }), new RegExp(`^${name}: targeted must be left out when target is given .* \\(got false\\)$`));
      expectThrowsNoLeak(() => run(p.y, { target: 'mostLikely' as never }), new RegExp(`^${name}: target must be "random", "leastLikely" or a function \\(logits, labels\\) => \\[B\\] int32 target classes \\(got "mostLikely"\\)$`));
    });

    it('a target function returning anything but [B] int32 classes in [0, C) is an error naming the function, and leaks nothing', () => {
      const b = p.x.shape[0];
      expectThrowsNoLeak(() => run(p.y, { target: (() => [1, 2]) as never }), new RegExp(`^${name}: target must return a tf.Tensor of \\[${b}\\] int32 target classes \\(got \\[1, 2\\]\\)$`), TypeError);
      expectThrowsNoLeak(() => run(p.y, { target: (_z, y) => tf.cast<tf.Tensor1D>(y, 'float32') }), new RegExp(`^${name}: target must return int32 target classes \\(got a float32 tensor of shape \\[${b}\\]\\)$`), TypeError);
      expectThrowsNoLeak(() => run(p.y, { target: (_z, y) => tf.slice(y, 0, 2) }), new RegExp(`^${name}: target must return target classes of shape \\[${b}\\] \\(got an int32 tensor of shape \\[2\\]\\)$`));
      expectThrowsNoLeak(() => run(p.y, { target: (_z, y) => tf.add<tf.Tensor1D>(y, tf.scalar(4, 'int32')) }), new RegExp(`^${name}: target must hold class indices < 4 \\(the number of classes\\) \\(got "4 at index 0"\\)$`));
      expectThrowsNoLeak(() => run(p.y, { target: (_z, y) => tf.sub<tf.Tensor1D>(y, tf.scalar(1, 'int32')) }), new RegExp(`^${name}: target must hold class indices >= 0 \\(got "-1 at index 0"\\)$`));
      expectThrowsNoLeak(() => run(p.y, { target: () => { throw new Error('no targets'); } }), /^no targets$/, Error);
    });

    it('leaks no tensor', () => {
      for (const target of ['random', 'leastLikely', (_z: tf.Tensor2D, y: tf.Tensor1D): tf.Tensor1D => tf.reverse(y)] as const) {
        expectNoLeak(() => run(p.y, { target, seed: 2 }));
      }
    });
  });

  it('the attack values pick the targets per call: a call\'s seed overrides the factory\'s', () => {
    for (const [make, form] of [
      [() => pgdAttack({ eps: EPS, steps: 3, target: 'random', seed: 1 }), (seed: number) => pgd(p.model, p.x, p.y, { eps: EPS, steps: 3, target: 'random', seed })],
      [() => fgsmAttack({ eps: EPS, target: 'random', seed: 1 }), (seed: number) => fgsm(p.model, p.x, p.y, { eps: EPS, target: 'random', seed })]
    ] as const) {
      const a = make();
      const [own, call] = [a(p.model, p.x, p.y), a(p.model, p.x, p.y, { seed: 9 })];
      const [want1, want9] = [form(1), form(9)];
      expect(values(own)).toEqual(values(want1));
      expect(values(call)).toEqual(values(want9));
      tf.dispose([own, call, want1, want9]);
    }
    expect(() => pgdAttack({ eps: EPS, target: 'random', targeted: true })).toThrow(/^pgdAttack: targeted must be left out when target is given/);
  });

  it('no readback beyond the input checks for the built-in selections; one for a function\'s targets (cpu)', async () => {
    const fresh = (f: (x: tf.Tensor, y: tf.Tensor1D) => tf.Tensor) => (): tf.Tensor => {
      const x = tf.clone(p.x);
      const y = tf.clone(p.y);
      try {
        return f(x, y);
      } finally {
        tf.dispose([x, y]);
      }
    };
    const plain = await readbacks(fresh((x, y) => pgd(p.model, x, y, { eps: EPS, steps: 2 })));
    const random = await readbacks(fresh((x, y) => pgd(p.model, x, y, { eps: EPS, steps: 2, target: 'random' })));
    const manySteps = await readbacks(fresh((x, y) => pgd(p.model, x, y, { eps: EPS, steps: 20, target: 'leastLikely' })));
    const fn = await readbacks(fresh((x, y) => pgd(p.model, x, y, { eps: EPS, steps: 2, target: (_z, ys) => tf.reverse(ys) })));
    expect(random).toBe(plain);
    expect(manySteps).toBe(plain);
    expect(fn).toBe(plain + 1);
  });

  it('on the device path: no synchronous readback; a bad function output is reported by flushChecks, naming the attack', async () => {
    deferChecksForTesting(true);
    const before = tf.memory().numTensors;
    const outs = withoutSyncReads(() => [
      pgd(p.model, p.x, p.y, { eps: EPS, steps: 2, target: 'random', seed: 1 }),
      miFgsm(p.model, p.x, p.y, { eps: EPS, steps: 2, target: 'leastLikely' }),
      fgsm(p.model, p.x, p.y, { eps: EPS, target: (_z, y) => tf.reverse(y) })
    ]);
    expect(pendingChecks()).toBeGreaterThan(0);
    await flushChecks();
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(before);
    const bad: Model = p.model;
    tf.dispose(withoutSyncReads(() => pgd(bad, p.x, p.y, { eps: EPS, steps: 1, target: (_z, y) => tf.add<tf.Tensor1D>(y, tf.scalar(4, 'int32')) })));
    await expect(flushChecks()).rejects.toThrow(/^pgd: target must hold class indices < 4 \(the number of classes\)/);
  });
});

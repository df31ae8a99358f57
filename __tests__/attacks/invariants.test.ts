/**
 * Every exported attack through the same invariants (torchattacks-style): ‖x' − x‖ ≤ ε in its norm,
 * x' inside bounds, accuracy does not rise, more steps reach at least the loss of fewer, seeded runs are
 * identical, targeted mode moves toward the target, no tensor leaks. On the cpu and the wasm backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cwLinf, fgsm, pgd, projectedGradientAscent, tradesAttack } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { crossEntropy, klDivergence } from '../../src/losses/index.js';
import { accuracy, expectNoLeak, maxDistance, toyProblem, useBackend, type ToyProblem } from '../helpers.js';

interface Case {
  readonly name: string;
  readonly norm: 'linf' | 'l2';
  readonly eps: number;
  /** Runs the attack with a given number of steps (ignored by one-step attacks) and seed. */
  readonly run: (model: Model, x: tf.Tensor, y: tf.Tensor1D, steps: number, seed: number) => tf.Tensor;
  readonly iterative: boolean;
  readonly stochastic: boolean;
}

const EPS = 0.2;
const cases: Case[] = [
  { name: 'fgsm', norm: 'linf', eps: EPS, iterative: false, stochastic: false, run: (m, x, y) => fgsm(m, x, y, { eps: EPS }) },
  {
    name: 'pgd linf',
    norm: 'linf',
    eps: EPS,
    iterative: true,
    stochastic: true,
    run: (m, x, y, steps, seed) => pgd(m, x, y, { eps: EPS, steps, stepSize: EPS / 4, seed })
  },
  {
    name: 'pgd l2',
    norm: 'l2',
    eps: 1.0,
    iterative: true,
    stochastic: true,
    run: (m, x, y, steps, seed) => pgd(m, x, y, { eps: 1.0, norm: 'l2', steps, stepSize: 0.25, seed })
  },
  {
    name: 'pgd cw-loss',
    norm: 'linf',
    eps: EPS,
    iterative: true,
    stochastic: true,
    run: (m, x, y, steps, seed) => pgd(m, x, y, { eps: EPS, steps, stepSize: EPS / 4, seed, loss: 'cw' })
  },
  {
    name: 'cwLinf',
    norm: 'linf',
    eps: EPS,
    iterative: true,
    stochastic: true,
    run: (m, x, y, steps, seed) => cwLinf(m, x, y, { eps: EPS, steps, stepSize: EPS / 4, seed, kappa: 5 })
  },
  {
    name: 'trades',
    norm: 'linf',
    eps: EPS,
    iterative: true,
    stochastic: true,
    run: (m, x, y, steps, seed) => tradesAttack(m, x, y, { eps: EPS, steps, stepSize: EPS / 4, seed })
  },
  {
    name: 'projectedGradientAscent (custom objective)',
    norm: 'l2',
    eps: 1.0,
    iterative: true,
    stochastic: true,
    run: (m, x, y, steps, seed) =>
      projectedGradientAscent((xa) => crossEntropy(m(xa), y, { reduction: 'none' }), x, { eps: 1.0, norm: 'l2', steps, stepSize: 0.25, seed })
  }
];

/** The loss each attack maximises, averaged over the batch, evaluated at x'. */
function attackLoss(c: Case, p: ToyProblem, xAdv: tf.Tensor): number {
  return tf.tidy(() => {
    const z = p.model(xAdv);
    if (c.name === 'trades') return klDivergence(p.model(p.x), z).dataSync()[0] ?? NaN;
    if (c.name.includes('cw')) {
      const margin = tf.sub(tf.sum(tf.mul(tf.oneHot(p.y, p.numClasses), z), 1), tf.max(tf.sub(z, tf.mul(tf.oneHot(p.y, p.numClasses), 1e9)), 1));
      return tf.mean(tf.neg(tf.relu(tf.add(margin, c.name === 'cwLinf' ? 5 : 0)))).dataSync()[0] ?? NaN;
    }
    return crossEntropy(z, p.y).dataSync()[0] ?? NaN;
  });
}

describe.each(['cpu', 'wasm'] as const)('attack invariants (%s)', (backend) => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend(backend);
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it('the toy model has learnt the problem', () => {
    expect(accuracy(p.model, p.x, p.y)).toBeGreaterThan(0.9);
  });

  describe.each(cases)('$name', (c) => {
    it('stays inside the ε-ball and the bounds', () => {
      const xAdv = c.run(p.model, p.x, p.y, 10, 1);
      expect(xAdv.shape).toEqual(p.x.shape);
      expect(maxDistance(xAdv, p.x, c.norm)).toBeLessThanOrEqual(c.eps + 1e-6);
      expect(tf.min(xAdv).dataSync()[0]).toBeGreaterThanOrEqual(0);
      expect(tf.max(xAdv).dataSync()[0]).toBeLessThanOrEqual(1);
      xAdv.dispose();
    });

    it('does not raise accuracy, and lowers it on this problem', () => {
      const xAdv = c.run(p.model, p.x, p.y, 10, 1);
      const clean = accuracy(p.model, p.x, p.y);
      const adv = accuracy(p.model, xAdv, p.y);
      expect(adv).toBeLessThanOrEqual(clean);
      expect(adv).toBeLessThan(clean);
      xAdv.dispose();
    });

    if (c.iterative) {
      it('more steps reach at least the loss of fewer steps, on average', () => {
        const losses = [1, 3, 10, 30].map((steps) => {
          const xAdv = c.run(p.model, p.x, p.y, steps, 5);
          const l = attackLoss(c, p, xAdv);
          xAdv.dispose();
          return l;
        });
        for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeGreaterThanOrEqual((losses[i - 1] ?? 0) - 1e-6);
        // And the attack does move the loss.
        const clean = attackLoss(c, p, p.x);
        expect(losses[losses.length - 1]).toBeGreaterThan(clean);
      });
    }

    it('gives identical results for the same seed', () => {
      const a = c.run(p.model, p.x, p.y, 5, 42);
      const b = c.run(p.model, p.x, p.y, 5, 42);
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      if (c.stochastic) {
        const other = c.run(p.model, p.x, p.y, 5, 43);
        expect(Array.from(other.dataSync())).not.toEqual(Array.from(a.dataSync()));
        other.dispose();
      }
      tf.dispose([a, b]);
    });

    it('leaks no tensor', () => {
      expectNoLeak(() => c.run(p.model, p.x, p.y, 3, 1));
    });
  });

  it.each([
    ['fgsm', (m: Model, x: tf.Tensor, t: tf.Tensor1D): tf.Tensor => fgsm(m, x, t, { eps: EPS, targeted: true })],
    ['pgd linf', (m: Model, x: tf.Tensor, t: tf.Tensor1D): tf.Tensor => pgd(m, x, t, { eps: EPS, steps: 20, targeted: true, seed: 3 })],
    ['pgd l2', (m: Model, x: tf.Tensor, t: tf.Tensor1D): tf.Tensor => pgd(m, x, t, { eps: 1.5, norm: 'l2', steps: 20, targeted: true, seed: 3 })],
    ['cwLinf', (m: Model, x: tf.Tensor, t: tf.Tensor1D): tf.Tensor => cwLinf(m, x, t, { eps: EPS, steps: 20, targeted: true, seed: 3 })]
  ])('targeted %s moves predictions toward the target', (_name, attack) => {
    const target = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
    const xAdv = attack(p.model, p.x, target);
    const hitClean = accuracy(p.model, p.x, target);
    const hitAdv = accuracy(p.model, xAdv, target);
    expect(hitAdv).toBeGreaterThan(hitClean);
    const ceClean = tf.tidy(() => crossEntropy(p.model(p.x), target).dataSync()[0] ?? NaN);
    const ceAdv = tf.tidy(() => crossEntropy(p.model(xAdv), target).dataSync()[0] ?? NaN);
    expect(ceAdv).toBeLessThan(ceClean);
    tf.dispose([target, xAdv]);
  });

  it('works on inputs of any rank: [B, D] vectors and [B, H, W, C] images give the same result', () => {
    const flat = tf.reshape(p.x, [p.x.shape[0], 20]);
    const a = pgd(p.model, flat, p.y, { eps: EPS, seed: 9 });
    const b = pgd(p.model, p.x, p.y, { eps: EPS, seed: 9 });
    expect(b.shape).toEqual(p.x.shape);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([flat, a, b]);
  });
});

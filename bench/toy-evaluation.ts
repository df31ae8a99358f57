/**
 * The figures behind ardkit's robust-evaluation tests, on the tests' own toy problem (96 points, 4 classes,
 * a 20-16-4 MLP trained in the test helpers): clean, PGD, APGD-CE, APGD-DLR, APGD-T, Square and AutoAttack
 * accuracy, Square's queries, how often APGD-CE finds what PGD finds, and the sanity flags of a normal and two
 * gradient-masking variants of the model.
 *
 *   node --disable-warning=ExperimentalWarning --loader ts-node/esm bench/toy-evaluation.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, apgdTargeted, pgd, squareAttack } from '../src/attacks/index.js';
import type { Model } from '../src/core/index.js';
import { sanityChecks, autoAttack } from '../src/eval/index.js';
import { accuracy, toyProblem, useBackend } from '../__tests__/helpers.js';

const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
const seconds = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

function fooled(model: Model, x: tf.Tensor, y: tf.Tensor1D): number[] {
  return Array.from(tf.tidy(() => tf.cast(tf.notEqual(tf.argMax(model(x), 1), y), 'int32').dataSync()));
}

async function main(): Promise<void> {
  await useBackend('cpu');
  const p = toyProblem();
  console.log(`toy problem: ${String(p.x.shape[0])} points, ${String(p.numClasses)} classes, clean accuracy ${pct(accuracy(p.model, p.x, p.y))}\n`);
  for (const eps of [0.1, 0.15]) {
    const row = (name: string, xAdv: tf.Tensor, t0: number, extra = ''): void => {
      console.log(`  ${name.padEnd(30)} ${pct(accuracy(p.model, xAdv, p.y)).padStart(8)}   ${seconds(t0).padStart(7)}${extra}`);
      xAdv.dispose();
    };
    console.log(`L∞ ε = ${String(eps)}`);
    let t0 = performance.now();
    row('PGD-20 (α = 2.5ε/20)', pgd(p.model, p.x, p.y, { eps, steps: 20, seed: 0 }), t0);
    t0 = performance.now();
    row('PGD-100', pgd(p.model, p.x, p.y, { eps, steps: 100, seed: 0 }), t0);
    t0 = performance.now();
    row('APGD-CE (100 steps)', apgd(p.model, p.x, p.y, { eps, seed: 0 }), t0);
    t0 = performance.now();
    row('APGD-DLR (100 steps)', apgd(p.model, p.x, p.y, { eps, loss: 'dlr', seed: 0 }), t0);
    t0 = performance.now();
    row('APGD-T (100 steps, 3 targets)', apgdTargeted(p.model, p.x, p.y, { eps, seed: 0 }), t0);
    t0 = performance.now();
    const s = squareAttack({ eps, queries: 5000, seed: 0 }).detailed(p.model, p.x, p.y);
    const spent = Array.from((await s.queries?.data()) ?? []);
    const succeeded = (await s.success?.data()) ?? [];
    tf.dispose([s.queries, s.success].filter((t) => t !== undefined));
    const used = spent.filter((_, i) => succeeded[i] === 1).sort((a, b) => a - b);
    const median = used.length === 0 ? NaN : (used[Math.floor(used.length / 2)] ?? NaN);
    const mean = used.reduce((a, q) => a + q, 0) / Math.max(used.length, 1);
    row('Square (5000 queries)', s.xAdv, t0, `   successful points: ${String(used.length)}, queries mean ${mean.toFixed(1)}, median ${String(median)}, max ${String(Math.max(...spent))}`);
    t0 = performance.now();
    const aa = await autoAttack(p.model, p.x, p.y, { eps });
    console.log(
      `  ${'AutoAttack (standard)'.padEnd(30)} ${pct(aa.worstCase).padStart(8)}   ${seconds(t0).padStart(7)}   after each member: ${Object.entries(aa.attacks)
        .map(([k, v]) => `${k} ${pct(v)} (${(aa.seconds[k] ?? 0).toFixed(2)} s)`)
        .join(', ')}`
    );
    aa.xAdv.dispose();
    // Per point: of the points PGD fools, how many APGD-CE fools too (same steps, seeds 0–4).
    for (const steps of [20, 100]) {
      let pgdFooled = 0;
      let both = 0;
      for (let seed = 0; seed < 5; seed++) {
        const a = pgd(p.model, p.x, p.y, { eps, steps, seed });
        const b = apgd(p.model, p.x, p.y, { eps, steps, seed });
        const fb = fooled(p.model, b, p.y);
        fooled(p.model, a, p.y).forEach((v, i) => {
          pgdFooled += v;
          both += v * (fb[i] ?? 0);
        });
        tf.dispose([a, b]);
      }
      console.log(`  APGD-CE ⊇ PGD per point, ${String(steps)} steps, 5 seeds: ${String(both)} of ${String(pgdFooled)} (${pct(both / Math.max(pgdFooled, 1))})`);
    }
    console.log('');
  }
  const variants: Array<[string, Model]> = [
    ['normal', p.model],
    ['softmax outputs', (x) => tf.tidy(() => tf.softmax(p.model(x)))],
    ['logits through a step function', (x) => tf.tidy(() => tf.div<tf.Tensor2D>(tf.round(tf.mul(p.model(x), 4)), 4))]
  ];
  for (const [name, model] of variants) {
    const t0 = performance.now();
    const flags = await sanityChecks(model, p.x, p.y, { eps: 0.1 });
    console.log(`sanityChecks, ${name} (ε = 0.1, defaults, ${seconds(t0)}): ${flags.length === 0 ? 'no flag' : flags.map((f) => f.id).join(', ')}`);
  }
  p.dispose();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

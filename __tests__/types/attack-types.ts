/**
 * Compile-time checks of the attack and evaluation types, type-checked by `types.test.ts` (and by `tsc -p
 * tsconfig.json`): every attack function form and every `Attack` returns the input's tensor type, `evaluate`'s and
 * `worstCase`'s results are keyed by the attacks given, plain functions get their parameter types from the context,
 * and what must not compile does not (`@ts-expect-error`). Nothing here runs.
 */
/* eslint-disable @typescript-eslint/no-unnecessary-type-parameters, @typescript-eslint/no-unused-vars, @typescript-eslint/no-unsafe-assignment --
   a compile-only file: its values exist to be typed, its type helpers to be instantiated */
import type * as tf from '@tensorflow/tfjs-core';
import {
  apgd,
  apgdAttack,
  apgdTargeted,
  cwL2,
  cwLinf,
  deepFool,
  fab,
  fabTargeted,
  fgsm,
  miFgsm,
  multiAttack,
  pgd,
  pgdAttack,
  square,
  squareAttack,
  tradesAttack,
  type Attack,
  type AttackFunction
} from '../../src/attacks/index.js';
import { autoAttack, evaluate, worstCase } from '../../src/eval/index.js';
import type { Model } from '../../src/core/index.js';

/** True when A and B are the same type. */
type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
/** Compiles only when its argument is `true`. */
function assertType<T extends true>(): T | undefined {
  return undefined;
}

export async function attackTypes(model: Model, x: tf.Tensor4D, x2: tf.Tensor2D, y: tf.Tensor1D): Promise<unknown[]> {
  // The function forms keep the input's rank.
  assertType<Equal<ReturnType<typeof pgd<tf.Tensor4D>>, tf.Tensor4D>>();
  const a1: tf.Tensor4D = pgd(model, x, y, { eps: 0.3 });
  const a2: tf.Tensor4D = fgsm(model, x, y, { eps: 0.3 });
  const a3: tf.Tensor4D = apgd(model, x, y, { eps: 0.3 });
  const a4: tf.Tensor4D = apgdTargeted(model, x, y, { eps: 0.3 });
  const a5: tf.Tensor4D = cwLinf(model, x, y, { eps: 0.3 });
  const a6: tf.Tensor4D = cwL2(model, x, y);
  const a7: tf.Tensor4D = deepFool(model, x, y);
  const a8: tf.Tensor4D = fab(model, x, y, { eps: 0.3 });
  const a9: tf.Tensor4D = fabTargeted(model, x, y, { eps: 0.3 });
  const a10: tf.Tensor4D = miFgsm(model, x, y, { eps: 0.3 });
  const a11: tf.Tensor4D = square(model, x, y, { eps: 0.3 });
  const a12: tf.Tensor4D = tradesAttack(model, x, y, { eps: 0.3 });
  const a13: tf.Tensor2D = pgd(model, x2, y, { eps: 0.3 });
  // @ts-expect-error a Tensor4D input gives a Tensor4D, not a Tensor2D
  const wrongRank: tf.Tensor2D = pgd(model, x, y, { eps: 0.3 });

  // Attacks made by factories: the same, for the call and for the detail channel.
  const attack: Attack = pgdAttack({ eps: 0.3 });
  const b1: tf.Tensor4D = attack(model, x, y, { seed: 1 });
  const detail = squareAttack({ eps: 0.3 }).detailed(model, x, y);
  assertType<Equal<typeof detail.xAdv, tf.Tensor4D>>();
  assertType<Equal<typeof detail.queries, tf.Tensor1D | undefined>>();
  // Every Attack is an AttackFunction; a plain function is not an Attack (it is taken where attacks are, and wrapped).
  const asFunction: AttackFunction = apgdAttack({ eps: 0.3 });
  // @ts-expect-error a plain function lacks the name, threat model and detail channel of an Attack
  const notAnAttack: Attack = (m: Model, xb: tf.Tensor, yb: tf.Tensor1D) => pgd(m, xb, yb, { eps: 0.3 });

  // evaluate: the result's attacks are keyed by the attacks given; plain functions are typed by the context.
  const r = await evaluate(model, x, y, { attacks: { fgsm: pgdAttack({ eps: 0.1 }), pgd20: (m, xb, yb) => pgd(m, xb, yb, { eps: 0.1, steps: 20 }) } });
  assertType<Equal<typeof r.attacks, Readonly<Record<'fgsm' | 'pgd20', number>>>>();
  const c1: number = r.attacks.pgd20;
  const c2: Uint8Array = r.perPoint.attacks.fgsm;
  // @ts-expect-error no attack of that name was given
  const c3: number = r.attacks.pgd40;
  const clean = await evaluate(model, x, y);
  const c4: number = clean.clean;

  // worstCase and multiAttack: keyed the same way; x' keeps the input's type.
  const w = await worstCase(model, x, y, { apgd: apgdAttack({ eps: 0.3 }), mine: (m, xb, yb) => fgsm(m, xb, yb, { eps: 0.3 }) });
  assertType<Equal<typeof w.attacks, Readonly<Record<'apgd' | 'mine', number>>>>();
  assertType<Equal<typeof w.xAdv, tf.Tensor4D>>();
  assertType<Equal<typeof w.perPoint.brokenBy, readonly ('apgd' | 'mine' | null)[]>>();
  const run = await multiAttack({ first: pgdAttack({ eps: 0.3 }), second: squareAttack({ eps: 0.3 }) }).run(model, x, y);
  assertType<Equal<typeof run.xAdv, tf.Tensor4D>>();
  assertType<Equal<typeof run.robust, Readonly<Record<'first' | 'second', Uint8Array>>>>();
  const aa = await autoAttack(model, x, y, { eps: 0.3 });
  assertType<Equal<typeof aa.xAdv, tf.Tensor4D>>();
  return [a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, wrongRank, b1, asFunction, notAnAttack, c1, c2, c3, c4];

}

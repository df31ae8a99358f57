import { named } from '../../src/core/errors.js';
/**
 * Every loss is a public function that resolves its options once (defaults filled in, values checked) and checks its
 * inputs, and an internal core that takes the resolved config and tensors only: the core computes exactly what the
 * public function returns, and checks nothing (it neither throws on a bad option nor reads the inputs' values).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ardLoss, ardLossCore, resolveArdOptions } from '../../src/losses/ard.js';
import { rsladLoss, rsladLossCore, resolveRsladOptions } from '../../src/losses/rslad.js';
import { resolveTradesOptions, tradesLoss, tradesLossCore } from '../../src/losses/trades.js';
import { martLoss, martLossCore, resolveMartOptions } from '../../src/losses/mart.js';
import { kdLoss, kdLossCore, resolveKdOptions } from '../../src/losses/kd.js';
import { iadLoss, iadLossCore, resolveIadOptions } from '../../src/losses/iad.js';
import { adaadLoss, adaadLossCore, resolveAdaadOptions } from '../../src/losses/adaad.js';
import { MTARD_FIELDS, mtardLoss, mtardLossCore, mtardWeights, mtardWeightsCore, resolveMtardOptions } from '../../src/losses/mtard.js';
import { CROSS_ENTROPY_FIELDS, crossEntropy, crossEntropyCore } from '../../src/losses/cross-entropy.js';
import { KL_DIVERGENCE_FIELDS, klDivergence, klDivergenceCore } from '../../src/losses/kl-divergence.js';
import { CW_MARGIN_FIELDS, cwMarginLoss, cwMarginLossCore } from '../../src/losses/cw-margin.js';
import { DLR_FIELDS, dlrLoss, dlrLossCore, targetedDlrLoss, targetedDlrLossCore } from '../../src/losses/dlr.js';
import { REPRESENTATION_FIELDS, representationDistance, representationDistanceCore } from '../../src/losses/representation.js';
import { CONTRASTIVE_FIELDS, contrastiveRelationLoss, contrastiveRelationLossCore } from '../../src/losses/contrastive.js';
import { COMPENSATED_TARGETS_FIELDS, compensatedTargets, compensatedTargetsCore } from '../../src/losses/compensation.js';
import { TEACHER_FEATURE_MAP_FIELDS, teacherFeatureMapLoss, teacherFeatureMapLossCore } from '../../src/losses/teacher-feature-map.js';
import { parseOptions } from '../../src/core/options.js';
import { randomLogits, useBackend, withoutSyncReads } from '../helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const B = 5;
const C = 4;
let a: tf.Tensor2D;
let b: tf.Tensor2D;
let c: tf.Tensor2D;
let d: tf.Tensor2D;
let y: tf.Tensor1D;
let t: tf.Tensor1D;
beforeAll(() => {
  [a, b, c, d] = [1, 2, 3, 4].map((seed) => tf.tensor2d(randomLogits(B, C, 3, seed))) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  y = tf.tensor1d([0, 1, 2, 3, 0], 'int32');
  t = tf.tensor1d([1, 2, 3, 0, 2], 'int32');
});
afterAll(() => {
  tf.dispose([a, b, c, d, y, t]);
});

/** `public` and `core` give the same values, to the bit; `core` reads nothing back (it checks nothing). */
function same(publicForm: () => tf.Tensor, coreForm: () => tf.Tensor): void {
  const p = publicForm();
  const q = withoutSyncReads(coreForm);
  expect(Array.from(q.dataSync())).toEqual(Array.from(p.dataSync()));
  expect(q.shape).toEqual(p.shape);
  tf.dispose([p, q]);
}

describe('each core computes what its public loss returns', () => {
  it.each([
    ['ardLoss', () => ardLoss({ studentAdv: a, teacherClean: b, studentClean: c, labels: y }, { alpha: 0.7, temperature: 4, klReduction: 'classMean' }),
      () => ardLossCore({ studentAdv: a, teacherClean: b, studentClean: c, labels: y }, named('t', () => resolveArdOptions({ alpha: 0.7, temperature: 4, klReduction: 'classMean' })))],
    ['rsladLoss', () => rsladLoss({ studentAdv: a, studentClean: b, teacherClean: c }, { reduction: 'none' }),
      () => rsladLossCore({ studentAdv: a, studentClean: b, teacherClean: c }, named('t', () => resolveRsladOptions({ reduction: 'none' })))],
    ['tradesLoss', () => tradesLoss({ clean: a, adv: b, labels: y }, { beta: 2 }), () => tradesLossCore({ clean: a, adv: b, labels: y }, named('t', () => resolveTradesOptions({ beta: 2 })))],
    ['martLoss', () => martLoss({ clean: a, adv: b, labels: y }, { boost: 'exact', reduction: 'sum' }),
      () => martLossCore({ clean: a, adv: b, labels: y }, named('t', () => resolveMartOptions({ boost: 'exact', reduction: 'sum' })))],
    ['kdLoss', () => kdLoss(a, b, { studentTemperature: 3 }), () => kdLossCore(a, b, named('t', () => resolveKdOptions({ studentTemperature: 3 })))],
    ['iadLoss', () => iadLoss({ studentAdv: a, studentClean: b, teacherClean: c, teacherAdv: d, labels: y }, { alpha: 0.5 }),
      () => iadLossCore({ studentAdv: a, studentClean: b, teacherClean: c, teacherAdv: d, labels: y }, named('t', () => resolveIadOptions({ alpha: 0.5 })))],
    ['adaadLoss', () => adaadLoss({ studentAdv: a, teacherAdv: b, studentClean: c, teacherClean: d }, { alpha: 0.25 }),
      () => adaadLossCore({ studentAdv: a, teacherAdv: b, studentClean: c, teacherClean: d }, named('t', () => resolveAdaadOptions({ alpha: 0.25 })))],
    ['mtardLoss', () => mtardLoss({ studentAdv: a, studentClean: b, robustTeacherAdv: c, cleanTeacherClean: d }, { advWeight: 0.3, natWeight: 0.7, temperature: 2 }),
      () => mtardLossCore({ studentAdv: a, studentClean: b, robustTeacherAdv: c, cleanTeacherClean: d }, named('t', () => resolveMtardOptions({ advWeight: 0.3, natWeight: 0.7, temperature: 2 })))],
    ['crossEntropy', () => crossEntropy(a, y), () => crossEntropyCore(a, y, named('t', () => parseOptions({}, CROSS_ENTROPY_FIELDS)))],
    ['klDivergence', () => klDivergence(a, b, { reduction: 'none' }), () => klDivergenceCore(a, b, named('t', () => parseOptions({ reduction: 'none' }, KL_DIVERGENCE_FIELDS)))],
    ['cwMarginLoss', () => cwMarginLoss(a, y, { kappa: 1 }), () => cwMarginLossCore(a, y, named('t', () => parseOptions({ kappa: 1 }, CW_MARGIN_FIELDS)))],
    ['dlrLoss', () => dlrLoss(a, y), () => dlrLossCore(a, y, named('t', () => parseOptions({}, DLR_FIELDS)))],
    ['targetedDlrLoss', () => targetedDlrLoss(a, y, t), () => targetedDlrLossCore(a, y, t, named('t', () => parseOptions({}, DLR_FIELDS)))],
    ['representationDistance', () => representationDistance(a, b, { metric: 'l2' }),
      () => representationDistanceCore(a, b, named('t', () => parseOptions({ metric: 'l2' }, REPRESENTATION_FIELDS)))],
    ['contrastiveRelationLoss', () => contrastiveRelationLoss(a, b), () => contrastiveRelationLossCore(a, b, named('t', () => parseOptions({}, CONTRASTIVE_FIELDS)))],
    ['compensatedTargets', () => compensatedTargets(a, y, { beta: 2 }), () => compensatedTargetsCore(a, y, named('t', () => parseOptions({ beta: 2 }, COMPENSATED_TARGETS_FIELDS)))],
    ['teacherFeatureMapLoss', () => teacherFeatureMapLoss(tf.concat([a, b], 1), [c, d], y),
      () => teacherFeatureMapLossCore(tf.concat([a, b], 1), [c, d], y, named('t', () => parseOptions({}, TEACHER_FEATURE_MAP_FIELDS)))]
  ] as Array<[string, () => tf.Tensor, () => tf.Tensor]>)('%s', (_name, publicForm, coreForm) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => { same(publicForm, coreForm); });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('mtardWeightsCore makes the update mtardWeights makes', () => {
    let checked = { natWeight: 0.5, advWeight: 0.5 } as ReturnType<typeof mtardWeights>;
    let core = checked;
    for (const [nat, adv] of [[2, 3], [1.5, 2.9], [1, 2.5]] as const) {
      checked = mtardWeights(checked, nat, adv, { eta: 0.1 });
      core = mtardWeightsCore(core, nat, adv, 0.1);
      expect(core).toEqual(checked);
    }
  });
});

describe('the resolvers fill in the documented defaults and name the caller', () => {
  it('defaults', () => {
    expect(named('t', () => resolveArdOptions({}))).toEqual({ temperature: 30, alpha: 1, reduction: 'mean', klReduction: 'batchmean' });
    expect(named('t', () => resolveRsladOptions({}))).toEqual({ advWeight: 5 / 6, cleanWeight: 1 / 6, reduction: 'mean', klReduction: 'batchmean' });
    expect(named('t', () => resolveTradesOptions({}))).toEqual({ beta: 6, reduction: 'mean' });
    expect(named('t', () => resolveMartOptions({}))).toEqual({ beta: 6, boost: 'reference', reduction: 'mean' });
    expect(named('t', () => resolveKdOptions({ studentTemperature: 3 }))).toEqual({ studentTemperature: 3, teacherTemperature: 1, scale: 9, reduction: 'mean' });
    expect(named('t', () => resolveIadOptions({}))).toEqual({ temperature: 1, alpha: 1, beta: 0.1, introspection: true, reduction: 'mean' });
    expect(named('t', () => resolveAdaadOptions({}))).toEqual({ alpha: 1, reduction: 'mean', klReduction: 'batchmean' });
    expect(named('t', () => resolveMtardOptions({}))).toEqual({ advWeight: 0.5, natWeight: 0.5, temperature: 1, reduction: 'mean', klReduction: 'batchmean' });
    expect(named('t', () => MTARD_FIELDS.natWeight.parse('natWeight', undefined))).toBe(0.5);
  });

  it('errors name the function passed in, the option and the value', () => {
    expect(() => named('myObjective', () => resolveArdOptions({ alpha: 2 }))).toThrow(/^myObjective: alpha must be a number in \[0, 1\] \(got 2\)$/);
    expect(() => named('myObjective', () => resolveKdOptions({ scale: NaN }))).toThrow(/^myObjective: scale must be a finite number \(got NaN\)$/);
    expect(() => named('myObjective', () => resolveIadOptions({ introspection: 'yes' as never }))).toThrow(TypeError);
  });
});

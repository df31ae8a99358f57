import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { studentTeacherHead } from '../../src/models/index.js';
import { teacherFeatureMapLoss } from '../../src/losses/index.js';
import { expectThrowsNoLeak, useBackend } from '../helpers.js';

describe('studentTeacherHead', () => {
  beforeAll(async () => useBackend('cpu'));

  it('maps features d → M·C → C with two linear layers and nothing between', () => {
    const head = studentTeacherHead(3, 4, { seed: 1 });
    const h = tf.randomNormal([5, 6], 0, 1, 'float32', 2);
    const { featureMap, logits } = head.apply(h);
    expect(featureMap.shape).toEqual([5, 12]);
    expect(logits.shape).toEqual([5, 4]);
    // Linear: the logits are exactly featureMap·W2 + b2, and the feature map exactly h·W1 + b1.
    const [w1, b1] = head.featureMapLayer.getWeights();
    const [w2, b2] = head.logitsLayer.getWeights();
    const fm = tf.add(tf.matMul(h, w1!), b1!);
    const lg = tf.add(tf.matMul(featureMap, w2!), b2!);
    expect(tf.max(tf.abs(tf.sub(fm, featureMap))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(lg, logits))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([h, featureMap, logits, fm, lg]);
  });

  it('composes into a functional model whose feature map feeds teacherFeatureMapLoss, and trains', () => {
    const head = studentTeacherHead(2, 3, { seed: 3 });
    const input = tfl.input({ shape: [4] });
    const hidden = tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }).apply(input) as tfl.SymbolicTensor;
    const featureMap = head.featureMapLayer.apply(hidden) as tfl.SymbolicTensor;
    const logits = head.logitsLayer.apply(featureMap) as tfl.SymbolicTensor;
    const student = tfl.model({ inputs: input, outputs: [logits, featureMap] });
    const x = tf.randomUniform([16, 4], 0, 1, 'float32', 5);
    const y = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32');
    // Teachers that are functions of the input, so the student can learn both at once.
    const teachers = [6, 7].map((seed) => tf.tidy(() => tf.matMul<tf.Tensor2D>(x, tf.randomNormal([4, 3], 0, 3, 'float32', seed))));
    const opt = tf.train.adam(0.05);
    const loss = (): tf.Scalar => {
      const [, fm] = student.apply(x) as tf.Tensor[];
      return teacherFeatureMapLoss(fm as tf.Tensor2D, teachers, y, { weighting: 'uniform' });
    };
    const first = tf.tidy(() => loss().dataSync()[0]!);
    for (let i = 0; i < 60; i++) opt.minimize(loss, true)?.dispose();
    const last = tf.tidy(() => loss().dataSync()[0]!);
    expect(last).toBeLessThan(first * 0.5);
    tf.dispose([x, y, ...teachers]);
    opt.dispose();
    student.dispose();
  });

  it('rejects bad sizes and features', () => {
    expect(() => studentTeacherHead(0, 10)).toThrow(/^studentTeacherHead: numTeachers must be an integer >= 1 \(got 0\)/);
    expect(() => studentTeacherHead(2, 1)).toThrow(/^studentTeacherHead: numClasses must be an integer >= 2 \(got 1\)/);
    expect(() => studentTeacherHead(2, 3, { units: 4 } as never)).toThrow(/^studentTeacherHead: options must only have the keys/);
    const head = studentTeacherHead(2, 3);
    const bad = tf.zeros([2, 2, 2]);
    expectThrowsNoLeak(() => head.apply(bad), /^studentTeacherHead.apply: features must have shape \[B, d\]/);
    bad.dispose();
  });
});

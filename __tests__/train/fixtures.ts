/** Small problems and networks for the training tests (cpu backend, seconds per run). */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { testRandom } from '../helpers.js';
import { fit, natural, type ObjectiveState, type Student } from '../../src/train/index.js';
import { studentModel } from '../../src/train/student.js';
import { studentFromLayers, studentTeacherHead } from '../../src/models/index.js';
import type { Model } from '../../src/core/index.js';

export const DIM = 12;

/** The empty objective state, for calling a stateless objective's (or a state-free part's) hooks by hand. */
export const NO_STATE: ObjectiveState = { values: {}, tensors: {} };

/** `k` classes of points around prototypes in [0, 1]^DIM; `spread` is the noise half-width. */
export function blobs(n: number, k: number, seed: number, spread = 0.25): { x: tf.Tensor2D; y: tf.Tensor1D } {
  const r = testRandom(seed);
  const protos = Array.from({ length: k }, () => Array.from({ length: DIM }, () => 0.25 + 0.5 * r()));
  const xs: number[][] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % k;
    ys.push(c);
    xs.push(protos[c]!.map((p) => Math.min(1, Math.max(0, p + (r() - 0.5) * 2 * spread))));
  }
  return { x: tf.tensor2d(xs), y: tf.tensor1d(ys, 'int32') };
}

/** A dense network DIM → hidden → hidden ('features') → k, with seeded initial weights. */
export function mlp(k: number, seed: number, hidden = 16): tfl.Sequential {
  const init = (s: number): ReturnType<typeof tfl.initializers.glorotUniform> => tfl.initializers.glorotUniform({ seed: seed * 10 + s });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [DIM], units: hidden, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: init(2), name: `features_${String(seed)}_${String(Math.random()).slice(2, 8)}` }),
      tfl.layers.dense({ units: k, kernelInitializer: init(3) })
    ]
  });
}

/** The name of an mlp's penultimate layer. */
export function featuresName(net: tfl.Sequential): string {
  return net.layers[1]!.name;
}

/** A DARHT student: a dense backbone and the student–teacher head for `m` teachers. */
export function darhtStudent(k: number, m: number, seed: number): { net: tfl.LayersModel; student: Student } {
  const input = tfl.input({ shape: [DIM] });
  const h = tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(input) as tfl.SymbolicTensor;
  const head = studentTeacherHead(m, k, { seed: seed + 1, name: `sth_${String(seed)}_${String(Math.random()).slice(2, 8)}` });
  const fm = head.featureMapLayer.apply(h) as tfl.SymbolicTensor;
  const logits = head.logitsLayer.apply(fm) as tfl.SymbolicTensor;
  const net = tfl.model({ inputs: input, outputs: logits });
  return { net, student: studentFromLayers(net, { featureMapLayer: head.featureMapLayer.name }) };
}

/** A teacher trained with clean cross-entropy for a few epochs. */
export async function trainedTeacher(data: { x: tf.Tensor; y: tf.Tensor1D }, k: number, seed: number, hidden = 16): Promise<{ net: tfl.Sequential; model: Model }> {
  const net = mlp(k, seed, hidden);
  await fit(net, data, natural(), { epochs: 30, batchSize: 32, seed, learningRate: 0.1 });
  return { net, model: (x) => net.apply(x, { training: false }) as tf.Tensor2D };
}

/** Reads every variable of a student as plain numbers. */
export function weightsOf(vars: readonly tf.Tensor[]): number[][] {
  return vars.map((v) => Array.from(v.dataSync()));
}

/** A linear student DIM → `width`, whose input gradient never vanishes; 'features' is the identity layer's output. */
export function linearStudent(seed: number, width = 3): { net: tfl.LayersModel; student: Student } {
  const input = tfl.input({ shape: [DIM] });
  const features = tfl.layers.dense({ units: DIM, useBias: false, kernelInitializer: 'identity', trainable: false, name: `id_${String(seed)}_${String(Math.random()).slice(2, 8)}` });
  const h = features.apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: width, kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(h) as tfl.SymbolicTensor;
  const net = tfl.model({ inputs: input, outputs: out });
  return { net, student: studentFromLayers(net, { featuresLayer: features.name }) };
}

/** Two linear teachers and a linear standard model (3 classes) for the objective tests; `dispose` releases them. */
export function linearTeachers(): { teacher: Model; teacher2: Model; standard: Student; dispose: () => void } {
  const [t1, t2, s] = [linearStudent(21), linearStudent(22), linearStudent(23)];
  return {
    teacher: studentModel(t1.student),
    teacher2: studentModel(t2.student),
    standard: s.student,
    dispose: () => { [t1, t2, s].forEach((n) => { n.net.dispose(); }); }
  };
}

/** {@link blobs} as `[n, 3, 4, 1]` images (DIM = 12 pixels), for the augmentation tests. */
export function imageBlobs(n: number, k: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const d = blobs(n, k, seed);
  const x = tf.reshape<tf.Rank.R4>(d.x, [n, 3, 4, 1]);
  d.x.dispose();
  return { x, y: d.y };
}

/** {@link mlp} on `[3, 4, 1]` images (flattened first), with seeded initial weights. */
export function imageMlp(k: number, seed: number, hidden = 16): tfl.Sequential {
  const init = (s: number): ReturnType<typeof tfl.initializers.glorotUniform> => tfl.initializers.glorotUniform({ seed: seed * 10 + s });
  return tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [3, 4, 1] }),
      tfl.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: k, kernelInitializer: init(3) })
    ]
  });
}

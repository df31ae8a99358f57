/**
 * DARHT on real MNIST: three teachers of different architectures, chosen because they are heterogeneous, are
 * distilled into one student through its student–teacher feature map (M·C wide), with coin-flip clean/adversarial
 * batches and the three-phase schedule (CE, CE + KD, KD). The same backbone trained by PGD-AT for the same epochs is
 * the baseline.
 *
 *   npm run build && node --disable-warning=ExperimentalWarning --loader ts-node/esm examples/darht-heterogeneous.ts
 *   … examples/darht-heterogeneous.ts --help
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { darht, fit, pgdAt } from 'ardkit/train';
import { studentFromLayers, studentTeacherHead } from 'ardkit/models';
import { pgd } from 'ardkit/attacks';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, parseOptions, positive } from './cli.js';
import { asModel, chooseBackend, saveModel, mlp, progress, robustnessTable } from './common.js';

const opts = parseOptions('Usage: examples/darht-heterogeneous.ts [options]', {
  ...BACKEND_OPTIONS,
  teachers: { type: 'string', description: 'number of teachers, 2 or 3', default: '3' },
  eps: { type: 'string', description: 'L∞ radius for training and evaluation', default: '0.1' },
  'train-size': { type: 'string', description: 'training images', default: '20000' },
  'test-size': { type: 'string', description: 'test images evaluated', default: '1000' },
  'teacher-epochs': { type: 'string', description: 'epochs of each teacher', default: '2' },
  epochs: { type: 'string', description: 'epochs of the student', default: '8' },
  seed: { type: 'string', description: 'random seed', default: '0' }
});

/** The architectures: a wide shallow MLP, a deep narrow one, and a medium one with a tanh layer. */
function teacherNet(i: number, seed: number): tfl.Sequential {
  if (i === 0) return mlp([512], seed, 'wide');
  if (i === 1) return mlp([128, 128, 128], seed, 'deep');
  return tfl.sequential({
    name: 'tanh',
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 200, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
      tfl.layers.dense({ units: 100, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }) }),
      tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }) })
    ]
  });
}

async function main(): Promise<void> {
  const backend = await chooseBackend(opts.backend, opts.threads);
  const m = positive('teachers', opts.teachers, true);
  if (m < 2 || m > 3) {
    console.error('--teachers must be 2 or 3');
    process.exit(2);
  }
  const eps = positive('eps', opts.eps);
  const seed = Number(opts.seed);
  const trainSize = positive('train-size', opts['train-size'], true);
  const teacherEpochs = positive('teacher-epochs', opts['teacher-epochs'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const t0 = performance.now();
  console.log(`DARHT on real MNIST with ${String(m)} heterogeneous teachers, ε = ${String(eps)}, backend ${backend}`);
  const train = await loadMnist('train', trainSize);
  const test = await loadMnist('test', Math.min(10000, positive('test-size', opts['test-size'], true)));
  const attack = { eps, steps: 5 };

  const teachers = Array.from({ length: m }, (_, i) => teacherNet(i, seed + 10 * (i + 1)));
  for (const [i, net] of teachers.entries()) {
    console.log(`teacher ${String(i + 1)}: ${net.name}, PGD adversarial training`);
    await fit(net, train, pgdAt(attack), {
      epochs: teacherEpochs,
      seed: seed + i,
      optimizer: tf.train.adam(0.01),
      checkpoint: { dir: `examples/.cache/darht-teacher-${net.name}-${String(trainSize)}-${String(eps)}-${String(seed)}-${String(teacherEpochs)}`, keep: 1 },
      resume: true,
      ...progress(net.name, teacherEpochs)
    });
  }
  // How often adversarial examples of one teacher fool another: DARHT prefers teachers that rarely share them.
  const nProbe = Math.min(300, test.x.shape[0] ?? 0); // tf.slice past the end reads garbage on wasm
  const probe = { x: tf.slice(test.x, 0, nProbe), y: tf.slice(test.y, 0, nProbe) };
  console.log(`\nadversarial transfer between teachers (share of PGD-10 examples made on the row that fool the column, ${String(nProbe)} test images):`);
  for (const a of teachers) {
    const xAdv = pgd(asModel(a), probe.x, probe.y, { eps, steps: 10, seed });
    const rates = tf.tidy(() => tf.stack(teachers.map((b) => tf.mean(tf.cast(tf.notEqual(tf.argMax(asModel(b)(xAdv), 1), probe.y), 'float32')))));
    const row = Array.from(await rates.data());
    rates.dispose();
    console.log(`  ${a.name.padEnd(6)} ${row.map((v) => `${(v * 100).toFixed(0)}%`.padStart(5)).join(' ')}`);
    xAdv.dispose();
  }

  // The student: a backbone, then DARHT's head d → M·C → C with nothing between.
  const input = tfl.input({ shape: [28, 28, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const h = tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: seed + 99 }) }).apply(flat) as tfl.SymbolicTensor;
  const head = studentTeacherHead(m, 10, { seed: seed + 100 });
  const featureMap = head.featureMapLayer.apply(h) as tfl.SymbolicTensor;
  const logits = head.logitsLayer.apply(featureMap) as tfl.SymbolicTensor;
  const studentNet = tfl.model({ inputs: input, outputs: logits });
  const student = studentFromLayers(studentNet, { featureMapLayer: head.featureMapLayer.name });
  console.log(`\nstudent: MLP 784-64 + head 64-${String(m * 10)}-10, DARHT (CE alone for the first 50/350 of training, then CE + KD)`);
  await fit(student, train, darht({ ...attack, teachers: teachers.map(asModel) }), {
    epochs,
    seed,
    optimizer: tf.train.adam(0.01),
    ...progress('student', epochs)
  });

  // The baseline at the same budget: the same backbone with a plain 64 → 10 head, trained by PGD-AT.
  const baselineNet = mlp([64], seed + 99, 'baseline');
  console.log('\nbaseline: MLP 784-64-10, PGD-AT, same epochs');
  await fit(baselineNet, train, pgdAt(attack), { epochs, seed, optimizer: tf.train.adam(0.01), ...progress('baseline', epochs) });

  await robustnessTable(
    [
      ...teachers.map((t) => [`teacher ${t.name}`, asModel(t)] as const),
      ['student (DARHT)', asModel(studentNet)] as const,
      ['student (PGD-AT)', asModel(baselineNet)] as const
    ],
    test.x,
    test.y,
    eps,
    seed
  );
  await saveModel(studentNet, 'darht-student');
  await saveModel(baselineNet, 'darht-pgdat-student');
  tf.dispose([train.x, train.y, test.x, test.y, probe.x, probe.y]);
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

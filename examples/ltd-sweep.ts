/**
 * The sweep behind LTD's default temperatures: distil the PGD-AT teacher of distill-mnist.ts into the same small
 * student with LTD on PGD-AT for a grid of teacher (τ_T) and student (τ_S) temperatures, and report the deployed
 * student's clean and PGD-20 accuracy on real MNIST.
 *
 *   npm run build && node --disable-warning=ExperimentalWarning --loader ts-node/esm examples/ltd-sweep.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { fit, ltd, pgdAt } from 'ardkit/train';
import { pgd } from 'ardkit/attacks';
import { evaluate } from 'ardkit/eval';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, parseOptions, positive } from './cli.js';
import { asModel, chooseBackend, mlp, progress } from './common.js';

const opts = parseOptions('Usage: examples/ltd-sweep.ts [options]', {
  ...BACKEND_OPTIONS,
  eps: { type: 'string', description: 'L∞ radius', default: '0.1' },
  'train-size': { type: 'string', description: 'training images', default: '20000' },
  'test-size': { type: 'string', description: 'test images evaluated', default: '1000' },
  teacher: { type: 'string', description: 'teacher temperatures τ_T, comma-separated', default: '0.5,1,2' },
  student: { type: 'string', description: 'student temperatures τ_S, comma-separated', default: '1,2,5' },
  epochs: { type: 'string', description: 'epochs per student', default: '1' },
  seed: { type: 'string', description: 'random seed', default: '0' }
});

async function main(): Promise<void> {
  await chooseBackend(opts.backend, opts.threads);
  const eps = positive('eps', opts.eps);
  const seed = Number(opts.seed);
  const trainSize = positive('train-size', opts['train-size'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const train = await loadMnist('train', trainSize);
  const test = await loadMnist('test', Math.min(10000, positive('test-size', opts['test-size'], true)));
  const attack = { eps, steps: 5 };
  const teacherNet = mlp([256, 256], seed + 1, 'teacher');
  await fit(teacherNet, train, pgdAt(attack), {
    epochs: 2,
    batchSize: 128,
    seed,
    optimizer: tf.train.adam(0.01),
    checkpoint: { dir: `examples/.cache/teacher-pgdat-${String(trainSize)}-${String(eps)}-${String(seed)}-2`, keep: 1 },
    resume: true,
    ...progress('teacher', 2)
  });
  const teacher = asModel(teacherNet);
  const rows: string[] = [];
  for (const tauT of opts.teacher.split(',').map(Number)) {
    for (const tauS of opts.student.split(',').map(Number)) {
      const objective = ltd({ ...attack, teacher, teacherTemperature: tauT, studentTemperature: tauS });
      const net = mlp([64], seed + 3, 'student');
      await fit(net, train, objective, { epochs, seed, optimizer: tf.train.adam(0.01), ...progress(`τ_T ${String(tauT)} τ_S ${String(tauS)}`, epochs) });
      const r = evaluate(objective.deploy(asModel(net)), test.x, test.y, {
        attacks: { pgd20: (m, x, y) => pgd(m, x, y, { eps, steps: 20, seed }) },
        batchSize: 500
      });
      rows.push(`| ${String(tauT)} | ${String(tauS)} | ${(r.clean * 100).toFixed(1)} % | ${((r.attacks.pgd20 ?? NaN) * 100).toFixed(1)} % |`);
      console.log(rows[rows.length - 1]);
      net.dispose();
    }
  }
  console.log(`\nLTD on PGD-AT, MNIST, ε = ${String(eps)}, ${String(trainSize)} training images, ${String(epochs)} epoch(s):\n`);
  console.log('| τ_T | τ_S | clean | PGD-20 |\n| --- | --- | --- | --- |');
  console.log(rows.join('\n'));
  tf.dispose([train.x, train.y, test.x, test.y]);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

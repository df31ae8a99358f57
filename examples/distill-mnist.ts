/**
 * Robust distillation on real MNIST: adversarially train a teacher (PGD-AT), distil a smaller student with the
 * chosen method, and print clean / PGD-20 / CW-20 accuracy of both.
 *
 *   npm run build && node --disable-warning=ExperimentalWarning --loader ts-node/esm examples/distill-mnist.ts --method rslad
 *   … examples/distill-mnist.ts --help
 *
 * Teachers are trained once and cached in examples/.cache (fit's own checkpoints: a finished run resumes to its end).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fit, type LtdObjective, type Objective } from 'ardkit/train';
import type { Model } from 'ardkit/core';
import { withTemperatureLayer } from 'ardkit/models';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, choice, parseOptions, positive } from './cli.js';
import { asModel, chooseBackend, saveModel, mlp, progress, robustnessTable } from './common.js';
import { buildRecipe, deployedModel, recipeNeeds, recipeObjective, type RecipeName } from './recipes.js';

/** The recipes (examples/recipes.ts) whose student is the plain MLP: every one but AFT, ARREST and DARHT. */
const METHODS = ['natural', 'pgdAt', 'trades', 'mart', 'ard', 'rslad', 'iad', 'adaad', 'mtard', 'ltd', 'crdnd'] as const satisfies readonly RecipeName[];
type Method = (typeof METHODS)[number];

const opts = parseOptions(`Usage: examples/distill-mnist.ts --method <${METHODS.join('|')}> [options]`, {
  method: { type: 'string', description: 'distillation (or training) method for the student', default: 'rslad' },
  ...BACKEND_OPTIONS,
  eps: { type: 'string', description: 'L∞ radius for training and evaluation', default: '0.1' },
  'train-size': { type: 'string', description: 'training images', default: '20000' },
  'test-size': { type: 'string', description: 'test images evaluated', default: '1000' },
  'teacher-epochs': { type: 'string', description: 'epochs of the teacher', default: '2' },
  epochs: { type: 'string', description: 'epochs of the student', default: '2' },
  seed: { type: 'string', description: 'random seed', default: '0' }
});

async function trainCached(
  label: string,
  net: ReturnType<typeof mlp>,
  data: { x: tf.Tensor; y: tf.Tensor1D },
  objective: Objective,
  epochs: number,
  seed: number,
  key: string
): Promise<void> {
  await fit(net, data, objective, {
    epochs,
    batchSize: 128,
    seed,
    optimizer: tf.train.adam(0.01),
    checkpoint: { dir: `examples/.cache/${key}`, keep: 1 },
    resume: true,
    ...progress(label, epochs)
  });
}

async function main(): Promise<void> {
  const method: Method = choice('method', opts.method, METHODS);
  const backend = await chooseBackend(opts.backend, opts.threads);
  const eps = positive('eps', opts.eps);
  const seed = Number(opts.seed);
  const trainSize = positive('train-size', opts['train-size'], true);
  const testSize = Math.min(10000, positive('test-size', opts['test-size'], true));
  const teacherEpochs = positive('teacher-epochs', opts['teacher-epochs'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const t0 = performance.now();
  console.log(`robust distillation on real MNIST: method ${method}, ε = ${String(eps)}, backend ${backend}`);
  const train = await loadMnist('train', trainSize);
  const test = await loadMnist('test', testSize);
  const key = `${String(trainSize)}-${String(eps)}-${String(seed)}`;

  const teacherNet = mlp([256, 256], seed + 1, 'teacher');
  console.log('teacher: MLP 784-256-256-10, PGD adversarial training (PGD-5)');
  await trainCached('teacher', teacherNet, train, recipeObjective('pgdAt', { eps }), teacherEpochs, seed, `teacher-pgdat-${key}-${String(teacherEpochs)}`);
  const teacher = asModel(teacherNet);

  let cleanTeacher: Model | undefined;
  if (recipeNeeds(method).includes('cleanTeacher')) {
    const cleanNet = mlp([256, 256], seed + 2, 'clean_teacher');
    console.log('clean teacher: MLP 784-256-256-10, standard training');
    await trainCached('clean teacher', cleanNet, train, recipeObjective('natural', { eps }), teacherEpochs, seed, `teacher-natural-${key}-${String(teacherEpochs)}`);
    cleanTeacher = asModel(cleanNet);
  }

  const built = buildRecipe(method, { eps, teacher, ...(cleanTeacher === undefined ? {} : { cleanTeacher }) }, { net: () => mlp([64], seed + 3, 'student') });
  const { objective, net: studentNet } = built;
  console.log(`student: MLP 784-64-10, ${method}`);
  await fit(built.student, train, objective, { epochs, batchSize: 128, seed, optimizer: tf.train.adam(0.01), ...progress('student', epochs) });
  const student = deployedModel(built, asModel(studentNet));

  await robustnessTable(
    [
      ['teacher (PGD-AT)', teacher],
      [`student (${method})`, student]
    ],
    test.x,
    test.y,
    eps,
    seed
  );
  // Saved as deployed: LTD's student with its logits divided by τ_S, a layer of the file.
  const tauS = (objective as Partial<LtdObjective>).studentTemperature;
  const deployedNet = tauS === undefined ? studentNet : withTemperatureLayer(studentNet, tauS);
  await saveModel(deployedNet, `distill-${method}-student`);
  if (deployedNet !== studentNet) deployedNet.dispose();
  await saveModel(teacherNet, 'distill-teacher');
  tf.dispose([train.x, train.y, test.x, test.y]);
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

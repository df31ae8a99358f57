/**
 * ardkit's main example: robust distillation on real MNIST. A robust teacher (a CNN trained with PGD-AT, cached in
 * examples/.cache after the first run) is distilled into a student under 1/20 of its size with RSLAD (Zi et al.,
 * arXiv 2108.07969); the same student, from the same initialisation, is trained with PGD-AT at the same budget for
 * comparison, and a standard (non-robust) one for the live page. All are evaluated with AutoAttack (APGD-CE, APGD-T,
 * Square) at ε = 0.1; the pictures (robustness curve, adversarial images) go to examples/output/, and the students
 * are saved in tfjs' format (examples/output/<name>/model.json) for `npm run demo` and for deployment.
 *
 *   npm run example                        # defaults: about 4 minutes on 2 cores on the first run
 *   npm run example -- --method ard        # another distillation method (rslad, ard, adaad, mtard, ltd)
 *   npm run example -- --help
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import { pgd, type AttackFunction } from 'ardkit/attacks';
import { autoAttack, evaluate } from 'ardkit/eval';
import { fileSystem } from 'ardkit/io';
import { withTemperatureLayer } from 'ardkit/models';
import { cosine, fit, type FitOptions, type LtdObjective } from 'ardkit/train';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, choice, parseOptions, positive } from './cli.js';
import { adversarialGrid, asModel, chooseBackend, mnistCnn, progress, saveModel } from './common.js';
import { robustnessCurveSvg, type Curve } from './pictures.js';
import { buildRecipe, recipeNeeds, recipeObjective, type BuiltRecipe, type RecipeName } from './recipes.js';

/** The distillation recipes of examples/recipes.ts the example offers. */
const METHODS = ['rslad', 'ard', 'adaad', 'mtard', 'ltd'] as const satisfies readonly RecipeName[];
type Method = (typeof METHODS)[number];

const opts = parseOptions('Usage: npm run example -- [options]', {
  ...BACKEND_OPTIONS,
  method: { type: 'string', description: `distillation method: ${METHODS.join(', ')}`, default: 'rslad' },
  eps: { type: 'string', description: 'L∞ radius of training and evaluation (MNIST pixels in [0, 1])', default: '0.1' },
  'train-size': { type: 'string', description: 'training images', default: '10000' },
  'test-size': { type: 'string', description: 'test images evaluated with AutoAttack (the first of the test set)', default: '100' },
  'teacher-epochs': { type: 'string', description: 'epochs of the teacher (Adam 0.003, cosine decay)', default: '3' },
  epochs: { type: 'string', description: 'epochs of each student (Adam 0.01)', default: '2' },
  seed: { type: 'string', description: 'random seed', default: '0' },
  out: { type: 'string', description: 'folder for the pictures and the saved students', default: 'examples/output' },
  'update-demo': { type: 'boolean', description: 'also copy the standard and robust students into examples/browser/models (the live page\'s committed copies)', default: false }
});

const pct = (v: number | undefined): string => `${((v ?? NaN) * 100).toFixed(1)}%`.padStart(7);
const params = (net: tfl.LayersModel): number => net.countParams();

/** One row of the result table. */
interface Row {
  readonly name: string;
  readonly params: number;
  readonly clean: number;
  readonly autoAttack: number;
  readonly seconds: number;
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
  const outDir = path.resolve(opts.out);
  const t0 = performance.now();
  console.log(`ardkit: robust distillation on real MNIST (ε = ${String(eps)}, method ${method}, backend ${backend})`);
  const train = await loadMnist('train', trainSize);
  const test = await loadMnist('test', testSize);
  // The recipes of examples/recipes.ts, as the method benchmark (bench/methods.ts): PGD-5 with α = 2.5ε/5 for training.
  const fitOptions = (label: string, n: number, rate: number): Partial<FitOptions> => ({ epochs: n, batchSize: 128, seed, optimizer: tf.train.adam(rate), ...progress(label, n) });

  const teacherNet = mnistCnn([16, 32], 128, seed + 1);
  console.log(`teacher: CNN conv16-conv32-dense128 (${String(params(teacherNet))} parameters), PGD-AT, ${String(teacherEpochs)} epochs (cached)`);
  const tTeacher = performance.now();
  await fit(teacherNet, train, recipeObjective('pgdAt', { eps }), {
    ...fitOptions('teacher', teacherEpochs, 0.003),
    schedule: cosine(),
    // The key names everything the teacher depends on (r1: Adam 0.003, cosine decay, batch 128, PGD-5): change the
    // recipe, change the key, and a stale teacher is never resumed.
    checkpoint: { dir: `examples/.cache/distillation-teacher-r1-${String(trainSize)}-${String(eps)}-${String(seed)}-${String(teacherEpochs)}`, keep: 1 },
    resume: true
  });
  const teacherSeconds = (performance.now() - tTeacher) / 1000;
  const teacher = asModel(teacherNet);

  let cleanTeacher: tfl.Sequential | undefined;
  if (recipeNeeds(method).includes('cleanTeacher')) {
    cleanTeacher = mnistCnn([16, 32], 128, seed + 2);
    await fit(cleanTeacher, train, recipeObjective('natural', { eps }), { ...fitOptions('clean teacher', teacherEpochs, 0.003), schedule: cosine() });
  }
  const inputs = { eps, teacher, ...(cleanTeacher === undefined ? {} : { cleanTeacher: asModel(cleanTeacher) }) };
  const parts = { net: () => mnistCnn([8, 16], 0, seed + 3) };

  // Three students from the same initialisation: distilled, PGD-AT (the baseline at the same budget), standard.
  const students: Array<BuiltRecipe & { name: string; dir: string; seconds: number }> = [
    { name: `student, ${method}`, dir: 'robust-student', ...buildRecipe(method, inputs, parts), seconds: 0 },
    { name: 'student, PGD-AT', dir: 'pgdat-student', ...buildRecipe('pgdAt', inputs, parts), seconds: 0 },
    { name: 'student, standard', dir: 'standard-student', ...buildRecipe('natural', inputs, parts), seconds: 0 }
  ];
  const studentParams = params(students[0]?.net ?? teacherNet);
  console.log(`students: CNN conv8-conv16 (${String(studentParams)} parameters, ${(params(teacherNet) / studentParams).toFixed(0)}× smaller), ${String(epochs)} epochs each`);
  for (const s of students) {
    const t = performance.now();
    await fit(s.student, train, s.objective, fitOptions(s.name, epochs, 0.01));
    s.seconds = (performance.now() - t) / 1000;
  }

  console.log(`\nAutoAttack (APGD-CE, APGD-T, Square) at ε = ${String(eps)} on ${String(testSize)} MNIST test images`);
  const rows: Row[] = [];
  // Each student as its method deploys it: LTD's with its logits divided by τ_S (a layer, so that it saves so too).
  const deployed = (s: (typeof students)[number]): tfl.LayersModel => {
    const tau = (s.objective as Partial<LtdObjective>).studentTemperature;
    return tau === undefined ? s.net : withTemperatureLayer(s.net, tau);
  };
  const deployedNets = students.map(deployed);
  for (const [name, net, seconds] of [['teacher, PGD-AT', teacherNet, teacherSeconds] as const, ...students.map((s, i) => [s.name, deployedNets[i] ?? s.net, s.seconds] as const)]) {
    const r = await autoAttack(asModel(net), test.x, test.y, { eps, seed });
    rows.push({ name, params: params(net), clean: r.clean, autoAttack: r.worstCase, seconds });
    console.log(`  ${name.padEnd(22)} clean ${pct(r.clean)}  AutoAttack ${pct(r.worstCase)}`);
  }

  console.log('\n| model | parameters | clean | AutoAttack | training s |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.name} | ${String(r.params)} | ${pct(r.clean).trim()} | ${pct(r.autoAttack).trim()} | ${r.seconds.toFixed(0)} |`);

  fs.mkdirSync(outDir, { recursive: true });
  const colors = ['#1f77b4', '#ff7f0e', '#d62728'];
  const curves: Curve[] = [];
  const curveEps = [0, eps / 2, eps, 1.5 * eps, 2 * eps];
  for (const [i, s] of students.entries()) {
    const points: Array<[number, number]> = [];
    for (const e of curveEps) {
      const attacks: Record<string, AttackFunction> = e === 0 ? {} : { pgd20: (m, xb, yb) => pgd(m, xb, yb, { eps: e, steps: 20, seed }) };
      const r = await evaluate(asModel(deployedNets[i] ?? s.net), test.x, test.y, { attacks, batchSize: 500 });
      points.push([e, e === 0 ? r.clean : (r.attacks.pgd20 ?? NaN)]);
    }
    curves.push({ label: s.name, points, color: colors[i] ?? '#000000' });
  }
  fs.writeFileSync(
    path.join(outDir, 'distillation-curve.svg'),
    robustnessCurveSvg(curves, { title: 'Robust accuracy of the students against ε (PGD-20)', subtitle: `${String(testSize)} MNIST test images; trained at ε = ${String(eps)}` })
  );
  const robustStudent = students[0];
  if (robustStudent !== undefined) fs.writeFileSync(path.join(outDir, 'distillation-grid.png'), await adversarialGrid(asModel(deployedNets[0] ?? robustStudent.net), test.x, test.y, eps, seed));
  for (const [i, s] of students.entries()) await saveModel(deployedNets[i] ?? s.net, s.dir, opts.out);
  await saveModel(teacherNet, 'teacher', opts.out);
  if (opts['update-demo']) {
    for (const [from, to] of [['standard-student', 'standard-student'], ['robust-student', 'robust-student']] as const) {
      await students.find((s) => s.dir === from)?.net.save(fileSystem(path.resolve('examples/browser/models', to)));
    }
    console.log('the live page\'s students (examples/browser/models) updated');
  }
  fs.writeFileSync(path.join(outDir, 'distillation.json'), `${JSON.stringify({ eps, method, testSize, trainSize, rows, curves }, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(process.cwd(), outDir) || '.'}/: distillation-curve.svg, distillation-grid.png, distillation.json, and the models ${[...students.map((s) => s.dir), 'teacher'].join(', ')} (model.json + weights.bin)`);

  for (const [i, s] of students.entries()) {
    if (deployedNets[i] !== s.net) deployedNets[i]?.dispose();
    s.net.dispose();
  }
  cleanTeacher?.dispose();
  teacherNet.dispose();
  tf.dispose([train.x, train.y, test.x, test.y]);
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * Robust distillation on CIFAR-10 or CIFAR-100: a robust teacher (an ONNX file, or one of ardkit's CIFAR networks
 * trained here with PGD-AT and cached) is distilled into a MobileNetV2 (or ResNet-18) student with RSLAD (Zi et al.,
 * arXiv 2108.07969; `--method` for the others) at ε = 8/255, with the standard augmentation (pad 4, random crop,
 * flip), checkpoints after every epoch and exact resume. At the end the student is evaluated (clean, PGD-20,
 * AutoAttack) beside the teacher (clean, PGD-20), and saved in tfjs' format.
 *
 *   npm run example:cifar -- --data ~/cifar-10-batches-bin --teacher teacher.onnx
 *   npm run example:cifar -- --data ~/cifar-10-batches-bin --teacher resnet18 --epochs 30 --teacher-epochs 30
 *   npm run example:cifar -- --data ~/cifar-10-batches-bin --teacher teacher.onnx --resume   # after an interruption
 *   npm run example:cifar -- --help
 *
 * The data are the binary versions of CIFAR (https://www.cs.toronto.edu/~kriz/cifar.html): `data_batch_1.bin` …
 * `data_batch_5.bin` and `test_batch.bin` (CIFAR-10), or `train.bin` and `test.bin` (CIFAR-100).
 *
 * Training follows the RSLAD paper's recipe: SGD with momentum 0.9, learning rate 0.1, weight decay 2e-4, batch 128,
 * the rate divided by 10 after 215, 260 and 285 of 300 epochs (scaled to `--epochs`), the student attacked with 10 steps of
 * ε/4 inside the ε-ball. The KL terms of RSLAD, ARD and AdaAD use `klReduction: 'classMean'`, the reduction of the
 * authors' code for which that learning rate was chosen.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import { pgdAttack } from 'ardkit/attacks';
import { fromLayersModel, type Model } from 'ardkit/core';
import { cifarAugment, loadCifar } from 'ardkit/data';
import { autoAttack, evaluate } from 'ardkit/eval';
import { fileSystem, loadOnnx } from 'ardkit/io';
import { mobileNetV2, preActResNet18, resNet18, smallCnn, studentFromLayers, wideResNet, withTemperatureLayer, type CifarNetOptions } from 'ardkit/models';
import { fit, multiStep, type FitData, type LtdObjective, type Objective, type Student } from 'ardkit/train';
import { BACKEND_OPTIONS, choice, parseOptions, positive } from './cli.js';
import { chooseBackend, progress } from './common.js';
import { recipeObjective, type RecipeName } from './recipes.js';

/** The recipes of examples/recipes.ts the example offers. */
const METHODS = ['rslad', 'ard', 'iad', 'adaad', 'ltd', 'crdnd', 'pgdAt', 'trades'] as const satisfies readonly RecipeName[];
type Method = (typeof METHODS)[number];
const STUDENTS = ['mobilenetv2', 'resnet18', 'small-cnn'] as const;
type StudentName = (typeof STUDENTS)[number];
const TEACHER_BUILDERS = ['resnet18', 'preact-resnet18', 'wrn-16-4', 'wrn-28-10', 'wrn-34-10', 'mobilenetv2'] as const;
type TeacherBuilder = (typeof TEACHER_BUILDERS)[number];

const opts = parseOptions('Usage: examples/cifar-distill.ts --data <dir> --teacher <file.onnx | builder> [options]', {
  data: { type: 'string', description: 'folder of the CIFAR binary files (data_batch_*.bin + test_batch.bin, or train.bin + test.bin)' },
  dataset: { type: 'string', description: 'auto (from the file names), cifar10 or cifar100', default: 'auto' },
  labels: { type: 'string', description: 'CIFAR-100 only: fine (100 classes) or coarse (20)', default: 'fine' },
  teacher: {
    type: 'string',
    description: `an ONNX file (loadOnnx: inputs in [0, 1], normalisation inside the graph), or a network trained here with PGD-AT and cached: ${TEACHER_BUILDERS.join(', ')}`
  },
  'teacher-epochs': { type: 'string', description: 'epochs of a built teacher (PGD-AT: SGD 0.1, weight decay 5e-4, rate /10 at 50% and 75%); 0 leaves it untrained, for timing runs', default: '100' },
  student: { type: 'string', description: `the student: ${STUDENTS.join(', ')} (a small CNN without batch norm, for tests and smoke runs)`, default: 'mobilenetv2' },
  method: { type: 'string', description: `distillation method (pgdAt and trades: the student alone, without the teacher): ${METHODS.join(', ')}`, default: 'rslad' },
  eps: { type: 'string', description: 'L∞ radius of training and evaluation (a number or a fraction like 8/255)', default: '8/255' },
  'step-size': { type: 'string', description: 'step of the training attack', default: 'ε/4 (2/255 at ε = 8/255)' },
  'attack-steps': { type: 'string', description: 'steps of the training attack', default: '10' },
  epochs: { type: 'string', description: 'epochs of the student (the rate is divided by 10 at 215/300, 260/300 and 285/300 of them)', default: '300' },
  'batch-size': { type: 'string', description: 'training batch size (auto: the papers\' 128 on GPU backends, 16 on wasm and cpu, whose memory holds no more)', default: 'auto' },
  lr: { type: 'string', description: 'learning rate of SGD with momentum 0.9 (auto: the papers\' 0.1 at batch 128, scaled with the batch)', default: 'auto' },
  'weight-decay': { type: 'string', description: "the student's L2 weight decay", default: '2e-4' },
  'train-size': { type: 'string', description: 'training images (the first of the training files)', default: 'all' },
  'test-size': { type: 'string', description: 'test images evaluated (the first of the test file)', default: '1000' },
  steps: { type: 'string', description: 'stop each training after this many optimizer steps in all (resumed ones included), then evaluate and save: for smoke runs and timing' },
  'checkpoint-dir': { type: 'string', description: "checkpoints: the student's in <dir>/student-…, cached teachers in <dir>/teacher-…", default: 'examples/.cache/cifar' },
  resume: { type: 'boolean', description: "continue the student's training from its latest checkpoint", default: false },
  out: { type: 'string', description: 'where the student is saved in tfjs format (model.json + weights)', default: 'examples/output/cifar-student' },
  autoattack: { type: 'string', description: 'AutoAttack version: standard (APGD-CE, APGD-T with 9 targets, Square) or fast (APGD-CE, APGD-T with 3 targets)', default: 'standard' },
  'aa-steps': { type: 'string', description: 'APGD iterations of AutoAttack', default: '100' },
  'aa-queries': { type: 'string', description: "Square's query budget in AutoAttack", default: '5000' },
  'pgd-steps': { type: 'string', description: 'steps of the PGD evaluation (steps of ε/4 from a random start)', default: '20' },
  'eval-batch-size': { type: 'string', description: 'batch size of the evaluation (on wasm, whose memory is 4 GB, 32 fits with MobileNetV2)', default: '32' },
  seed: { type: 'string', description: 'random seed (initial weights, shuffling, augmentation, attacks)', default: '0' },
  ...BACKEND_OPTIONS
});

/** The largest batch measured to fit in wasm's 4 GB for an RSLAD step of MobileNetV2 (32 does not). */
const WASM_BATCH = 16;

/** Per-channel statistics of the training sets, built into the networks trained here as a fixed first layer. */
const NORMALIZATION = {
  10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] },
  100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] }
} as const;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

/** A positive number or a fraction `a/b` (`8/255`). */
function radius(name: string, value: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*\/\s*([0-9.eE+-]+)\s*$/.exec(value);
  return m === null ? positive(name, value) : positive(name, String(Number(m[1]) / Number(m[2])));
}

/** `8/255` for radii that are a whole number of 255ths, the number otherwise. */
function showRadius(eps: number): string {
  const k = eps * 255;
  return Math.abs(k - Math.round(k)) < 1e-9 ? `${String(Math.round(k))}/255` : String(eps);
}

interface CifarFiles {
  readonly variant: 10 | 100;
  readonly train: string[];
  readonly test: string;
}

/** Finds the CIFAR-10 or CIFAR-100 binary files in `dir` (or in the archive's own folder inside it). */
function cifarFiles(dir: string, dataset: 'auto' | 'cifar10' | 'cifar100'): CifarFiles {
  if (!fs.existsSync(dir)) fail(`--data ${dir}: no such folder`);
  for (const d of [dir, path.join(dir, 'cifar-10-batches-bin'), path.join(dir, 'cifar-100-binary')]) {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) continue;
    const names = fs.readdirSync(d);
    const batches = names.filter((n) => /^data_batch_\d+\.bin$/.test(n)).sort((a, b) => Number(/\d+/.exec(a)?.[0]) - Number(/\d+/.exec(b)?.[0]));
    if (dataset !== 'cifar100' && batches.length > 0 && names.includes('test_batch.bin')) {
      return { variant: 10, train: batches.map((n) => path.join(d, n)), test: path.join(d, 'test_batch.bin') };
    }
    if (dataset !== 'cifar10' && names.includes('train.bin') && names.includes('test.bin')) {
      return { variant: 100, train: [path.join(d, 'train.bin')], test: path.join(d, 'test.bin') };
    }
  }
  const want = { auto: 'data_batch_*.bin and test_batch.bin (CIFAR-10) or train.bin and test.bin (CIFAR-100)', cifar10: 'data_batch_*.bin and test_batch.bin', cifar100: 'train.bin and test.bin' }[dataset];
  return fail(`--data ${dir}: no ${want} found there`);
}

/** A network of ardkit/models, by its name on the command line. */
function build(name: TeacherBuilder | StudentName, options: CifarNetOptions): tfl.LayersModel {
  switch (name) {
    case 'resnet18':
      return resNet18(options);
    case 'preact-resnet18':
      return preActResNet18(options);
    case 'wrn-16-4':
      return wideResNet({ ...options, depth: 16, widthFactor: 4 });
    case 'wrn-28-10':
      return wideResNet({ ...options, depth: 28, widthFactor: 10 });
    case 'wrn-34-10':
      return wideResNet({ ...options, depth: 34, widthFactor: 10 });
    case 'mobilenetv2':
      return mobileNetV2(options);
    case 'small-cnn':
      return smallCnn({ inputShape: [32, 32, 3], numClasses: options.classes ?? 10, filters: [8, 16], hidden: 32, seed: options.seed ?? 0 });
  }
}

const ARCH_NAMES: Record<TeacherBuilder | StudentName, string> = {
  resnet18: 'ResNet-18',
  'preact-resnet18': 'PreAct ResNet-18',
  'wrn-16-4': 'WRN-16-4',
  'wrn-28-10': 'WRN-28-10',
  'wrn-34-10': 'WRN-34-10',
  mobilenetv2: 'MobileNetV2',
  'small-cnn': 'small CNN'
};

/** Thrown from fit's callbacks to stop a run after `--steps` optimizer steps. */
class StopTraining extends Error {}

interface TrainSettings {
  readonly label: string;
  readonly epochs: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  /** Epochs after which the rate is divided by 10. */
  readonly milestones: number[];
  readonly dir: string;
  readonly resume: boolean;
  readonly steps: number | undefined;
}

interface TrainOutcome {
  /** Optimizer steps done in all, resumed ones included. */
  readonly steps: number;
  /** Whether `--steps` stopped the run before its last epoch ended. */
  readonly stopped: boolean;
  /** Mean seconds per step in this process, the first (warm-up, and fit's checks of the data) left out when there were more. */
  readonly secondsPerStep: number | undefined;
}

/**
 * `fit` with the recipe's SGD, schedule, augmentation and checkpoints after every epoch. With `steps`, the run stops
 * after that many optimizer steps in all: the checkpoint of the last whole epoch stays the one to resume from.
 */
async function train(student: Student | tfl.LayersModel, data: FitData & { x: tf.Tensor }, objective: Objective, s: TrainSettings): Promise<TrainOutcome> {
  const batches = Math.ceil((data.x.shape[0] ?? 0) / s.batchSize);
  const bar = progress(s.label, s.epochs);
  const times: number[] = [];
  let done = 0;
  let last = performance.now();
  let logged = last;
  const reached = (): boolean => s.steps !== undefined && done >= s.steps;
  let stopped = false;
  try {
    await fit(student, data, objective, {
      epochs: s.epochs,
      batchSize: s.batchSize,
      seed: s.seed,
      learningRate: s.learningRate,
      weightDecay: s.weightDecay,
      schedule: multiStep({ milestones: s.milestones }),
      augment: cifarAugment(),
      checkpoint: { dir: s.dir, keep: 2 },
      resume: s.resume,
      onBatchEnd: async (b) => {
        await bar.onBatchEnd?.(b);
        const now = performance.now();
        times.push((now - last) / 1000);
        last = now;
        done = b.epoch * batches + b.batch + 1;
        // Without a terminal (a log file) the bar is not drawn: a line every 5 minutes instead, as epochs take hours.
        if (!process.stderr.isTTY && now - logged > 300_000) {
          logged = now;
          const mean = times.length > 1 ? times.slice(1).reduce((a, t) => a + t, 0) / (times.length - 1) : (times[0] ?? 0);
          console.log(`  ${s.label} epoch ${String(b.epoch + 1)}/${String(s.epochs)}: step ${String(b.batch + 1)}/${String(batches)}, loss ${b.loss.toFixed(4)}, ${mean.toFixed(1)} s per step`);
        }
        // At an epoch's last batch the run goes on to its checkpoint, and stops in onEpochEnd.
        if (reached() && b.batch + 1 < batches) throw new StopTraining();
      },
      onEpochEnd: async (e) => {
        await bar.onEpochEnd?.(e);
        last = performance.now();
        if (reached() && e.epoch + 1 < s.epochs) throw new StopTraining();
      }
    });
  } catch (error) {
    if (!(error instanceof StopTraining)) throw error;
    stopped = true;
    if (process.stderr.isTTY) process.stderr.write('\r'.padEnd(110) + '\r');
  }
  const timed = times.length > 1 ? times.slice(1) : times;
  const secondsPerStep = timed.length === 0 ? undefined : timed.reduce((a, b) => a + b, 0) / timed.length;
  return { steps: done, stopped, secondsPerStep };
}

const plural = (n: number, word: string): string => `${String(n)} ${word}${n === 1 ? '' : 's'}`;

/** `42 s`, `17 min`, `3.4 h`. */
function duration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Says where a run stopped and how fast its steps were, with the time an epoch of `epochImages` would take. */
function reportSteps(label: string, outcome: TrainOutcome, batchSize: number, epochImages: number): void {
  const perStep = outcome.secondsPerStep;
  const speed =
    perStep === undefined
      ? ''
      : `; ${perStep.toFixed(2)} s per step of ${String(batchSize)} (${(batchSize / perStep).toFixed(2)} images/s)` +
        `, ≈ ${duration(perStep * Math.ceil(epochImages / batchSize))} per epoch of ${String(epochImages)} images`;
  if (outcome.stopped) console.log(`  ${label}: stopped after ${plural(outcome.steps, 'step')} (--steps)${speed}`);
  else if (perStep !== undefined) console.log(`  ${label}: ${plural(outcome.steps, 'step')}${speed}`);
}

/** The rate milestones of a schedule given as fractions of the epochs (distinct, inside the run). */
function milestones(epochs: number, fractions: readonly number[]): number[] {
  return [...new Set(fractions.map((f) => Math.round(epochs * f)))].filter((m) => m > 0 && m < epochs);
}

const pct = (v: number | undefined): string => (v === undefined ? '—' : `${(v * 100).toFixed(1)}%`).padStart(10);

async function main(): Promise<void> {
  if (opts.data === undefined) fail('--data <dir> is required (the CIFAR binary files); --help lists the options');
  if (opts.teacher === undefined) fail(`--teacher is required: an .onnx file or one of ${TEACHER_BUILDERS.join(', ')}`);
  const method: Method = choice('method', opts.method, METHODS);
  const studentName: StudentName = choice('student', opts.student, STUDENTS);
  const dataset = choice('dataset', opts.dataset, ['auto', 'cifar10', 'cifar100'] as const);
  const labels = choice('labels', opts.labels, ['fine', 'coarse'] as const);
  const autoAttackVersion = choice('autoattack', opts.autoattack, ['standard', 'fast'] as const);
  const eps = radius('eps', opts.eps);
  const stepSize = opts['step-size'].startsWith('ε') ? eps / 4 : radius('step-size', opts['step-size']);
  const attackSteps = positive('attack-steps', opts['attack-steps'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const teacherEpochs = opts['teacher-epochs'] === '0' ? 0 : positive('teacher-epochs', opts['teacher-epochs'], true);
  const pgdSteps = positive('pgd-steps', opts['pgd-steps'], true);
  const givenBatch = opts['batch-size'] === 'auto' ? undefined : positive('batch-size', opts['batch-size'], true);
  const givenRate = opts.lr === 'auto' ? undefined : positive('lr', opts.lr);
  const weightDecay = Number(opts['weight-decay']);
  if (!Number.isFinite(weightDecay) || weightDecay < 0) fail(`--weight-decay must be a number >= 0 (got ${JSON.stringify(opts['weight-decay'])})`);
  const trainSize = opts['train-size'] === 'all' ? undefined : positive('train-size', opts['train-size'], true);
  const testSize = positive('test-size', opts['test-size'], true);
  const steps = opts.steps === undefined ? undefined : positive('steps', opts.steps, true);
  const aaSteps = positive('aa-steps', opts['aa-steps'], true);
  const aaQueries = positive('aa-queries', opts['aa-queries'], true);
  const evalBatch = positive('eval-batch-size', opts['eval-batch-size'], true);
  const seed = Number(opts.seed);
  if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be an integer >= 0 (got ${JSON.stringify(opts.seed)})`);
  const files = cifarFiles(opts.data, dataset);
  if (files.variant === 10 && opts.labels !== 'fine') fail('--labels is for CIFAR-100 only');
  const onnx = opts.teacher.toLowerCase().endsWith('.onnx');
  const teacherBuilder = onnx ? undefined : choice('teacher', opts.teacher, TEACHER_BUILDERS);
  if (onnx && !fs.existsSync(opts.teacher)) fail(`--teacher ${opts.teacher}: no such file`);

  const ckptRoot = opts['checkpoint-dir'];
  const key = `${files.variant === 10 ? 'cifar10' : `cifar100${labels}`}-n${trainSize === undefined ? 'all' : String(trainSize)}-eps${showRadius(eps).replace('/', 'over')}-s${String(seed)}`;
  const studentDir = path.join(ckptRoot, `student-${studentName}-${method}-${key}`);
  const resuming = fs.existsSync(path.join(studentDir, 'latest.json'));
  if (!opts.resume && resuming) {
    fail(`${studentDir} holds checkpoints of an earlier run: pass --resume to continue it, or remove the folder (or give another --checkpoint-dir) to start again`);
  }

  const t0 = performance.now();
  const backend = await chooseBackend(opts.backend, opts.threads);
  // The papers' batch of 128 where memory allows it; on wasm (4 GB) and cpu, 16 with the same rate per example.
  const smallMemory = (tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu') && studentName !== 'small-cnn';
  const batchSize = givenBatch ?? (smallMemory ? WASM_BATCH : 128);
  const learningRate = givenRate ?? (0.1 * batchSize) / 128;
  const dataName = files.variant === 10 ? 'CIFAR-10' : `CIFAR-100 (${labels} labels)`;
  const cifarOptions = files.variant === 10 ? { variant: 10 as const } : { variant: 100 as const, labels };
  const trainSet = await loadCifar(files.train, { ...cifarOptions, ...(trainSize === undefined ? {} : { limit: trainSize }) });
  const test = await loadCifar(files.test, { ...cifarOptions, limit: testSize });
  const classes = files.variant === 10 ? 10 : labels === 'fine' ? 100 : 20;
  const nTrain = trainSet.x.shape[0];
  const nTest = test.x.shape[0];
  console.log(`robust distillation on ${dataName}: ${String(nTrain)} training and ${String(nTest)} test images, ε = ${showRadius(eps)}, backend ${backend}`);
  if (tf.getBackend() === 'wasm' && studentName !== 'small-cnn' && Math.min(batchSize, nTrain) > WASM_BATCH) {
    console.warn(
      `warning: batches of ${String(batchSize)} may not fit in wasm's 4 GB of memory (a training step of ${ARCH_NAMES[studentName]} takes about ${studentName === 'resnet18' ? '0.05' : '0.1'} GB per image:` +
        ` RSLAD with MobileNetV2 runs at batch ${String(WASM_BATCH)} on this project's machines and ends at 32 in XNNPACK's "out of memory" and an abort).` +
        ` Use --batch-size ${String(WASM_BATCH)} --lr ${String((learningRate * WASM_BATCH) / batchSize)} (the same rate per example), or a GPU backend (--backend webgpu or tensorflow).`
    );
  }
  // The recipes' objectives (TRADES' β = 6 for CIFAR) with this example's training attack.
  const attack = { stepSize, steps: attackSteps };
  const normalization = NORMALIZATION[files.variant];

  // The teacher: an ONNX file, or a network trained here with PGD-AT (cached: a finished run resumes to its end).
  let teacher: Model;
  let teacherName: string;
  let disposeTeacher: () => void;
  if (teacherBuilder === undefined) {
    const model = await loadOnnx(opts.teacher);
    if (model.inputShape.join(',') !== '32,32,3') fail(`--teacher ${opts.teacher}: takes inputs of shape [${model.inputShape.join(', ')}] (NHWC), not CIFAR's [32, 32, 3]`);
    if (model.classes !== classes) fail(`--teacher ${opts.teacher}: has ${String(model.classes)} classes, ${dataName} has ${String(classes)}`);
    teacher = model;
    teacherName = path.basename(opts.teacher);
    disposeTeacher = () => { model.dispose(); };
    console.log(`teacher: ${teacherName} (ONNX)`);
  } else {
    const net = build(teacherBuilder, { classes, seed: seed + 1, normalization });
    teacherName = `${ARCH_NAMES[teacherBuilder]}, PGD-AT`;
    const dir = path.join(ckptRoot, `teacher-${teacherBuilder}-${key}-e${String(teacherEpochs)}-k${String(attackSteps)}-b${String(batchSize)}`);
    const size = `${ARCH_NAMES[teacherBuilder]} (${(net.countParams() / 1e6).toFixed(2)} M parameters)`;
    if (teacherEpochs === 0) {
      teacherName = `${ARCH_NAMES[teacherBuilder]}, untrained`;
      console.log(`teacher: ${size}, untrained (--teacher-epochs 0: for timing runs)`);
    } else {
      console.log(`teacher: ${size}, PGD adversarial training for ${plural(teacherEpochs, 'epoch')}, cached in ${dir}`);
      const outcome = await train(net, trainSet, recipeObjective('pgdAt', { eps, dataset: 'cifar' }, attack), {
        label: 'teacher',
        epochs: teacherEpochs,
        batchSize,
        seed: seed + 1,
        learningRate: 0.1,
        weightDecay: 5e-4,
        milestones: milestones(teacherEpochs, [0.5, 0.75]),
        dir,
        resume: true,
        steps
      });
      reportSteps('teacher', outcome, batchSize, nTrain);
    }
    teacher = fromLayersModel(net);
    disposeTeacher = () => { net.dispose(); };
  }

  // The student and its objective.
  // RSLAD, ARD and AdaAD: the KL reduction of the authors' code, for which the paper's learning rate was chosen.
  const inputs = { eps, dataset: 'cifar', teacher } as const;
  const objective =
    method === 'rslad' || method === 'ard' || method === 'adaad'
      ? recipeObjective(method, inputs, { ...attack, klReduction: 'classMean' })
      : recipeObjective(method, inputs, attack);
  const studentNet = build(studentName, { classes, seed: seed + 3, normalization });
  const studentArch = ARCH_NAMES[studentName];
  console.log(
    `student: ${studentArch} (${(studentNet.countParams() / 1e6).toFixed(2)} M parameters), ${method} for ${plural(epochs, 'epoch')}` +
      ` (batch ${String(batchSize)}, SGD ${String(learningRate)} momentum 0.9, weight decay ${String(weightDecay)}; attack: ${plural(attackSteps, 'step')} of ${showRadius(stepSize)})` +
      `, checkpoints in ${studentDir}${resuming ? ' (resuming)' : ''}`
  );
  const studentForFit = studentFromLayers(studentNet, studentName === 'small-cnn' ? {} : { featuresLayer: 'features' });
  const outcome = await train(studentForFit, trainSet, objective, {
    label: 'student',
    epochs,
    batchSize,
    seed,
    learningRate,
    weightDecay,
    milestones: milestones(epochs, [215 / 300, 260 / 300, 285 / 300]),
    dir: studentDir,
    resume: opts.resume,
    steps
  });
  reportSteps('student', outcome, batchSize, nTrain);
  const student = objective.deploy === undefined ? fromLayersModel(studentNet) : objective.deploy(fromLayersModel(studentNet));

  // Evaluation: clean and PGD-20 for both, AutoAttack for the student, in batches of --eval-batch-size.
  const attacks = { pgd: pgdAttack({ eps, steps: pgdSteps, stepSize: eps / 4, seed }) };
  const teacherResult = await evaluate(teacher, test.x, test.y, { attacks, batchSize: evalBatch });
  const studentResult = await evaluate(student, test.x, test.y, { attacks, batchSize: evalBatch });
  let robust = 0;
  for (let start = 0; start < nTest; start += evalBatch) {
    const size = Math.min(evalBatch, nTest - start);
    const [x, y] = [tf.slice(test.x, start, size), tf.slice(test.y, start, size)];
    const r = await autoAttack(student, x, y, { eps, version: autoAttackVersion, steps: aaSteps, queries: aaQueries, seed });
    robust += r.worstCase * size;
    tf.dispose([x, y, r.xAdv]);
  }
  const aa = autoAttackVersion === 'standard' ? 'AutoAttack' : 'AA (fast)';
  const pgdName = `PGD-${String(pgdSteps)}`;
  console.log(`\nrobust accuracy at ε = ${showRadius(eps)} on ${String(nTest)} ${dataName} test images (${pgdName}: steps of ε/4 from a random start)\n`);
  console.log(`${'model'.padEnd(36)}${'clean'.padStart(10)}${pgdName.padStart(10)}${aa.padStart(12)}`);
  console.log(`${`teacher (${teacherName})`.padEnd(36)}${pct(teacherResult.clean)}${pct(teacherResult.attacks.pgd)}${pct(undefined).padStart(12)}`);
  console.log(`${`student (${studentArch}, ${method})`.padEnd(36)}${pct(studentResult.clean)}${pct(studentResult.attacks.pgd)}${pct(robust / nTest).padStart(12)}`);

  // The student in tfjs' format as it is deployed (LTD's with its logits divided by τ_S, a Rescaling layer in the
  // file), read back once to check that it gives the logits that were evaluated.
  const tauS = method === 'ltd' ? (objective as LtdObjective).studentTemperature : undefined;
  const deployedNet = tauS === undefined ? studentNet : withTemperatureLayer(studentNet, tauS);
  await deployedNet.save(fileSystem(opts.out));
  const reloaded = await tfl.loadLayersModel(fileSystem(path.join(opts.out, 'model.json')));
  const probe = tf.slice(test.x, 0, Math.min(nTest, 16));
  const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(fromLayersModel(reloaded)(probe), student(probe)))));
  const maxGap = (await gap.data())[0] ?? NaN;
  console.log(`\n  saved the student to ${opts.out}/model.json (reloaded: max |Δ logits| = ${String(maxGap)})`);
  if (tauS !== undefined) console.log(`  LTD's student is saved as it deploys: its logits divided by τ_S = ${String(tauS)} (withTemperatureLayer, a Rescaling layer)`);
  tf.dispose([probe, gap, trainSet.x, trainSet.y, test.x, test.y]);
  reloaded.dispose();
  if (deployedNet !== studentNet) deployedNet.dispose();
  studentNet.dispose();
  disposeTeacher();
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

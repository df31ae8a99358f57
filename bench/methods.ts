/**
 * The method benchmark (`npm run bench:methods`, never part of the tests): on real data, train a robust teacher,
 * then the same student architecture from the same initialisation with every training method, and evaluate every
 * model (teachers too) on held-out test images: clean, PGD-20, CW-20 and AutoAttack (standard), with
 * `sanityChecks`' flags. Two model families: MLPs (teacher 784-256-256-10, student 784-64-10) and CNNs (a CNN
 * teacher and a CNN student with under 1/8 of its parameters). Writes bench/methods.json and docs/methods.md.
 *
 *   npm run bench:methods                       # MNIST, both families, 2 seeds
 *   npm run bench:methods -- --quick            # a smaller run (fewer images, 1 seed, MLPs)
 *   npm run bench:methods -- --dataset fashion-mnist --seeds 3 --eps 0.1
 *   npm run bench:methods -- --train-images a.gz --train-labels b.gz --test-images c.gz --test-labels d.gz
 *
 * Resumable: every model is trained through fit's checkpoints in --cache, and every evaluation is kept there, so an
 * interrupted run picks up where it stopped. Teachers are trained once (seed 0) and shared by the students of every
 * seed; the seeds vary the students' initialisation, data order and attack starts.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { cwLinf, pgd } from 'ardkit/attacks';
import { evaluate, sanityChecks, selectTeachers, transferability, autoAttack } from 'ardkit/eval';
import { fashionMnistFiles, loadCifar, loadIdxDataset, type ImageDataset } from 'ardkit/data';
import { studentFromLayers, studentTeacherHead } from 'ardkit/models';
import type { Model } from 'ardkit/core';
import { fileSystem } from 'ardkit/io';
import {
  adaad,
  ard,
  cosine,
  arrest,
  crdnd,
  darht,
  featuresOf,
  fit,
  iad,
  ltd,
  mart,
  mtard,
  natural,
  pgdAt,
  rslad,
  trades,
  type Objective,
  type Student
} from 'ardkit/train';
import { BACKEND_OPTIONS, parseOptions, positive } from '../examples/cli.js';
import { chooseBackend } from '../examples/common.js';
import { mnistDir } from '../examples/mnist.js';

const opts = parseOptions('Usage: npm run bench:methods -- [options]', {
  ...BACKEND_OPTIONS,
  dataset: { type: 'string', description: 'mnist (bundled), fashion-mnist (Debian dataset-fashion-mnist), or custom with the file options', default: 'mnist' },
  'train-images': { type: 'string', description: 'IDX training images (gzipped or not)', default: '' },
  'train-labels': { type: 'string', description: 'IDX training labels', default: '' },
  'test-images': { type: 'string', description: 'IDX test images', default: '' },
  'test-labels': { type: 'string', description: 'IDX test labels', default: '' },
  'cifar-train': { type: 'string', description: 'CIFAR-10 binary training batches, comma-separated', default: '' },
  'cifar-test': { type: 'string', description: 'CIFAR-10 binary test batch', default: '' },
  seeds: { type: 'string', description: 'student seeds (0, 1, …)', default: '2' },
  eps: { type: 'string', description: 'L∞ radius of training and evaluation (default 0.1; 8/255 for CIFAR)', default: '' },
  families: { type: 'string', description: 'mlp, cnn or both', default: 'mlp,cnn' },
  methods: { type: 'string', description: 'comma-separated subset of the methods (default: all)', default: '' },
  jobs: { type: 'string', description: 'worker processes training and evaluating in parallel, each on one wasm thread (results depend on the thread count, so --jobs 1 also uses one thread unless --threads says otherwise)', default: '2' },
  worker: { type: 'string', description: 'internal: run as worker k/n of a parallel run', default: '' },
  quick: { type: 'boolean', description: 'a smaller run: 1 seed, MLPs, fewer images, no AutoAttack on teachers', default: false },
  'train-size': { type: 'string', description: 'training images (default 10000; --quick 4000)', default: '' },
  'test-size': { type: 'string', description: 'test images evaluated for the MLPs and the shared DARHT candidates (default 200; --quick 100)', default: '' },
  'cnn-test-size': { type: 'string', description: 'test images evaluated for the CNNs (default 100: their AutoAttack costs about 4 times the MLPs\' per image)', default: '100' },
  epochs: { type: 'string', description: 'student epochs (default 2)', default: '' },
  cache: { type: 'string', description: 'checkpoint and result cache', default: 'bench/.cache/methods' },
  models: { type: 'string', description: "folder of the trained students, in tfjs' format (<folder>/<cache key>/model.json)", default: 'examples/output/methods' },
  json: { type: 'string', description: 'results file (default bench/methods.json; --quick bench/methods-quick.json)', default: '' },
  markdown: { type: 'string', description: 'report file (default docs/methods.md; --quick docs/methods-quick.md)', default: '' }
});

const quick = opts.quick;
const seeds = positive('seeds', quick && opts.seeds === '2' ? '1' : opts.seeds, true);
const trainSize = positive('train-size', opts['train-size'] || (quick ? '4000' : '10000'), true);
const testSize = positive('test-size', opts['test-size'] || (quick ? '100' : '200'), true);
const cnnTestSize = positive('cnn-test-size', opts['cnn-test-size'], true);
/** Test images a family's models are evaluated on (the first ones of the test file). */
const testSizeOf = (family: Family): number => (family === 'cnn' ? cnnTestSize : testSize);
const epochs = positive('epochs', opts.epochs || '2', true);
const families = (quick && opts.families === 'mlp,cnn' ? 'mlp' : opts.families).split(',').filter((f) => f !== '') as Family[];
const jsonPath = opts.json || (quick ? 'bench/methods-quick.json' : 'bench/methods.json');
const markdownPath = opts.markdown || (quick ? 'docs/methods-quick.md' : 'docs/methods.md');
type Family = 'mlp' | 'cnn';
const jobCount = positive('jobs', opts.jobs, true);
const workerMatch = /^(\d+)\/(\d+)$/.exec(opts.worker);
if (opts.worker !== '' && workerMatch === null) throw new RangeError(`--worker must be k/n (got ${JSON.stringify(opts.worker)})`);
/** This process's place among the workers of a parallel run; undefined in the parent (or with --jobs 1). */
const worker = workerMatch === null ? undefined : { index: Number(workerMatch[1]), count: Number(workerMatch[2]) };

/**
 * Part of every cache key: bump it when a recipe or an objective changes, so that results of older code are never
 * reused. r2: teachers train to convergence (Adam 0.003, cosine decay, 10 epochs dense, 6 convolutional).
 */
const RECIPE = 'r2';
/** The teachers' (and DARHT candidates') recipe: students keep Adam 0.01 at a constant rate. */
const TEACHER_RATE = 0.003;
const teacherEpochsOf = (net: tfl.LayersModel): number => (net.layers.some((l) => l.getClassName() === 'Conv2D') ? 6 : 10);

// ---------------------------------------------------------------------------------------------------------------
// Data

interface Data {
  readonly name: string;
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  readonly shape: readonly number[];
  readonly eps: number;
}

async function loadData(): Promise<Data> {
  const custom = opts['train-images'] !== '';
  const cifar = opts['cifar-train'] !== '';
  const epsDefault = cifar ? 8 / 255 : 0.1;
  const eps = opts.eps === '' ? epsDefault : Number(opts.eps);
  if (!(eps > 0 && eps < 1)) throw new RangeError(`--eps must be in (0, 1) (got ${opts.eps})`);
  if (cifar) {
    const train = await loadCifar(opts['cifar-train'].split(','), { variant: 10, limit: trainSize });
    const test = await loadCifar(opts['cifar-test'], { variant: 10, limit: Math.max(testSize, cnnTestSize) });
    return { name: 'CIFAR-10', train, test, shape: [32, 32, 3], eps };
  }
  let files: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
  let name: string;
  if (custom) {
    files = { trainImages: opts['train-images'], trainLabels: opts['train-labels'], testImages: opts['test-images'], testLabels: opts['test-labels'] };
    name = path.basename(opts['train-images']);
  } else if (opts.dataset === 'fashion-mnist') {
    const tr = fashionMnistFiles('train');
    const te = fashionMnistFiles('test');
    files = { trainImages: tr.images, trainLabels: tr.labels, testImages: te.images, testLabels: te.labels };
    name = 'Fashion-MNIST';
  } else if (opts.dataset === 'mnist') {
    const d = mnistDir();
    files = {
      trainImages: path.join(d, 'train-images-idx3-ubyte'),
      trainLabels: path.join(d, 'train-labels-idx1-ubyte'),
      testImages: path.join(d, 't10k-images-idx3-ubyte'),
      testLabels: path.join(d, 't10k-labels-idx1-ubyte')
    };
    name = 'MNIST';
  } else {
    throw new RangeError(`--dataset must be mnist or fashion-mnist, or give the four IDX files (got ${JSON.stringify(opts.dataset)})`);
  }
  const train = await loadIdxDataset(files.trainImages, files.trainLabels, { limit: trainSize });
  // Test images are the file's last ones, never seen by any choice made here.
  const test = await loadIdxDataset(files.testImages, files.testLabels, { limit: Math.max(testSize, cnnTestSize) });
  return { name, train, test, shape: train.x.shape.slice(1), eps };
}

// ---------------------------------------------------------------------------------------------------------------
// Models

let uid = 0;
const he = (seed: number): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed });

/** A dense network with ReLU layers; the last hidden layer is the features. */
function mlpNet(shape: readonly number[], hidden: readonly number[], seed: number, name: string): tfl.LayersModel {
  const id = `${name}_${String(uid++)}`;
  const layers: tfl.layers.Layer[] = [tfl.layers.flatten({ inputShape: [...shape] })];
  hidden.forEach((units, i) => {
    layers.push(tfl.layers.dense({ units, activation: 'relu', kernelInitializer: he(seed * 100 + i), name: i === hidden.length - 1 ? `${id}_features` : `${id}_h${String(i)}` }));
  });
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: he(seed * 100 + 99), name: `${id}_logits` }));
  return tfl.sequential({ layers, name: id });
}

/** A CNN: conv blocks (3×3, ReLU, 2×2 max-pool), a dense feature layer (or none), logits. */
function cnnNet(shape: readonly number[], filters: readonly number[], dense: number, seed: number, name: string): tfl.LayersModel {
  const id = `${name}_${String(uid++)}`;
  const layers: tfl.layers.Layer[] = [];
  filters.forEach((f, i) => {
    layers.push(
      tfl.layers.conv2d({
        ...(i === 0 ? { inputShape: [...shape] } : {}),
        filters: f,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: he(seed * 100 + i),
        name: `${id}_conv${String(i)}`
      })
    );
    layers.push(tfl.layers.maxPooling2d({ poolSize: 2 }));
  });
  layers.push(tfl.layers.flatten({ name: dense === 0 ? `${id}_features` : `${id}_flat` }));
  if (dense > 0) layers.push(tfl.layers.dense({ units: dense, activation: 'relu', kernelInitializer: he(seed * 100 + 50), name: `${id}_features` }));
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: he(seed * 100 + 99), name: `${id}_logits` }));
  return tfl.sequential({ layers, name: id });
}

interface FamilySpec {
  readonly teacher: (seed: number) => tfl.LayersModel;
  readonly student: (seed: number) => tfl.LayersModel;
  /** The student's backbone without its last layer, for DARHT's head. */
  readonly backbone: (seed: number) => { input: tfl.SymbolicTensor; features: tfl.SymbolicTensor };
  readonly description: string;
}

function familySpec(family: Family, shape: readonly number[]): FamilySpec {
  if (family === 'mlp') {
    return {
      description: 'MLPs: teacher 784-256-256-10, student 784-64-10',
      teacher: (s) => mlpNet(shape, [256, 256], s, 'teacher'),
      student: (s) => mlpNet(shape, [64], s, 'student'),
      backbone: (s) => {
        const input = tfl.input({ shape: [...shape] });
        const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
        return { input, features: tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: he(s * 100) }).apply(flat) as tfl.SymbolicTensor };
      }
    };
  }
  return {
    description: 'CNNs: teacher conv16-conv32-dense128, student conv8-conv16 (under 1/8 of its parameters)',
    teacher: (s) => cnnNet(shape, [16, 32], 128, s, 'teacher'),
    student: (s) => cnnNet(shape, [8, 16], 0, s, 'student'),
    backbone: (s) => {
      const input = tfl.input({ shape: [...shape] });
      let h = input;
      [8, 16].forEach((f, i) => {
        h = tfl.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: he(s * 100 + i) }).apply(h) as tfl.SymbolicTensor;
        h = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tfl.SymbolicTensor;
      });
      return { input, features: tfl.layers.flatten().apply(h) as tfl.SymbolicTensor };
    }
  };
}

/** DARHT's candidate teachers besides each family's main one: other architectures, shared by the families. */
function sharedCandidates(shape: readonly number[]): ReadonlyArray<readonly [string, () => tfl.LayersModel]> {
  return [
    ['wide MLP 512', () => mlpNet(shape, [512], 4000, 'wide')],
    ['deep MLP 128×3', () => mlpNet(shape, [128, 128, 128], 4001, 'deep')],
    ['CNN 8-16', () => cnnNet(shape, [8, 16], 0, 4002, 'cnnc')]
  ];
}

const countParams = (net: tfl.LayersModel): number => net.countParams();
const asModel = (net: tfl.LayersModel): Model => (x) => net.apply(x, { training: false }) as tf.Tensor2D;
const featuresName = (net: tfl.LayersModel): string => net.layers.find((l) => l.name.endsWith('_features'))?.name ?? '';

// ---------------------------------------------------------------------------------------------------------------
// Progress

/** Work that was found cached is dropped from the plan, so the time left counts only work to do. */
let doneWeight = 0;
let spentSeconds = 0;
const started = performance.now();

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(s / 60))}:${String(s % 60).padStart(2, '0')}`;
}

let total = 0;
let lastLine = { current: '', share: 0, at: 0 };
/** Set for the collecting pass after the workers of a parallel run, and in the workers: no bar. */
let quiet = false;
/** Redraws the bar: share of the planned work done, and the time left at the pace so far. */
function bar(current: string): void {
  if (quiet || worker !== undefined) return;
  const share = total === 0 ? 0 : doneWeight / total;
  const elapsed = (performance.now() - started) / 1000;
  const left = doneWeight === 0 || spentSeconds === 0 ? NaN : (spentSeconds / doneWeight) * (total - doneWeight);
  const width = 28;
  const line = `[${'#'.repeat(Math.round(share * width)).padEnd(width, '-')}] ${(share * 100).toFixed(0).padStart(3)}% ${clock(elapsed)} elapsed, ${Number.isNaN(left) ? '?' : clock(left)} left  ${current}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line.slice(0, 150).padEnd(150)}`);
  else if (current !== lastLine.current || share - lastLine.share >= 0.01 || elapsed - lastLine.at >= 60) {
    // A log, not a terminal: a line when something changed, or once a minute.
    process.stderr.write(`${line}\n`);
    lastLine = { current, share, at: elapsed };
  }
}

async function step<T>(label: string, weight: number, work: () => Promise<T>): Promise<T> {
  bar(label);
  const t0 = performance.now();
  const out = await work();
  const seconds = (performance.now() - t0) / 1000;
  // Cached work takes no time: it leaves the plan, and only measured work sets the pace.
  if (seconds > 0.5) {
    doneWeight += weight;
    spentSeconds += seconds;
  } else {
    total -= weight;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Training and evaluation, cached

/** Test points `sanityChecks` looks at, once per method (seed 0) and teacher. */
const SANITY_POINTS = 50;

interface Scores {
  clean: number;
  pgd20: number;
  cw20: number;
  autoAttack: number | null;
  flags: string[];
  trainSeconds: number;
  evalSeconds: number;
}

function cacheFile(key: string): string {
  return path.join(opts.cache, `${key}.json`);
}
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what the JSON holds
function readCache<T>(key: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(cacheFile(key), 'utf8')) as T;
  } catch {
    return undefined;
  }
}
function writeCache(key: string, value: unknown): void {
  fs.mkdirSync(opts.cache, { recursive: true });
  const tmp = `${cacheFile(key)}.tmp-${String(process.pid)}`;
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, cacheFile(key));
}

/** Seconds of every training and evaluation of the run, by cache key (cached work counts with its measured time). */
const computed = new Map<string, number>();
const computeMinutes = (): number => [...computed.values()].reduce((a, b) => a + b, 0) / 60;

// Parallel runs: workers share the cache and claim each piece of work with a file created atomically.

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims `key` for this worker; false when a live worker holds it. A claim of a dead process is taken over. */
function claim(key: string): boolean {
  fs.mkdirSync(opts.cache, { recursive: true });
  const file = path.join(opts.cache, `${key}.claim`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(fs.readFileSync(file, 'utf8'));
    if (holder === process.pid) return true;
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) return false;
    fs.rmSync(file, { force: true });
  }
  return false;
}
const unclaim = (key: string): void => {
  fs.rmSync(path.join(opts.cache, `${key}.claim`), { force: true });
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Work another process needs (a teacher, the transfer matrix), done by one worker at a time: the first to claim it
 * trains it, the others wait and then load what it left (loading goes through fit's checkpoint folder too, whose
 * lock admits one process at a time). `done` tells a waiting worker the result exists. Outside a parallel run the
 * work is simply done.
 */
async function shared(key: string, done: () => boolean, work: () => Promise<void>): Promise<void> {
  if (worker === undefined) return work();
  while (!claim(key)) await sleep(done() ? 200 : 2000);
  try {
    await work();
  } finally {
    unclaim(key);
  }
}

/**
 * Trains (or resumes, or finds finished) through fit's checkpoints; returns the training seconds of the full run.
 * Students: Adam 0.01 at a constant rate. Teachers: Adam 0.003 with cosine decay, to convergence.
 */
async function train(key: string, net: tfl.LayersModel | Student, data: ImageDataset, objective: Objective, runEpochs: number, seed: number, teacher = false): Promise<number> {
  let seconds = 0;
  await shared(key, () => readCache(`${key}.trained`) !== undefined, async () => {
    const done = readCache<{ seconds: number }>(`${key}.trained`);
    seconds = done?.seconds ?? 0;
    const t0 = performance.now();
    await fit(net, data, objective, {
      epochs: runEpochs,
      batchSize: 128,
      seed,
      optimizer: tf.train.adam(teacher ? TEACHER_RATE : 0.01),
      ...(teacher ? { schedule: cosine() } : {}),
      checkpoint: { dir: path.join(opts.cache, 'checkpoints', key), keep: 1 },
      resume: true
    });
    if (done === undefined) {
      seconds = (performance.now() - t0) / 1000;
      writeCache(`${key}.trained`, { seconds });
    }
  });
  computed.set(`${key}.trained`, seconds);
  return seconds;
}

const familyData = new Map<string, Data>();
/** The data with the test set cut to the family's size (the shared candidates use the MLPs'). */
function forFamily(data: Data, family: Family): Data {
  const n = Math.min(testSizeOf(family), data.test.x.shape[0] ?? 0);
  if (n === (data.test.x.shape[0] ?? 0)) return data;
  const key = `${family}-${String(n)}`;
  let d = familyData.get(key);
  if (d === undefined) {
    d = { ...data, test: { x: tf.slice(data.test.x, 0, n), y: tf.slice(data.test.y, 0, n) } };
    familyData.set(key, d);
  }
  return d;
}

async function evaluateModel(key: string, model: Model, data: Data, withAutoAttack: boolean, trainSeconds: number, withSanity = true): Promise<Scores> {
  const cached = readCache<Scores>(`${key}.scores`);
  if (cached !== undefined) {
    computed.set(`${key}.scores`, cached.evalSeconds);
    return cached;
  }
  const t0 = performance.now();
  const { eps } = data;
  const r = await evaluate(model, data.test.x, data.test.y, {
    attacks: {
      pgd20: (m, x, y) => pgd(m, x, y, { eps, steps: 20, seed: 0 }),
      cw20: (m, x, y) => cwLinf(m, x, y, { eps, steps: 20, seed: 0 })
    },
    batchSize: 500
  });
  const aa = withAutoAttack ? (await autoAttack(model, data.test.x, data.test.y, { eps, seed: 0 })).worstCase : null;
  let flags: string[] = [];
  if (withSanity) {
    const n = Math.min(SANITY_POINTS, data.test.x.shape[0] ?? 0);
    const xs = tf.slice(data.test.x, 0, n);
    const ys = tf.slice(data.test.y, 0, n);
    flags = (await sanityChecks(model, xs, ys, { eps, seed: 0 })).map((f) => f.id);
    tf.dispose([xs, ys]);
  }
  const scores: Scores = { clean: r.clean, pgd20: r.attacks.pgd20 ?? NaN, cw20: r.attacks.cw20 ?? NaN, autoAttack: aa, flags, trainSeconds, evalSeconds: (performance.now() - t0) / 1000 };
  writeCache(`${key}.scores`, scores);
  computed.set(`${key}.scores`, scores.evalSeconds);
  return scores;
}

// ---------------------------------------------------------------------------------------------------------------
// The methods

const METHODS = [
  'natural',
  'pgdAt',
  'trades',
  'mart',
  'ard',
  'rslad',
  'iad',
  'adaad',
  'mtard',
  'ltd (pgdAt)',
  'ltd (trades)',
  'aft',
  'arrest',
  'crdnd (confidence)',
  'crdnd (learned)',
  'darht (1 teacher)',
  'darht'
] as const;
type Method = (typeof METHODS)[number];
const selected: readonly Method[] = opts.methods === '' ? METHODS : (opts.methods.split(',') as Method[]);
for (const m of selected) if (!METHODS.includes(m)) throw new RangeError(`--methods: unknown method ${JSON.stringify(m)} (known: ${METHODS.join(', ')})`);

/** Relative cost of training one student with each method (PGD-AT = 1), for the progress estimate. */
const COST: Record<Method, number> = {
  natural: 0.2,
  pgdAt: 1,
  trades: 1.3,
  mart: 1.2,
  ard: 1.1,
  rslad: 1.3,
  iad: 1.2,
  adaad: 1.8,
  mtard: 1.3,
  'ltd (pgdAt)': 1.1,
  'ltd (trades)': 1.3,
  aft: 1,
  arrest: 1.2,
  'crdnd (confidence)': 1.1,
  'crdnd (learned)': 1.1,
  'darht (1 teacher)': 0.8,
  darht: 0.9
};

/** Relative cost of a family's models (CNNs cost more per image). */
const scale = (family: Family): number => (family === 'cnn' ? 2 : 1);
/** A student's share of the work: training, then its evaluation (which dominates: AutoAttack's 5000 Square queries). */
const studentWeight = (method: Method, family: Family): number => (COST[method] * epochs + 16) * scale(family);

interface Row {
  readonly family: Family;
  readonly role: 'teacher' | 'student';
  readonly name: string;
  readonly params: number;
  readonly seeds: Scores[];
}

interface Teachers {
  robust: Model;
  clean: Model;
  standard: tfl.LayersModel;
  darht: Model[];
  darhtNames: string[];
  transfer: { names: string[]; matrix: number[][]; selected: string[]; meanTransfer: number };
}

/** The cache-key prefix of a family's models. */
const familyTag = (data: Data, family: Family): string => `${data.name}-${family}-${String(trainSize)}-${String(data.eps)}-${RECIPE}`;
/** The cache-key prefix of the models the families share (DARHT's candidates). */
const sharedTag = (data: Data): string => `${data.name}-${String(trainSize)}-${String(data.eps)}-${RECIPE}`;
/** The evaluations a family's teacher step ends with (the progress bar watches for them). */
const teacherEvalKeys = (data: Data, family: Family): string[] => [
  ...['teacher (PGD-AT)', 'clean teacher'].map((n) => `${familyTag(data, family)}-eval-t${String(testSizeOf(family))}-${n}`),
  ...sharedCandidates(data.shape).map(([n]) => `${sharedTag(data)}-eval-t${String(testSize)}-candidate ${n}`)
];

/**
 * Evaluates once: the cached scores if there are any; in a worker, undefined when another worker has claimed the
 * evaluation (workers write no report, so they need no row).
 */
async function evaluateClaimed(key: string, model: () => Model, data: Data, withAutoAttack: boolean, trainSeconds: number, withSanity = true): Promise<Scores | undefined> {
  const cached = readCache<Scores>(`${key}.scores`);
  if (cached !== undefined || worker === undefined) return evaluateModel(key, model(), data, withAutoAttack, trainSeconds, withSanity);
  if (!claim(key)) return undefined;
  try {
    return await evaluateModel(key, model(), data, withAutoAttack, trainSeconds, withSanity);
  } finally {
    unclaim(key);
  }
}

async function familyRun(family: Family, data: Data, rows: Row[]): Promise<Teachers> {
  const spec = familySpec(family, data.shape);
  const attack = { eps: data.eps, steps: 5 };
  const tag = familyTag(data, family);
  const teacherRow = (name: string, net: tfl.LayersModel, scores: Scores | undefined): void => {
    if (scores !== undefined) rows.push({ family, role: 'teacher', name, params: countParams(net), seeds: [scores] });
  };

  // The robust teacher (PGD-AT), the clean teacher (MTARD) and the standard model (AFT, ARREST: the student's
  // architecture trained on clean data).
  const robustNet = spec.teacher(1000);
  const teacherEpochs = teacherEpochsOf(robustNet);
  const robustSeconds = await step(`${family}: robust teacher`, 5 * teacherEpochs * scale(family), () => train(`${tag}-teacher-robust`, robustNet, data.train, pgdAt(attack), teacherEpochs, 0, true));
  const cleanNet = spec.teacher(2000);
  const cleanSeconds = await step(`${family}: clean teacher`, teacherEpochs * scale(family), () => train(`${tag}-teacher-clean`, cleanNet, data.train, natural(), teacherEpochs, 0, true));
  const standardNet = spec.student(3000);
  await step(`${family}: standard model`, 0.3 * epochs * scale(family), () => train(`${tag}-standard`, standardNet, data.train, natural(), epochs, 0));

  // DARHT's candidates: the robust teacher and three other architectures, PGD-AT (shared by the families: trained
  // and evaluated once); pick the two whose adversarial examples transfer least to each other.
  const candidates: Array<[string, tfl.LayersModel]> = [[family === 'mlp' ? 'MLP 256-256 (teacher)' : 'CNN 16-32-128 (teacher)', robustNet]];
  for (const [name, make] of sharedCandidates(data.shape)) {
    const net = make();
    const key = `${sharedTag(data)}-candidate-${name.replace(/[^a-z0-9]+/gi, '_')}`;
    const e = teacherEpochsOf(net);
    await step(`DARHT candidate ${name}`, 4 * e, () => train(key, net, data.train, pgdAt(attack), e, 1, true));
    candidates.push([name, net]);
  }
  const transferKey = `${tag}-transfer`;
  await shared(transferKey, () => readCache(transferKey) !== undefined, async () => {
    if (readCache(transferKey) !== undefined) return;
    const n = Math.min(300, data.test.x.shape[0] ?? 0);
    // Measured on training images: the choice of teachers never looks at the test set.
    const probeX = tf.slice(data.train.x, 0, n);
    const probeY = tf.slice(data.train.y, 0, n);
    const t = await transferability(Object.fromEntries(candidates.map(([name, net]) => [name, asModel(net)])), probeX, probeY, (m, x, y) => pgd(m, x, y, { eps: data.eps, steps: 10, seed: 0 }));
    const choice = await selectTeachers(t, 2, { minAccuracy: 0.5 });
    writeCache(transferKey, { names: [...t.names], matrix: t.matrix.map((r) => [...r]), selected: [...choice.selected], meanTransfer: choice.meanTransfer });
    tf.dispose([probeX, probeY]);
  });
  const transfer = readCache<Teachers['transfer']>(transferKey);
  if (transfer === undefined) throw new Error(`the transfer matrix ${transferKey} is missing from the cache`);
  const chosen = transfer.selected;

  const teachersEvaluated: Array<[string, tfl.LayersModel, number]> = [
    ['teacher (PGD-AT)', robustNet, robustSeconds],
    ['clean teacher', cleanNet, cleanSeconds],
    ...candidates.slice(1).map(([name, net]) => [`candidate ${name}`, net, 0] as [string, tfl.LayersModel, number])
  ];
  for (const [name, net, seconds] of teachersEvaluated) {
    const candidate = name.startsWith('candidate ');
    const key = candidate ? `${sharedTag(data)}-eval-t${String(testSize)}-${name}` : `${tag}-eval-t${String(testSizeOf(family))}-${name}`;
    const on = forFamily(data, candidate ? 'mlp' : family);
    const scores = await step(`${family}: evaluate ${name}`, 20 * scale(family), () => evaluateClaimed(key, () => asModel(net), on, !quick || name === 'teacher (PGD-AT)', seconds));
    teacherRow(name, net, scores);
  }
  return {
    robust: asModel(robustNet),
    clean: asModel(cleanNet),
    standard: standardNet,
    darht: chosen.map((c) => asModel(candidates.find(([n]) => n === c)?.[1] ?? robustNet)),
    darhtNames: chosen,
    transfer
  };
}

/** Builds a student and its objective for one method. */
function make(method: Method, family: Family, data: Data, t: Teachers, seed: number): { net: tfl.LayersModel; student: Student | tfl.LayersModel; objective: Objective } {
  const spec = familySpec(family, data.shape);
  const attack = { eps: data.eps, steps: 5 };
  const teacher = t.robust;
  const plain = (objective: Objective): ReturnType<typeof make> => {
    const net = spec.student(seed);
    return { net, student: net, objective };
  };
  const darhtStudent = (teachers: Model[]): ReturnType<typeof make> => {
    const { input, features } = spec.backbone(seed);
    const head = studentTeacherHead(teachers.length, 10, { seed: seed + 1, name: `head_${String(uid++)}` });
    const logits = head.logitsLayer.apply(head.featureMapLayer.apply(features)) as tfl.SymbolicTensor;
    const net = tfl.model({ inputs: input, outputs: logits });
    return { net, student: studentFromLayers(net, { featureMapLayer: head.featureMapLayer.name }), objective: darht({ ...attack, teachers }) };
  };
  const fromStandard = (): { net: tfl.LayersModel; student: Student } => {
    const net = spec.student(seed);
    net.setWeights(t.standard.getWeights());
    return { net, student: studentFromLayers(net, { featuresLayer: featuresName(net) }) };
  };
  switch (method) {
    case 'natural':
      return plain(natural());
    case 'pgdAt':
      return plain(pgdAt(attack));
    case 'trades':
      // β = 1: the paper's MNIST value (6 on CIFAR-10).
      return plain(trades({ ...attack, beta: data.name === 'CIFAR-10' ? 6 : 1 }));
    case 'mart':
      return plain(mart(attack));
    case 'ard':
      return plain(ard({ ...attack, teacher }));
    case 'rslad':
      return plain(rslad({ ...attack, teacher }));
    case 'iad':
      return plain(iad({ ...attack, teacher }));
    case 'adaad':
      return plain(adaad({ ...attack, teacher }));
    case 'mtard':
      return plain(mtard({ ...attack, cleanTeacher: t.clean, robustTeacher: teacher }));
    case 'ltd (pgdAt)':
      return plain(ltd({ ...attack, teacher }));
    case 'ltd (trades)':
      return plain(ltd({ ...attack, teacher, base: 'trades', beta: data.name === 'CIFAR-10' ? 6 : 1 }));
    case 'aft': {
      const s = fromStandard();
      return { ...s, objective: pgdAt(attack) };
    }
    case 'arrest': {
      const s = fromStandard();
      const std = studentFromLayers(t.standard, { featuresLayer: featuresName(t.standard) });
      return { ...s, objective: arrest({ ...attack, standardFeatures: featuresOf(std) }) };
    }
    case 'crdnd (confidence)':
      return plain(crdnd({ ...attack, teacher }));
    case 'crdnd (learned)':
      return plain(crdnd({ ...attack, teacher, compensation: 'learned' }));
    case 'darht (1 teacher)':
      return darhtStudent([teacher]);
    case 'darht':
      return darhtStudent(t.darht);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report

interface Summary {
  mean: Record<'clean' | 'pgd20' | 'cw20' | 'autoAttack' | 'trainSeconds', number | null>;
  spread: Record<'clean' | 'pgd20' | 'cw20' | 'autoAttack', number | null>;
  flags: string[];
}

function summarise(row: Row): Summary {
  const pick = (k: 'clean' | 'pgd20' | 'cw20' | 'autoAttack' | 'trainSeconds'): number[] =>
    row.seeds.map((s) => s[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const mean = (v: number[]): number | null => (v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length);
  const spread = (v: number[]): number | null => (v.length < 2 ? null : Math.max(...v) - Math.min(...v));
  return {
    mean: { clean: mean(pick('clean')), pgd20: mean(pick('pgd20')), cw20: mean(pick('cw20')), autoAttack: mean(pick('autoAttack')), trainSeconds: mean(pick('trainSeconds')) },
    spread: { clean: spread(pick('clean')), pgd20: spread(pick('pgd20')), cw20: spread(pick('cw20')), autoAttack: spread(pick('autoAttack')) },
    flags: [...new Set(row.seeds.flatMap((s) => s.flags))]
  };
}

const pct = (v: number | null): string => (v === null ? '–' : (v * 100).toFixed(1));
const cell = (m: number | null, s: number | null): string => (s === null ? pct(m) : `${pct(m)} ± ${(s * 50).toFixed(1)}`);

interface Ordering {
  readonly family: Family;
  readonly claim: string;
  readonly held: boolean | null;
  readonly detail: string;
}

function orderings(rows: Row[]): Ordering[] {
  const out: Ordering[] = [];
  for (const family of families) {
    const get = (name: string): Summary | undefined => {
      const r = rows.find((x) => x.family === family && x.role === 'student' && x.name === name);
      return r === undefined ? undefined : summarise(r);
    };
    const aa = (s: Summary | undefined): number | null => s?.mean.autoAttack ?? null;
    const cmp = (claim: string, a: string, b: string, test: (x: Summary, y: Summary) => boolean, detail: (x: Summary, y: Summary) => string): void => {
      const x = get(a);
      const y = get(b);
      if (x === undefined || y === undefined) return;
      out.push({ family, claim, held: test(x, y), detail: detail(x, y) });
    };
    const aaDetail = (a: string, b: string) => (x: Summary, y: Summary): string => `${a} ${pct(aa(x))} vs ${b} ${pct(aa(y))} AutoAttack`;
    for (const d of ['ard', 'rslad', 'iad', 'adaad', 'mtard']) {
      cmp(`${d} ≥ PGD-AT in AutoAttack accuracy`, d, 'pgdAt', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail(d, 'PGD-AT'));
    }
    cmp(
      'TRADES trades clean accuracy for robustness more gently than PGD-AT (higher clean accuracy, AutoAttack within 2 points or above)',
      'trades',
      'pgdAt',
      (x, y) => (x.mean.clean ?? 0) > (y.mean.clean ?? 0) && (aa(x) ?? 0) >= (aa(y) ?? 0) - 0.02,
      (x, y) => `clean ${pct(x.mean.clean)} vs ${pct(y.mean.clean)}, AutoAttack ${pct(aa(x))} vs ${pct(aa(y))}`
    );
    cmp('LTD on PGD-AT ≥ PGD-AT (AutoAttack)', 'ltd (pgdAt)', 'pgdAt', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('LTD', 'PGD-AT'));
    cmp('LTD on TRADES ≥ TRADES (AutoAttack)', 'ltd (trades)', 'trades', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('LTD', 'TRADES'));
    cmp(
      'ARREST keeps more clean accuracy than fine-tuning alone (AFT), at similar AutoAttack accuracy (within 3 points)',
      'arrest',
      'aft',
      (x, y) => (x.mean.clean ?? 0) > (y.mean.clean ?? 0) && Math.abs((aa(x) ?? 0) - (aa(y) ?? 0)) <= 0.03,
      (x, y) => `clean ${pct(x.mean.clean)} vs ${pct(y.mean.clean)}, AutoAttack ${pct(aa(x))} vs ${pct(aa(y))}`
    );
    cmp('DARHT with low-transfer teachers ≥ DARHT with one teacher (AutoAttack)', 'darht', 'darht (1 teacher)', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('DARHT', 'one teacher'));
    cmp('CRDND (confidence) ≥ ARD (AutoAttack)', 'crdnd (confidence)', 'ard', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('CRDND', 'ARD'));
    cmp('CRDND (learned) ≥ ARD (AutoAttack)', 'crdnd (learned)', 'ard', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('CRDND learned', 'ARD'));
    cmp(
      "CRDND 'learned' no worse than 'confidence' (AutoAttack within 1 point or above)",
      'crdnd (learned)',
      'crdnd (confidence)',
      (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0) - 0.01,
      aaDetail('learned', 'confidence')
    );
    cmp('DARHT within 10 points of PGD-AT (AutoAttack)', 'darht', 'pgdAt', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0) - 0.1, aaDetail('DARHT', 'PGD-AT'));
  }
  return out;
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${String(os.cpus().length)} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, backend ${tf.getBackend()}`;
}

function report(data: Data, rows: Row[], teachers: Partial<Record<Family, Teachers>>, command: string, seconds: number): void {
  const ords = orderings(rows);
  const json = {
    dataset: data.name,
    eps: data.eps,
    trainSize,
    testSize: Object.fromEntries(families.map((f) => [f, forFamily(data, f).test.x.shape[0]])),
    epochs,
    seeds,
    families,
    machine: machine(),
    command,
    date: new Date().toISOString(),
    seconds,
    computeMinutes: computeMinutes(),
    rows: rows.map((r) => ({ ...r, summary: summarise(r) })),
    darht: Object.fromEntries(Object.entries(teachers).map(([f, t]) => [f, t.transfer])),
    orderings: ords
  };
  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  const lines: string[] = [
    `# Method benchmark: ${data.name}, ε = ${String(+data.eps.toFixed(4))}`,
    '',
    `Generated by \`${command}\` (${new Date().toISOString().slice(0, 16)} UTC on ${machine()}). The run's training and evaluation took ${computeMinutes().toFixed(1)} min`,
    `in all (every model's measured time, results found in the cache included); this invocation took ${(seconds / 60).toFixed(1)} min.`,
    '',
    `Every student of a family has the same architecture and the same initial weights for a given seed, and trains for ${String(epochs)} epochs on ${String(trainSize)} training images`,
    '(batch 128, Adam 0.01, PGD-5 training attacks with steps of 2.5·ε/5 unless the method\'s attack differs). Teachers and DARHT\'s candidates train to convergence, once, and serve every seed:',
    `Adam 0.003 with cosine decay for 10 epochs (dense networks) or 6 (convolutional). ${String(jobCount)} worker process(es), one wasm thread each.`,
    `Evaluation on the first ${families.map((f) => `${String(forFamily(data, f).test.x.shape[0])} test images (${f === 'cnn' ? 'CNNs' : 'MLPs and the shared DARHT candidates'})`).join(' and ')}: clean, PGD-20 and CW-20 (κ = 0, steps 2.5·ε/20), AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square 5000 queries)`,
    `of the deployed model (LTD: logits / τ_S), and \`sanityChecks\` on ${String(SANITY_POINTS)} of them (seed 0). Accuracies in %, mean ± half the range over ${String(seeds)} seed${seeds === 1 ? '' : 's'}.`,
    ''
  ];
  for (const family of families) {
    const spec = familySpec(family, data.shape);
    lines.push(`## ${spec.description}`, '', '| model | params | clean | PGD-20 | CW-20 | AutoAttack | train s | flags |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of rows.filter((x) => x.family === family)) {
      const s = summarise(r);
      lines.push(
        `| ${r.role === 'teacher' ? `*${r.name}*` : r.name} | ${String(r.params)} | ${cell(s.mean.clean, s.spread.clean)} | ${cell(s.mean.pgd20, s.spread.pgd20)} | ${cell(s.mean.cw20, s.spread.cw20)} | ${cell(s.mean.autoAttack, s.spread.autoAttack)} | ${s.mean.trainSeconds === null ? '–' : s.mean.trainSeconds.toFixed(0)} | ${s.flags.join(', ') || '–'} |`
      );
    }
    const t = teachers[family];
    if (t !== undefined) {
      lines.push('', `DARHT's teachers, chosen by \`selectTeachers\` from ${String(t.transfer.names.length)} candidates by adversarial transfer on 300 training images: **${t.transfer.selected.join('**, **')}** (mean transfer ${pct(t.transfer.meanTransfer)} %).`, '');
      lines.push(`| from \\ to | ${t.transfer.names.join(' | ')} |`, `| --- | ${t.transfer.names.map(() => '---:').join(' | ')} |`);
      t.transfer.names.forEach((n, i) => {
        lines.push(`| ${n} | ${(t.transfer.matrix[i] ?? []).map((v, j) => (i === j ? '–' : pct(v))).join(' | ')} |`);
      });
    }
    lines.push('');
  }
  lines.push('## Orderings the papers report', '', '| family | claim | held | measured |', '| --- | --- | --- | --- |');
  for (const o of ords) lines.push(`| ${o.family} | ${o.claim} | ${o.held === null ? '–' : o.held ? 'held' : '**not held**'} | ${o.detail} |`);
  lines.push('');
  fs.mkdirSync(path.dirname(markdownPath), { recursive: true });
  const existing = fs.existsSync(markdownPath) ? fs.readFileSync(markdownPath, 'utf8') : '';
  // Hand-written analysis below the generated part is kept.
  const marker = '<!-- analysis -->';
  const analysis = existing.includes(marker) ? existing.slice(existing.indexOf(marker)) : `${marker}\n`;
  fs.writeFileSync(markdownPath, `${lines.join('\n')}\n${analysis}`);
}

// ---------------------------------------------------------------------------------------------------------------

/** One piece of planned work, for the progress bar of a parallel run: done when its last result is cached. */
interface Planned {
  readonly weight: number;
  readonly results: readonly string[];
}

function plan(data: Data): Planned[] {
  return families.flatMap((family) => [
    // The shared candidates count with every family's teachers: whichever worker gets there first trains them.
    { weight: ((family === 'cnn' ? 6 : 10) * 6 + 0.3 * epochs + 20 * 2) * scale(family) + 10 * 3 + 20 * 3 / families.length, results: teacherEvalKeys(data, family) },
    ...selected.flatMap((m) =>
      Array.from({ length: seeds }, (_, seed) => ({ weight: studentWeight(m, family), results: [`${studentKey(data, family, m, seed)}-eval-t${String(testSizeOf(family))}`] }))
    )
  ]);
}

const studentKey = (data: Data, family: Family, method: Method, seed: number): string =>
  `${familyTag(data, family)}-${method.replace(/[^a-z0-9]+/gi, '_')}-e${String(epochs)}-s${String(seed)}`;

/**
 * Runs `--jobs` workers of this script on the same cache (each claims the work it does) and draws the progress bar
 * from the results they cache. Resolves when every worker has finished; rejects when one fails.
 */
async function runWorkers(data: Data): Promise<void> {
  fs.mkdirSync(opts.cache, { recursive: true });
  // Claims left by an interrupted run: their holders are gone, and this run owns the cache now.
  for (const f of fs.readdirSync(opts.cache)) if (f.endsWith('.claim')) fs.rmSync(path.join(opts.cache, f), { force: true });
  const items = plan(data);
  const isDone = (p: Planned): boolean => p.results.every((r) => fs.existsSync(cacheFile(`${r}.scores`)));
  const todo = items.filter((p) => !isDone(p));
  total = todo.reduce((sum, p) => sum + p.weight, 0);
  const script = process.argv[1] ?? 'bench/methods.ts';
  const children = Array.from({ length: jobCount }, (_, k) => {
    const log = path.join(opts.cache, `worker-${String(k)}.log`);
    const fd = fs.openSync(log, 'w');
    const child = spawn(process.execPath, [...process.execArgv, script, ...process.argv.slice(2), '--worker', `${String(k)}/${String(jobCount)}`], { stdio: ['ignore', fd, fd] });
    return new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        fs.closeSync(fd);
        if (code === 0) resolve();
        else reject(new Error(`worker ${String(k)} ${signal === null ? `exited with code ${String(code)}` : `was killed by ${signal}`}; its log: ${log}`));
      });
    });
  });
  const t0 = performance.now();
  const timer = setInterval(() => {
    doneWeight = todo.filter(isDone).reduce((sum, p) => sum + p.weight, 0);
    spentSeconds = (performance.now() - t0) / 1000;
    bar(`${String(jobCount)} workers, logs in ${opts.cache}/worker-*.log`);
  }, 3000);
  try {
    await Promise.all(children);
  } finally {
    clearInterval(timer);
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

async function main(): Promise<void> {
  // One thread per process unless --threads says otherwise: a wasm reduction's result depends on the thread count,
  // so one setting keeps the results of --jobs 1 and --jobs 2 the same.
  const backend = await chooseBackend(opts.backend, opts.threads === 'auto' ? '1' : opts.threads);
  const data = await loadData();
  const command = `npm run bench:methods -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  if (worker === undefined) {
    console.log(`method benchmark on ${data.name}: ε = ${String(data.eps)}, ${String(trainSize)} training and ${families.map((f) => `${String(forFamily(data, f).test.x.shape[0])} (${f})`).join(' / ')} test images, ${String(seeds)} seed(s), ${families.join(' and ')}, backend ${backend}, ${String(jobCount)} job(s)`);
  }
  if (jobCount > 1 && worker === undefined) {
    await runWorkers(data);
    // Everything is cached now: the pass below only collects the results.
    quiet = true;
  }
  const rows: Row[] = [];
  const teachers: Partial<Record<Family, Teachers>> = {};
  if (jobCount === 1) total = plan(data).reduce((sum, p) => sum + p.weight, 0);
  // Workers start on different families, so that they do not wait on each other's teachers.
  const order = worker === undefined ? families : families.map((_, i) => families[(i + worker.index) % families.length] ?? 'mlp');
  for (const family of order) {
    const t = await familyRun(family, data, rows);
    teachers[family] = t;
    for (const method of selected) {
      const perSeed: Scores[] = [];
      let params = 0;
      for (let seed = 0; seed < seeds; seed++) {
        const key = studentKey(data, family, method, seed);
        const evalKey = `${key}-eval-t${String(testSizeOf(family))}`;
        if (worker !== undefined && (readCache(`${evalKey}.scores`) !== undefined || !claim(key))) continue;
        const weight = studentWeight(method, family);
        try {
          const scores = await step(`${family}: ${method} (seed ${String(seed)})`, weight, async () => {
            const built = make(method, family, data, t, seed + 1);
            params = countParams(built.net);
            const seconds = await train(key, built.student, data.train, built.objective, epochs, seed);
            // Every student is kept in tfjs' format, loadable with tf.loadLayersModel (ardkit/io in Node).
            await built.net.save(fileSystem(path.join(opts.models, key)));
            const deployed = (built.objective as { deploy?: (m: Model) => Model }).deploy;
            const model = deployed === undefined ? asModel(built.net) : deployed(asModel(built.net));
            const s = await evaluateModel(evalKey, model, forFamily(data, family), true, seconds, seed === 0);
            built.objective.dispose?.();
            built.net.dispose();
            return s;
          });
          perSeed.push(scores);
        } finally {
          if (worker !== undefined) unclaim(key);
        }
      }
      if (worker !== undefined) continue;
      rows.push({ family, role: 'student', name: method, params, seeds: perSeed });
      report(data, rows, teachers, command, (performance.now() - started) / 1000);
    }
  }
  if (worker !== undefined) return;
  if (process.stderr.isTTY && !quiet) process.stderr.write('\n');
  report(data, rows, teachers, command, (performance.now() - started) / 1000);
  console.log(`wrote ${jsonPath} and ${markdownPath} in ${((performance.now() - started) / 60000).toFixed(1)} min`);
  for (const o of orderings(rows)) console.log(`${o.held === true ? 'held    ' : 'NOT HELD'} ${o.family}: ${o.claim} — ${o.detail}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

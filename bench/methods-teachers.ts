/**
 * The method benchmark's training (through fit's checkpoints, resumable) and its teachers: per family the robust
 * teacher (PGD-AT), the clean teacher (MTARD), the standard model (AFT, ARREST), and DARHT's candidates, of which
 * `selectTeachers` keeps the two whose adversarial examples transfer least to each other.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from 'ardkit/attacks';
import { selectTeachers, transferability } from 'ardkit/eval';
import type { ImageDataset } from 'ardkit/data';
import type { Model } from 'ardkit/core';
import { cosine, fit, type Objective, type Student } from 'ardkit/train';
import { recipeObjective } from '../examples/recipes.js';
import type { Run, Settings } from './methods-cli.js';
import { evaluateClaimed, forFamily, type Scores } from './methods-evaluate.js';
import { asModel, countParams, familySpec, scale, sharedCandidates, teacherEpochsOf, testSizeOf, type Data, type Family } from './methods-models.js';

/**
 * Part of every cache key: bump it when a recipe or an objective changes, so that results of older code are never
 * reused. r2: teachers train to convergence (Adam 0.003, cosine decay, 10 epochs dense, 6 convolutional).
 */
const RECIPE = 'r2';
/** The teachers' (and DARHT candidates') recipe: students keep Adam 0.01 at a constant rate. */
const TEACHER_RATE = 0.003;

/** A row of the report: a model and its scores per seed. */
export interface Row {
  readonly family: Family;
  readonly role: 'teacher' | 'student';
  readonly name: string;
  readonly params: number;
  readonly seeds: Scores[];
}

/** A family's teachers, and DARHT's choice among its candidates. */
export interface Teachers {
  robust: Model;
  clean: Model;
  standard: tfl.LayersModel;
  darht: Model[];
  darhtNames: string[];
  transfer: { names: string[]; matrix: number[][]; selected: string[]; meanTransfer: number };
}

/** The cache-key prefix of a family's models. */
export const familyTag = (settings: Settings, data: Data, family: Family): string => `${data.name}-${family}-${String(settings.trainSize)}-${String(data.eps)}-${RECIPE}`;
/** The cache-key prefix of the models the families share (DARHT's candidates). */
const sharedTag = (settings: Settings, data: Data): string => `${data.name}-${String(settings.trainSize)}-${String(data.eps)}-${RECIPE}`;
/** The evaluations a family's teacher step ends with (the progress bar watches for them). */
export const teacherEvalKeys = (settings: Settings, data: Data, family: Family): string[] => [
  ...['teacher (PGD-AT)', 'clean teacher'].map((n) => `${familyTag(settings, data, family)}-eval-t${String(testSizeOf(settings, family))}-${n}`),
  ...sharedCandidates(data.shape).map(([n]) => `${sharedTag(settings, data)}-eval-t${String(settings.testSize)}-candidate ${n}`)
];

/**
 * Trains (or resumes, or finds finished) through fit's checkpoints; returns the training seconds of the full run.
 * Students: Adam 0.01 at a constant rate. Teachers: Adam 0.003 with cosine decay, to convergence.
 */
export async function train(run: Run, key: string, net: tfl.LayersModel | Student, data: ImageDataset, objective: Objective, runEpochs: number, seed: number, teacher = false): Promise<number> {
  const { cache } = run;
  let seconds = 0;
  await cache.shared(key, () => cache.read(`${key}.trained`) !== undefined, async () => {
    const done = cache.read<{ seconds: number }>(`${key}.trained`);
    seconds = done?.seconds ?? 0;
    const t0 = performance.now();
    await fit(net, data, objective, {
      epochs: runEpochs,
      batchSize: 128,
      seed,
      optimizer: tf.train.adam(teacher ? TEACHER_RATE : 0.01),
      ...(teacher ? { schedule: cosine() } : {}),
      checkpoint: { dir: path.join(cache.dir, 'checkpoints', key), keep: 1 },
      resume: true
    });
    if (done === undefined) {
      seconds = (performance.now() - t0) / 1000;
      cache.write(`${key}.trained`, { seconds });
    }
  });
  cache.computed.set(`${key}.trained`, seconds);
  return seconds;
}

/** Trains and evaluates `family`'s teachers (rows added to `rows`) and picks DARHT's. */
export async function familyRun(run: Run, family: Family, data: Data, rows: Row[]): Promise<Teachers> {
  const { settings, cache, progress } = run;
  const spec = familySpec(family, data.shape);
  // The teachers' objectives are the students' recipes: PGD-AT (robust teacher, DARHT's candidates), natural (clean).
  const pgdAt = (): Objective => recipeObjective('pgdAt', { eps: data.eps });
  const natural = (): Objective => recipeObjective('natural', { eps: data.eps });
  const tag = familyTag(settings, data, family);
  const teacherRow = (name: string, net: tfl.LayersModel, scores: Scores | undefined): void => {
    if (scores !== undefined) rows.push({ family, role: 'teacher', name, params: countParams(net), seeds: [scores] });
  };

  // The robust teacher (PGD-AT), the clean teacher (MTARD) and the standard model (AFT, ARREST: the student's
  // architecture trained on clean data).
  const robustNet = spec.teacher(1000);
  const teacherEpochs = teacherEpochsOf(robustNet);
  const robustSeconds = await progress.step(`${family}: robust teacher`, 5 * teacherEpochs * scale(family), () => train(run, `${tag}-teacher-robust`, robustNet, data.train, pgdAt(), teacherEpochs, 0, true));
  const cleanNet = spec.teacher(2000);
  const cleanSeconds = await progress.step(`${family}: clean teacher`, teacherEpochs * scale(family), () => train(run, `${tag}-teacher-clean`, cleanNet, data.train, natural(), teacherEpochs, 0, true));
  const standardNet = spec.student(3000);
  await progress.step(`${family}: standard model`, 0.3 * settings.epochs * scale(family), () => train(run, `${tag}-standard`, standardNet, data.train, natural(), settings.epochs, 0));

  // DARHT's candidates: the robust teacher and three other architectures, PGD-AT (shared by the families: trained
  // and evaluated once); pick the two whose adversarial examples transfer least to each other.
  const candidates: Array<[string, tfl.LayersModel]> = [[family === 'mlp' ? 'MLP 256-256 (teacher)' : 'CNN 16-32-128 (teacher)', robustNet]];
  for (const [name, make] of sharedCandidates(data.shape)) {
    const net = make();
    const key = `${sharedTag(settings, data)}-candidate-${name.replace(/[^a-z0-9]+/gi, '_')}`;
    const e = teacherEpochsOf(net);
    await progress.step(`DARHT candidate ${name}`, 4 * e, () => train(run, key, net, data.train, pgdAt(), e, 1, true));
    candidates.push([name, net]);
  }
  const transferKey = `${tag}-transfer`;
  await cache.shared(transferKey, () => cache.read(transferKey) !== undefined, async () => {
    if (cache.read(transferKey) !== undefined) return;
    const n = Math.min(300, data.test.x.shape[0] ?? 0);
    // Measured on training images: the choice of teachers never looks at the test set.
    const probeX = tf.slice(data.train.x, 0, n);
    const probeY = tf.slice(data.train.y, 0, n);
    const t = await transferability(Object.fromEntries(candidates.map(([name, net]) => [name, asModel(net)])), probeX, probeY, (m, x, y) => pgd(m, x, y, { eps: data.eps, steps: 10, seed: 0 }));
    const choice = await selectTeachers(t, 2, { minAccuracy: 0.5 });
    cache.write(transferKey, { names: [...t.names], matrix: t.matrix.map((r) => [...r]), selected: [...choice.selected], meanTransfer: choice.meanTransfer });
    tf.dispose([probeX, probeY]);
  });
  const transfer = cache.read<Teachers['transfer']>(transferKey);
  if (transfer === undefined) throw new Error(`the transfer matrix ${transferKey} is missing from the cache`);
  const chosen = transfer.selected;

  const teachersEvaluated: Array<[string, tfl.LayersModel, number]> = [
    ['teacher (PGD-AT)', robustNet, robustSeconds],
    ['clean teacher', cleanNet, cleanSeconds],
    ...candidates.slice(1).map(([name, net]) => [`candidate ${name}`, net, 0] as [string, tfl.LayersModel, number])
  ];
  for (const [name, net, seconds] of teachersEvaluated) {
    const candidate = name.startsWith('candidate ');
    const key = candidate ? `${sharedTag(settings, data)}-eval-t${String(settings.testSize)}-${name}` : `${tag}-eval-t${String(testSizeOf(settings, family))}-${name}`;
    const on = forFamily(run, data, candidate ? 'mlp' : family);
    const scores = await progress.step(`${family}: evaluate ${name}`, 20 * scale(family), () => evaluateClaimed(run, key, () => asModel(net), on, !settings.quick || name === 'teacher (PGD-AT)', seconds));
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

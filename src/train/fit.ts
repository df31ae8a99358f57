import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../core/random.js';
import { checkBoolean, checkExamplesInBounds, checkFiniteExamples, checkFunction, checkInput, checkInteger, checkKnownKeys, checkLabels, checkNonNegative, checkPositive } from '../core/validate.js';
import { formatValue, isTensor, rangeError, typeError } from '../core/errors.js';
import type { Attack } from '../attacks/types.js';
import { evaluate } from '../eval/evaluate.js';
import type { BatchContext, Objective } from './objective.js';
import { asStudent, studentModel, type LayersStudentLike, type Student } from './student.js';
import type { Schedule } from './schedules.js';
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint.js';
import { acquireLock } from './lock.js';

/** Examples as tensors: inputs `[N, ...]` and int32 labels `[N]`. */
export interface Examples {
  /** Inputs. */
  readonly x: tf.Tensor;
  /** Int32 labels. */
  readonly y: tf.Tensor1D;
}

/** A batch as tf.data names it. */
export interface TfDataBatch {
  /** Inputs. */
  readonly xs: tf.Tensor;
  /** Int32 labels. */
  readonly ys: tf.Tensor1D;
}

/** One batch: inputs and int32 labels (tf.data's `{ xs, ys }` is accepted too). */
export type FitBatch = Examples | TfDataBatch;

/** A pass over a dataset's batches. */
export interface BatchIterator {
  /** The next batch, or `done`. */
  next(): Promise<IteratorResult<FitBatch>>;
}

/** A tf.data-style dataset: `iterator()` gives a fresh pass over the batches. */
export interface DatasetLike {
  /** Starts a pass. */
  iterator(): Promise<BatchIterator>;
}

/**
 * Training data: tensors in memory (`fit` shuffles and batches them), or batches from an async iterable or a
 * tf.data dataset, read once per epoch. `fit` disposes every batch an iterable or dataset yields after its step.
 */
export type FitData = Examples | AsyncIterable<FitBatch> | DatasetLike;

/** A batch's report to {@link FitOptions.onBatchEnd}. */
export interface BatchInfo {
  /** 0-based epoch. */
  readonly epoch: number;
  /** 0-based batch within the epoch. */
  readonly batch: number;
  /** Batches in the epoch, when known (tensor data). */
  readonly batches: number | undefined;
  /** The total loss. */
  readonly loss: number;
  /** Each loss term. */
  readonly terms: Readonly<Record<string, number>>;
  /** Training accuracy on this batch (see {@link LossTerms.accuracyLogits}), when the objective reports logits. */
  readonly accuracy: number | undefined;
  /** The learning rate used. */
  readonly learningRate: number;
  /** Whether the objective's skip rule dropped this batch. */
  readonly skipped: boolean;
}

/** An epoch's summary, kept in the history and given to {@link FitOptions.onEpochEnd}. */
export interface EpochInfo {
  /** 0-based epoch. */
  readonly epoch: number;
  /** Mean total loss over the epoch's updated batches. */
  readonly loss: number;
  /** Mean of each term. */
  readonly terms: Readonly<Record<string, number>>;
  /** Mean training accuracy, when the objective reports logits. */
  readonly accuracy: number | undefined;
  /** The last learning rate used. */
  readonly learningRate: number;
  /** Batches updated and skipped. */
  readonly batches: number;
  /** Batches the objective's skip rule dropped. */
  readonly skipped: number;
  /** Wall time of the epoch. */
  readonly seconds: number;
  /** Validation results, when validation ran after this epoch. */
  readonly validation?: ValidationResult;
}

/** Accuracies measured by validation (see `evaluate`). */
export interface ValidationResult {
  /** Clean accuracy. */
  readonly clean: number;
  /** Robust accuracy per attack. */
  readonly attacks: Readonly<Record<string, number>>;
  /** Worst-case robust accuracy. */
  readonly worstCase: number;
}

/** What {@link fit} returns. */
export interface FitHistory {
  /** One entry per epoch, resumed epochs included. */
  readonly epochs: readonly EpochInfo[];
}

/** Validation through `evaluate` after some epochs. */
export interface ValidationOptions {
  /** Inputs. */
  readonly x: tf.Tensor;
  /** Labels. */
  readonly y: tf.Tensor1D;
  /** Attacks by name. @defaultValue {} (clean accuracy) */
  readonly attacks?: Readonly<Record<string, Attack>>;
  /** @defaultValue 256 */
  readonly batchSize?: number;
  /** Validate every N epochs (and after the last). @defaultValue 1 */
  readonly every?: number;
}

/** Checkpointing to a folder (Node). */
export interface CheckpointOptions {
  /** The folder; created if missing, must be writable. */
  readonly dir: string;
  /** Save every N epochs (and after the last). @defaultValue 1 */
  readonly every?: number;
  /** Checkpoints kept. @defaultValue 2 */
  readonly keep?: number;
}

/** Options of {@link fit}. */
export interface FitOptions {
  /** Epochs to train (in total, counting resumed ones). @defaultValue 1 */
  readonly epochs?: number;
  /** FitBatch size for tensor data. @defaultValue 128 */
  readonly batchSize?: number;
  /** Shuffle tensor data every epoch (seeded). @defaultValue true */
  readonly shuffle?: boolean;
  /** Seed of shuffling, attack starts and coin flips; the same seed on the same backend gives the same run. */
  readonly seed?: number;
  /** Any tfjs optimizer. @defaultValue SGD with momentum 0.9 */
  readonly optimizer?: tf.Optimizer;
  /**
   * The base learning rate, set on the optimizer; schedules scale it.
   * @defaultValue 0.01 with the default optimizer; your optimizer's own rate otherwise
   */
  readonly learningRate?: number;
  /** Coupled L2 weight decay added to the gradients, `g += λ·w`. @defaultValue 5e-4 with the default optimizer, 0 with yours */
  readonly weightDecay?: number;
  /** Learning-rate schedule, applied per batch. @defaultValue constant */
  readonly schedule?: Schedule;
  /** Called after every batch. */
  readonly onBatchEnd?: (info: BatchInfo) => void | Promise<void>;
  /** Called after every epoch. */
  readonly onEpochEnd?: (info: EpochInfo) => void | Promise<void>;
  /** Validation through `evaluate`. */
  readonly validation?: ValidationOptions;
  /** Checkpoints (Node only). */
  readonly checkpoint?: CheckpointOptions;
  /** Continue from the latest checkpoint in `checkpoint.dir`, if there is one. @defaultValue false */
  readonly resume?: boolean;
}

const OPTION_KEYS = [
  'epochs',
  'batchSize',
  'shuffle',
  'seed',
  'optimizer',
  'learningRate',
  'weightDecay',
  'schedule',
  'onBatchEnd',
  'onEpochEnd',
  'validation',
  'checkpoint',
  'resume'
];

interface LearningRateSettable {
  setLearningRate?: (lr: number) => void;
  learningRate?: number;
}

function learningRateOf(optimizer: tf.Optimizer): number | undefined {
  const lr = (optimizer as unknown as LearningRateSettable).learningRate;
  return typeof lr === 'number' && Number.isFinite(lr) && lr > 0 ? lr : undefined;
}

function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as LearningRateSettable;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

function isTensorData(data: FitData): data is Examples {
  return typeof data === 'object' && 'x' in data && 'y' in data && isTensor((data as { x: unknown }).x);
}

function unpack(fn: string, batch: unknown): { x: tf.Tensor; y: tf.Tensor1D } {
  const b = batch as { x?: unknown; y?: unknown; xs?: unknown; ys?: unknown };
  const x = b.x ?? b.xs;
  const y = b.y ?? b.ys;
  if (!isTensor(x) || !isTensor(y)) typeError(fn, 'data', 'yield batches { x, y } (or { xs, ys }) of tensors', batch);
  return { x, y: y as tf.Tensor1D };
}

/** One pass over the data as batches; tensor data is shuffled with `permutation` and gathered. */
async function* passOver(fn: string, data: FitData, batchSize: number, permutation: Int32Array | undefined): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
  if (isTensorData(data)) {
    const n = data.x.shape[0] ?? 0;
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      if (permutation === undefined) {
        yield { x: tf.slice(data.x, start, size), y: tf.slice(data.y, start, size) };
      } else {
        const idx = tf.tensor1d(permutation.subarray(start, start + size), 'int32');
        const batch = { x: tf.gather(data.x, idx), y: tf.gather(data.y, idx) };
        idx.dispose();
        yield batch;
      }
    }
    return;
  }
  if (typeof (data as DatasetLike).iterator === 'function') {
    const it = await (data as DatasetLike).iterator();
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield unpack(fn, r.value);
    }
  }
  if (typeof (data as AsyncIterable<FitBatch>)[Symbol.asyncIterator] === 'function') {
    for await (const b of data as AsyncIterable<FitBatch>) yield unpack(fn, b);
    return;
  }
  typeError(fn, 'data', 'be { x, y } tensors, an async iterable of batches or a tf.data dataset', data);
}

/**
 * Disposes an optimizer `fit` created. tfjs' `MomentumOptimizer.dispose()` does not release the learning-rate scalar
 * its SGD parent keeps (`c`), so that one is released here too.
 */
function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  const c = (optimizer as unknown as { c?: unknown }).c;
  if (isTensor(c) && !c.isDisposed) c.dispose();
}

/** Names of the optimizer state that tfjs' `getWeights` leaves out, saved so that resume is exact. */
const EXACT_STATE_PREFIX = 'ardkit:';
/** Optimizer fields tfjs recomputes on `setWeights` instead of restoring. */
const RECOMPUTED_FIELDS = ['accBeta1', 'accBeta2'] as const;

/**
 * The optimizer state tfjs' `getWeights` leaves out. Adam's `setWeights` recomputes its bias-correction powers as
 * `pow(β, t + 1)`, while training multiplies them step by step; the float32 values differ, and so would every
 * update after a resume. Saving the running products makes resume exact.
 */
function exactState(optimizer: tf.Optimizer): Array<{ name: string; tensor: tf.Tensor }> {
  const o = optimizer as unknown as Partial<Record<(typeof RECOMPUTED_FIELDS)[number], unknown>>;
  return RECOMPUTED_FIELDS.flatMap((k) => {
    const v = o[k];
    return v instanceof tf.Variable ? [{ name: `${EXACT_STATE_PREFIX}${k}`, tensor: v }] : [];
  });
}

/** Puts back what {@link exactState} saved, after `setWeights`. */
function restoreExactState(optimizer: tf.Optimizer, saved: ReadonlyArray<{ readonly name: string; readonly tensor: tf.Tensor }>): void {
  const o = optimizer as unknown as Partial<Record<(typeof RECOMPUTED_FIELDS)[number], unknown>>;
  for (const k of RECOMPUTED_FIELDS) {
    const v: unknown = o[k];
    const t = saved.find((s) => s.name === `${EXACT_STATE_PREFIX}${k}`)?.tensor;
    if (v instanceof tf.Variable && t !== undefined && t.size === v.size) tf.tidy(() => { v.assign(tf.reshape(t, v.shape)); });
  }
}

/** Disposes every tensor in `container` except those in `keep`. */
function disposeExcept(container: tf.TensorContainer, keep: readonly tf.Tensor[]): void {
  const seen = new Set<tf.Tensor>();
  const walk = (c: unknown): void => {
    if (isTensor(c)) {
      if (!keep.includes(c) && !seen.has(c)) {
        seen.add(c);
        c.dispose();
      }
    } else if (Array.isArray(c)) c.forEach(walk);
    else if (typeof c === 'object' && c !== null) Object.values(c).forEach(walk);
  };
  walk(container);
}

/**
 * Trains a student with any objective (`pgdAt`, `trades`, `rslad`, `darht`, …) on any tfjs backend.
 *
 * Per batch: the objective prepares what it needs outside the gradient tape (adversarial examples against the
 * student in inference mode, each frozen teacher's outputs once per input), computes its loss terms inside the
 * tape, and the gradients of the total update the student's (and the objective's own) trainable variables.
 * Shuffling, attack starts and coin flips draw from one seeded source, and checkpoints hold everything needed to
 * continue exactly: weights, optimizer state, epoch, random state and objective state. A run interrupted after
 * epoch k and resumed ends with the same weights as an uninterrupted one (same seed and backend).
 *
 * @param student - a `Student` (see `studentFromLayers` in `ardkit/models`) or a tfjs-layers model (logits only).
 * @param data - see {@link FitData}.
 * @param objective - the training objective.
 * @param options - see {@link FitOptions}.
 * @returns the history of epochs.
 * @throws RangeError/TypeError for invalid options, data whose x and y lengths differ, labels out of range, a
 * student or teacher of another class count, or a checkpoint folder that is not writable; Error naming the epoch,
 * batch and term when a loss becomes non-finite (unless the objective's skip rule drops the batch).
 * @example
 * const history = await fit(net, { x, y }, rslad({ teacher, eps: 8 / 255 }), {
 *   epochs: 30, learningRate: 0.1, schedule: multiStep({ milestones: [15, 25] }), checkpoint: { dir: 'runs/rslad' }, resume: true,
 * });
 */
export async function fit(student: Student | LayersStudentLike, data: FitData, objective: Objective, options: Readonly<FitOptions> = {}): Promise<FitHistory> {
  const fn = 'fit';
  checkKnownKeys(fn, options, OPTION_KEYS);
  const net = asStudent(fn, student);
  if (typeof objective !== 'object' || objective === null || typeof objective.prepare !== 'function' || typeof objective.loss !== 'function') {
    typeError(fn, 'objective', 'be a training objective (e.g. pgdAt({ eps }))', objective);
  }
  const epochs = options.epochs === undefined ? 1 : checkInteger(fn, 'epochs', options.epochs, 1);
  const batchSize = options.batchSize === undefined ? 128 : checkInteger(fn, 'batchSize', options.batchSize, 1);
  const shuffle = options.shuffle === undefined ? true : checkBoolean(fn, 'shuffle', options.shuffle);
  const givenRate = options.learningRate === undefined ? undefined : checkPositive(fn, 'learningRate', options.learningRate);
  const weightDecay =
    options.weightDecay === undefined ? (options.optimizer === undefined ? 5e-4 : 0) : checkNonNegative(fn, 'weightDecay', options.weightDecay);
  if (options.schedule !== undefined) checkFunction(fn, 'schedule', options.schedule);
  if (options.onBatchEnd !== undefined) checkFunction(fn, 'onBatchEnd', options.onBatchEnd);
  if (options.onEpochEnd !== undefined) checkFunction(fn, 'onEpochEnd', options.onEpochEnd);
  const resume = options.resume === undefined ? false : checkBoolean(fn, 'resume', options.resume);
  const ckpt = options.checkpoint;
  if (ckpt !== undefined) {
    checkKnownKeys(`${fn}: checkpoint`, ckpt, ['dir', 'every', 'keep']);
    if (typeof ckpt.dir !== 'string' || ckpt.dir.length === 0) typeError(fn, 'checkpoint.dir', 'be a folder path', ckpt.dir);
    if (ckpt.every !== undefined) checkInteger(fn, 'checkpoint.every', ckpt.every, 1);
    if (ckpt.keep !== undefined) checkInteger(fn, 'checkpoint.keep', ckpt.keep, 1);
  }
  if (resume && ckpt === undefined) rangeError(fn, 'resume', 'come with checkpoint.dir to resume from', resume);
  const validation = options.validation;
  if (validation !== undefined) {
    checkKnownKeys(`${fn}: validation`, validation, ['x', 'y', 'attacks', 'batchSize', 'every']);
    checkInput(fn, 'validation.x', validation.x);
    if (validation.every !== undefined) checkInteger(fn, 'validation.every', validation.every, 1);
  }
  if (typeof data !== 'object' || data === null) typeError(fn, 'data', 'be { x, y } tensors, an async iterable of batches or a tf.data dataset', data);
  if (options.seed !== undefined && (typeof options.seed !== 'number' || !Number.isFinite(options.seed))) rangeError(fn, 'seed', 'be a finite number', options.seed);
  if (options.optimizer !== undefined) {
    const o = options.optimizer as Partial<Record<'applyGradients' | 'getWeights' | 'setWeights', unknown>> | null;
    if (typeof o !== 'object' || o === null || typeof o.applyGradients !== 'function' || typeof o.getWeights !== 'function' || typeof o.setWeights !== 'function') {
      typeError(fn, 'optimizer', "be a tfjs optimizer (e.g. tf.train.adam(0.001), not the string 'adam')", options.optimizer);
    }
  }

  // The class count comes from the student itself, on one example, which also checks what it returns.
  let sample: tf.Tensor | undefined;
  let first: { x: tf.Tensor; y: tf.Tensor1D } | undefined;
  if (isTensorData(data)) {
    const x = checkInput(fn, 'data.x', data.x);
    if (!isTensor(data.y) || data.y.shape[0] !== x.shape[0]) {
      throw new RangeError(`${fn}: data.x and data.y must hold the same number of examples (got ${formatValue(x.shape)} and ${formatValue(data.y)})`);
    }
    sample = tf.slice(x, 0, 1);
  }
  const numClasses = await (async (): Promise<number> => {
    try {
      return await probeClasses();
    } catch (error) {
      // The probe sample (and a peeked first batch) are released on the error path too.
      sample?.dispose();
      if (first !== undefined) tf.dispose([first.x, first.y]);
      throw error;
    }
  })();
  async function probeClasses(): Promise<number> {
    if (sample === undefined) {
      // Peek at the first batch of an iterable for the input shape; it is trained on normally afterwards.
      const it = passOver(fn, data, batchSize, undefined);
      const r = await it.next();
      if (r.done === true) rangeError(fn, 'data', 'yield at least one batch', 'none');
      first = r.value;
      await it.return(undefined);
      sample = tf.slice(first.x, 0, 1);
    }
    const probe = sample;
    const classes = tf.tidy(() => {
      const out = net.forward(probe, false);
      if (!isTensor(out.logits) || out.logits.rank !== 2 || out.logits.shape[0] !== 1) {
        rangeError(fn, 'student', 'return logits [B, C] for a batch of B', out.logits);
      }
      return out.logits.shape[1] ?? 0;
    });
    return classes;
  }
  try {
    if (first !== undefined) tf.dispose([first.x, first.y]);
    const probe = sample;
    if (probe !== undefined) tf.tidy(() => objective.check?.(net, numClasses, probe));
    if (isTensorData(data)) {
      checkLabels(fn, 'data.y', data.y, data.x.shape[0] ?? 0, numClasses);
      checkFiniteExamples(fn, 'data.x', data.x);
      if (objective.bounds !== undefined) checkExamplesInBounds(fn, 'data.x', data.x, objective.bounds);
    }
    if (validation !== undefined) {
      checkLabels(fn, 'validation.y', validation.y, validation.x.shape[0] ?? 0, numClasses);
      checkFiniteExamples(fn, 'validation.x', validation.x);
    }
  } finally {
    sample?.dispose();
  }
  if (ckpt !== undefined) {
    const fs = await import('node:fs/promises');
    try {
      await fs.mkdir(ckpt.dir, { recursive: true });
      await fs.access(ckpt.dir, (await import('node:fs')).constants.W_OK);
      const probeFile = `${ckpt.dir}/.ardkit-write-test-${String(process.pid)}`;
      await fs.writeFile(probeFile, '');
      await fs.rm(probeFile);
    } catch (error) {
      throw new RangeError(`${fn}: checkpoint.dir must be a writable folder (got ${JSON.stringify(ckpt.dir)}: ${(error as Error).message})`, { cause: error });
    }
  }

  // One run per checkpoint folder: a second fit pointed at a folder a live one is writing refuses.
  const release = ckpt === undefined ? async (): Promise<void> => {} : await acquireLock(fn, ckpt.dir);
  const ownOptimizer = options.optimizer === undefined;
  const optimizer = options.optimizer ?? tf.train.momentum(givenRate ?? 0.01, 0.9);
  // A given optimizer keeps its own rate unless learningRate or a schedule says otherwise.
  const baseRate = givenRate ?? learningRateOf(optimizer) ?? 0.01;
  const manageRate = ownOptimizer || givenRate !== undefined || options.schedule !== undefined;
  const rng = createRandom(options.seed);
  const history: EpochInfo[] = [];
  let startEpoch = 0;
  if (resume && ckpt !== undefined) {
    try {
      const saved = await loadLatestCheckpoint(ckpt.dir, { fallback: true });
      if (saved?.recovery !== undefined) {
        const why = saved.recovery.skipped.map((k) => `${k.folder}: ${k.reason}`).join('; ');
        console.warn(`fit: resuming from ${saved.recovery.folder}, the newest readable checkpoint (skipped ${why})`);
      }
      if (saved !== undefined) {
        try {
          if (saved.weights.length !== net.variables.length) {
            rangeError(fn, 'resume', `find ${String(net.variables.length)} student variables in the checkpoint`, saved.weights.length);
          }
          net.variables.forEach((v, i) => {
            const w = saved.weights[i];
            if (w === undefined || w.shape.join(',') !== v.shape.join(',')) {
              rangeError(fn, 'resume', `find variable ${String(i)} of shape [${v.shape.join(', ')}] in the checkpoint`, w);
            }
            v.assign(w);
          });
          const own = saved.optimizer.filter((o) => !o.name.startsWith(EXACT_STATE_PREFIX));
          if (own.length > 0) await optimizer.setWeights(own.map((o) => ({ name: o.name, tensor: o.tensor })));
          restoreExactState(optimizer, saved.optimizer);
          objective.setState?.({ values: saved.objectiveValues, tensors: saved.objectiveTensors });
          rng.setState(saved.randomState);
          startEpoch = saved.epoch;
          const extra = saved.extra as { history?: EpochInfo[] } | null;
          if (extra?.history !== undefined) history.push(...extra.history);
        } finally {
          tf.dispose([...saved.weights, ...saved.optimizer.map((o) => o.tensor), ...Object.values(saved.objectiveTensors)]);
        }
      }
    } catch (error) {
      // fit's own optimizer is released on every path (a corrupt checkpoint, a mismatched one).
      if (ownOptimizer) disposeOptimizer(optimizer);
      await release();
      throw error;
    }
  }
  const trainable = [...net.trainableVariables, ...(objective.variables ?? [])];
  const decayed = new Set(net.trainableVariables.map((v) => v.name));
  const model = studentModel(net);
  let batchesPerEpoch = isTensorData(data) ? Math.ceil((data.x.shape[0] ?? 0) / batchSize) : 1;
  try {
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const t0 = performance.now();
      const n = isTensorData(data) ? (data.x.shape[0] ?? 0) : 0;
      const permutation = isTensorData(data) && shuffle ? rng.permutation(n) : undefined;
      const sums: Record<string, number> = {};
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let updated = 0;
      let skipped = 0;
      let batch = 0;
      let seenInPass = 0;
      let lr = baseRate;
      for await (const { x, y } of passOver(fn, data, batchSize, permutation)) {
        let prepared: tf.TensorContainer | undefined;
        let grads: tf.NamedTensorMap = {};
        try {
          if (!isTensorData(data) && epoch === startEpoch) {
            // Data that arrives in batches is checked as it arrives (in its first epoch), by index in the pass.
            checkLabels(fn, 'data.y', y, x.shape[0] ?? 0, numClasses, seenInPass);
            checkFiniteExamples(fn, 'data.x', x, seenInPass);
            if (objective.bounds !== undefined) checkExamplesInBounds(fn, 'data.x', x, objective.bounds, seenInPass);
          }
          seenInPass += x.shape[0] ?? 0;
          lr = options.schedule === undefined ? baseRate : options.schedule(baseRate, { epoch, batch, batchesPerEpoch, epochs });
          if (manageRate) setLearningRate(optimizer, lr);
          const ctx: BatchContext = {
            epoch,
            epochs,
            batch,
            progress: epoch / epochs,
            batchesPerEpoch: isTensorData(data) || epoch > startEpoch ? batchesPerEpoch : undefined,
            rng, student: net, studentModel: model, learningRate: lr, baseLearningRate: baseRate };
          prepared = tf.tidy(() => objective.prepare(x, y, ctx));
          const preparedBatch = prepared;
          let readout: tf.Tensor | undefined;
          let termNames: string[] = [];
          let hasAccuracy = false;
          const { value, grads: batchGrads } = tf.variableGrads(() => {
            const out = objective.loss(preparedBatch, x, y, ctx);
            termNames = Object.keys(out.terms);
            const parts: tf.Tensor[] = [tf.reshape(out.total, [1]), ...termNames.map((k) => tf.reshape(out.terms[k] as tf.Scalar, [1]))];
            if (out.accuracyLogits !== undefined) {
              hasAccuracy = true;
              parts.push(tf.reshape(tf.sum(tf.cast(tf.equal(tf.argMax(out.accuracyLogits, 1), y), 'float32')), [1]));
            }
            readout = tf.keep(tf.concat(parts));
            return out.total;
          }, trainable);
          grads = batchGrads;
          const values = Array.from(readout?.dataSync() ?? []);
          readout?.dispose();
          value.dispose();
          const total = values[0] ?? NaN;
          const terms = Object.fromEntries(termNames.map((k, i) => [k, values[i + 1] ?? NaN]));
          const skip = objective.skip?.(terms) ?? false;
          if (!skip) {
            const bad = [['total', total] as const, ...Object.entries(terms)].find(([, v]) => !Number.isFinite(v));
            if (bad !== undefined) {
              throw new Error(
                `${fn}: the loss became non-finite at epoch ${String(epoch + 1)}, batch ${String(batch + 1)} (term "${bad[0]}" = ${String(bad[1])}) with objective ${objective.name}`
              );
            }
            const update: tf.NamedTensorMap = {};
            for (const v of trainable) {
              const g = grads[v.name];
              if (g === undefined) continue;
              update[v.name] = weightDecay > 0 && decayed.has(v.name) ? tf.tidy(() => tf.add(g, tf.mul(v, weightDecay))) : g;
            }
            try {
              optimizer.applyGradients(update);
            } finally {
              tf.dispose(Object.values(update).filter((t) => !Object.values(grads).includes(t)));
            }
            objective.update?.(terms, ctx);
            lossSum += total;
            for (const [k, v] of Object.entries(terms)) sums[k] = (sums[k] ?? 0) + v;
            updated += 1;
            if (hasAccuracy) {
              correct += values[values.length - 1] ?? 0;
              seen += x.shape[0] ?? 0;
            }
          } else {
            skipped += 1;
          }
          tf.dispose(grads);
          await options.onBatchEnd?.({
            epoch,
            batch,
            batches: isTensorData(data) ? batchesPerEpoch : undefined,
            loss: total,
            terms,
            accuracy: hasAccuracy ? (values[values.length - 1] ?? 0) / (x.shape[0] ?? 1) : undefined,
            learningRate: lr,
            skipped: skip
          });
        } finally {
          tf.dispose(grads);
          if (prepared !== undefined) disposeExcept(prepared, [x, y]);
          tf.dispose([x, y]);
        }
        batch += 1;
      }
      if (!isTensorData(data)) batchesPerEpoch = Math.max(1, batch);
      const mean = (v: number): number => (updated === 0 ? NaN : v / updated);
      let info: EpochInfo = {
        epoch,
        loss: mean(lossSum),
        terms: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, mean(v)])),
        accuracy: seen === 0 ? undefined : correct / seen,
        learningRate: lr,
        batches: batch,
        skipped,
        seconds: (performance.now() - t0) / 1000
      };
      const every = validation?.every ?? 1;
      if (validation !== undefined && ((epoch + 1) % every === 0 || epoch + 1 === epochs)) {
        const deployed = objective.deploy === undefined ? model : objective.deploy(model);
        const r = evaluate(deployed, validation.x, validation.y, {
          ...(validation.attacks === undefined ? {} : { attacks: validation.attacks }),
          ...(validation.batchSize === undefined ? {} : { batchSize: validation.batchSize })
        });
        info = { ...info, validation: { clean: r.clean, attacks: r.attacks, worstCase: r.worstCase } };
      }
      history.push(info);
      if (ckpt !== undefined && ((epoch + 1) % (ckpt.every ?? 1) === 0 || epoch + 1 === epochs)) {
        const state = objective.getState?.();
        const optimizerState = await optimizer.getWeights();
        try {
          await saveCheckpoint(
          ckpt.dir,
          {
            epoch: epoch + 1,
            randomState: rng.getState(),
            weights: net.variables,
            optimizer: [...optimizerState, ...exactState(optimizer)],
            objectiveValues: state?.values ?? {},
            objectiveTensors: state?.tensors ?? {},
            extra: { history }
          },
          ckpt.keep === undefined ? {} : { keep: ckpt.keep }
          );
        } finally {
          // getWeights() makes a fresh scalar for the iteration count; the rest are the optimizer's own variables.
          tf.dispose(optimizerState.map((w) => w.tensor).filter((t) => !(t instanceof tf.Variable)));
        }
      }
      await options.onEpochEnd?.(info);
    }
  } finally {
    if (ownOptimizer) disposeOptimizer(optimizer);
    await release();
  }
  return { epochs: history };
}

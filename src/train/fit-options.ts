/** `fit`'s options and reports, and the one place that checks the options and fills in their defaults. */
import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean, checkFunction, checkInput, checkInteger, checkKnownKeys, optionKeys, checkNonNegative, checkPositive } from '../core/validate.js';
import { rangeError, typeError } from '../core/errors.js';
import type { AttackFunction } from '../attacks/types.js';
import type { Augmentation } from '../data/augment.js';
import type { EvaluationResult } from '../eval/evaluate.js';
import type { Schedule } from './schedules.js';
import type { Objective } from './objective.js';

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

/** What validation reports after an epoch: the accuracies of `evaluate`'s {@link EvaluationResult}. */
export type ValidationResult = Pick<EvaluationResult, 'clean' | 'attacks' | 'worstCase'>;

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

/** What {@link fit} returns. */
export interface FitHistory {
  /** One entry per epoch, resumed epochs included. */
  readonly epochs: readonly EpochInfo[];
  /**
   * The objective's numbers at the end of training (`ObjectiveState.values`, e.g. MTARD's `natWeight`, `advWeight`
   * and reference losses); `{}` for an objective without state. Its tensors are released when `fit` returns.
   */
  readonly objectiveValues: Readonly<Record<string, number>>;
}

/** Validation through `evaluate` after some epochs. */
export interface ValidationOptions {
  /** Inputs. */
  readonly x: tf.Tensor;
  /** Labels. */
  readonly y: tf.Tensor1D;
  /** Attacks by name. @defaultValue {} (clean accuracy) */
  readonly attacks?: Readonly<Record<string, AttackFunction>>;
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
  /**
   * Read the batch losses back every `logEvery` batches (and after an epoch's last), all of them in one readback,
   * instead of after every batch: each readback stalls a GPU backend until its queue is empty. `onBatchEnd` is then
   * called for each batch of the group once it is read, and a non-finite loss, or a bad batch from an iterable (a
   * label beyond the classes, a value not finite or outside the objective's bounds), is reported at that read, after
   * the updates of its group: the weights may then hold NaN. With `logEvery: 1` a bad batch is never applied. Objectives with a skip rule or an update that needs the term values (DARHT, MTARD)
   * still read every batch.
   * @defaultValue 1
   */
  readonly logEvery?: number;
  /** Called after every batch (see {@link FitOptions.logEvery}). */
  readonly onBatchEnd?: (info: BatchInfo) => void | Promise<void>;
  /** Called after every epoch. */
  readonly onEpochEnd?: (info: EpochInfo) => void | Promise<void>;
  /** Validation through `evaluate`. */
  readonly validation?: ValidationOptions;
  /** Checkpoints (Node only). */
  readonly checkpoint?: CheckpointOptions;
  /** Continue from the latest checkpoint in `checkpoint.dir`, if there is one. @defaultValue false */
  readonly resume?: boolean;
  /**
   * Augments the inputs of every training batch before the objective prepares it (its attacks start from the
   * augmented batch); the labels are unchanged and validation data is never augmented. `cifarAugment()` from
   * `ardkit/data` is the CIFAR standard (pad 4, crop, flip). For each batch `fit` draws one seed from its seeded
   * source and calls `augment(x, { seed, epoch, batch })`: the same `seed` gives the same run, another seed another,
   * and a resumed run stays exact. The seed is drawn only when `augment` is given, so a run without it is unchanged.
   * `fit` disposes what `augment` returns (unless it is `x`, which it must not dispose). The result must be a float32
   * batch of the same size. Crops and flips made with `randomCrop` and `randomFlip` keep what `fit` checked of the
   * batch (finite, inside the box), so the attacks read nothing back; any other result is checked by the objective's
   * attacks like any input, so an augmentation that leaves the input box (noise, color jitter) is a RangeError
   * naming the attack, never a silent clip. An error thrown by `augment` is rethrown as `fit: augment failed at
   * epoch E, batch B: <its message>` (same error class, the original as `cause`).
   * @defaultValue none
   */
  readonly augment?: Augmentation;
}

const OPTION_KEYS = optionKeys<FitOptions>()('epochs',
  'batchSize',
  'shuffle',
  'seed',
  'optimizer',
  'learningRate',
  'weightDecay',
  'schedule',
  'logEvery',
  'onBatchEnd',
  'onEpochEnd',
  'validation',
  'checkpoint',
  'resume',
  'augment');
const CHECKPOINT_KEYS = optionKeys<CheckpointOptions>()('dir', 'every', 'keep');
const VALIDATION_KEYS = optionKeys<ValidationOptions>()('x', 'y', 'attacks', 'batchSize', 'every');

/** {@link FitOptions} checked, with every default filled in. */
export interface ResolvedFit {
  readonly epochs: number;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number | undefined;
  /** The user's optimizer, or undefined: fit makes its own (see {@link makeOptimizer}) and disposes it. */
  readonly optimizer: tf.Optimizer | undefined;
  /** The rate schedules scale, and whether fit sets the optimizer's rate at all. */
  readonly baseRate: number;
  readonly manageRate: boolean;
  readonly weightDecay: number;
  readonly schedule: Schedule | undefined;
  readonly logEvery: number;
  readonly onBatchEnd: FitOptions['onBatchEnd'];
  readonly onEpochEnd: FitOptions['onEpochEnd'];
  readonly validation: ValidationOptions | undefined;
  readonly checkpoint: CheckpointOptions | undefined;
  readonly resume: boolean;
  readonly augment: Augmentation | undefined;
}

interface LearningRateSettable {
  setLearningRate?: (lr: number) => void;
  learningRate?: number;
}

function learningRateOf(optimizer: tf.Optimizer): number | undefined {
  const lr = (optimizer as unknown as LearningRateSettable).learningRate;
  return typeof lr === 'number' && Number.isFinite(lr) && lr > 0 ? lr : undefined;
}

/** Sets an optimizer's learning rate (tfjs optimizers differ in how). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as LearningRateSettable;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

/** The user's optimizer, or fit's own default: SGD with momentum 0.9 at the base rate. */
export function makeOptimizer(r: ResolvedFit): tf.Optimizer {
  return r.optimizer ?? tf.train.momentum(r.baseRate, 0.9);
}

/** Checks the objective and every option, before any tensor or file exists. Makes the optimizer last. */
export function resolveFitOptions(objective: unknown, options: Readonly<FitOptions>): ResolvedFit {
  checkKnownKeys(options, OPTION_KEYS);
  const o = objective as Partial<Objective> | null;
  if (typeof o !== 'object' || o === null || typeof o.prepare !== 'function' || typeof o.loss !== 'function') {
    typeError('objective', 'be a training objective (e.g. pgdAt({ eps }))', objective);
  }
  const epochs = options.epochs === undefined ? 1 : checkInteger('epochs', options.epochs, 1);
  const batchSize = options.batchSize === undefined ? 128 : checkInteger('batchSize', options.batchSize, 1);
  const shuffle = options.shuffle === undefined ? true : checkBoolean('shuffle', options.shuffle);
  const givenRate = options.learningRate === undefined ? undefined : checkPositive('learningRate', options.learningRate);
  const weightDecay =
    options.weightDecay === undefined ? (options.optimizer === undefined ? 5e-4 : 0) : checkNonNegative('weightDecay', options.weightDecay);
  if (options.schedule !== undefined) checkFunction('schedule', options.schedule);
  const logEvery = options.logEvery === undefined ? 1 : checkInteger('logEvery', options.logEvery, 1);
  if (options.onBatchEnd !== undefined) checkFunction('onBatchEnd', options.onBatchEnd);
  if (options.onEpochEnd !== undefined) checkFunction('onEpochEnd', options.onEpochEnd);
  if (options.augment !== undefined) checkFunction('augment', options.augment);
  const resume = options.resume === undefined ? false : checkBoolean('resume', options.resume);
  const ckpt = options.checkpoint;
  if (ckpt !== undefined) {
    checkKnownKeys(ckpt, CHECKPOINT_KEYS);
    if (typeof ckpt.dir !== 'string' || ckpt.dir.length === 0) typeError('checkpoint.dir', 'be a folder path', ckpt.dir);
    if (ckpt.every !== undefined) checkInteger('checkpoint.every', ckpt.every, 1);
    if (ckpt.keep !== undefined) checkInteger('checkpoint.keep', ckpt.keep, 1);
  }
  if (resume && ckpt === undefined) rangeError('resume', 'come with checkpoint.dir to resume from', resume);
  const validation = options.validation;
  if (validation !== undefined) {
    checkKnownKeys(validation, VALIDATION_KEYS);
    checkInput('validation.x', validation.x);
    if (validation.every !== undefined) checkInteger('validation.every', validation.every, 1);
  }
  if (options.seed !== undefined && (typeof options.seed !== 'number' || !Number.isFinite(options.seed))) rangeError('seed', 'be a finite number', options.seed);
  if (options.optimizer !== undefined) {
    const opt = options.optimizer as Partial<Record<'applyGradients' | 'getWeights' | 'setWeights', unknown>> | null;
    if (typeof opt !== 'object' || opt === null || typeof opt.applyGradients !== 'function' || typeof opt.getWeights !== 'function' || typeof opt.setWeights !== 'function') {
      typeError('optimizer', "be a tfjs optimizer (e.g. tf.train.adam(0.001), not the string 'adam')", options.optimizer);
    }
  }
  return {
    epochs,
    batchSize,
    shuffle,
    seed: options.seed,
    optimizer: options.optimizer,
    baseRate: givenRate ?? (options.optimizer === undefined ? 0.01 : (learningRateOf(options.optimizer) ?? 0.01)),
    // A given optimizer keeps its own rate unless learningRate or a schedule says otherwise.
    manageRate: options.optimizer === undefined || givenRate !== undefined || options.schedule !== undefined,
    weightDecay,
    schedule: options.schedule,
    logEvery,
    onBatchEnd: options.onBatchEnd,
    onEpochEnd: options.onEpochEnd,
    validation,
    checkpoint: ckpt,
    resume,
    augment: options.augment
  };
}

/** `fit`'s options and reports, and the one place that checks the options and fills in their defaults. */
import * as tf from '@tensorflow/tfjs-core';
import { checkFunction, checkInput, checkInteger, checkKnownKeys, optionKeys, checkPositive } from '../core/validate.js';
import { callable, custom, finite, flag, integer, nonNegative, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
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

/**
 * What a callback of {@link FitOptions.callbacks} may do at each event of training, as tfjs-layers' `CustomCallbackArgs`
 * (and Keras) name them: every event is optional, may be async (`fit` waits for it) and receives the public reports.
 * A class instance works as well as an object literal (its methods are called on it).
 *
 * An epoch's end carries its validation figures: `fit`'s own work (the summary, validation, the history,
 * checkpoints) runs before the user's callbacks. To stop training early, abort the {@link FitOptions.signal} given to
 * `fit` from a callback.
 */
export interface FitCallback {
  /** Before the first epoch (after a resume). */
  readonly onTrainBegin?: () => void | Promise<void>;
  /** Before an epoch's first batch; `epoch` is 0-based. */
  readonly onEpochBegin?: (epoch: number) => void | Promise<void>;
  /** After a batch's values are read back (see {@link FitOptions.logEvery}): once per batch, in order. */
  readonly onBatchEnd?: (batch: number, info: BatchInfo) => void | Promise<void>;
  /** After an epoch, with its summary and, when validation ran after it, its validation figures. */
  readonly onEpochEnd?: (epoch: number, info: EpochInfo) => void | Promise<void>;
  /** After the last epoch, or once the signal stopped training, with the history `fit` returns. */
  readonly onTrainEnd?: (history: FitHistory) => void | Promise<void>;
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
  /**
   * Called after every batch (see {@link FitOptions.logEvery}); a shorthand for one more callback after
   * {@link FitOptions.callbacks}.
   */
  readonly onBatchEnd?: (info: BatchInfo) => void | Promise<void>;
  /** Called after every epoch; a shorthand for one more callback after {@link FitOptions.callbacks}. */
  readonly onEpochEnd?: (info: EpochInfo) => void | Promise<void>;
  /**
   * Callbacks, called at each event in the order given, after `fit`'s own work for the event (so `onEpochEnd` sees
   * the validation figures) and before the `onBatchEnd`/`onEpochEnd` options. `fit` waits for each, and an error a
   * callback throws ends training: `fit` releases what it made and rejects with that error.
   * @defaultValue []
   */
  readonly callbacks?: readonly FitCallback[];
  /**
   * Stops training early. `fit` checks the signal before every batch; once it is aborted, no further batch is
   * trained: the batch in progress finishes (its update applied, its `onBatchEnd` called), an epoch cut short ends
   * with the summary of the batches it trained (through `onEpochEnd`, neither validated nor checkpointed, so the
   * latest checkpoint stays the last complete epoch), `onTrainEnd` runs, what `fit` made is released and `fit`
   * resolves with the history so far. An epoch the signal stops before its first batch is not reported. Abort it from
   * a callback (early stopping), a timer (`AbortSignal.timeout(ms)`) or a signal handler.
   * @example
   * // Early stopping: stop once validation accuracy has not improved for 5 epochs.
   * const stop = new AbortController();
   * let best = 0, waited = 0;
   * const history = await fit(net, data, pgdAt({ eps: 0.1 }), {
   *   epochs: 100, validation: { x: xVal, y: yVal }, signal: stop.signal,
   *   callbacks: [{
   *     onEpochEnd: (epoch, info) => {
   *       const clean = info.validation?.clean ?? 0;
   *       if (clean > best) [best, waited] = [clean, 0];
   *       else if (++waited >= 5) stop.abort();
   *     }
   *   }]
   * });
   * @defaultValue none
   */
  readonly signal?: AbortSignal;
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
  'callbacks',
  'signal',
  'validation',
  'checkpoint',
  'resume',
  'augment');
const CHECKPOINT_KEYS = optionKeys<CheckpointOptions>()('dir', 'every', 'keep');
const VALIDATION_KEYS = optionKeys<ValidationOptions>()('x', 'y', 'attacks', 'batchSize', 'every');
/** The events of a {@link FitCallback}, in the order training reaches them. */
const CALLBACK_EVENTS = optionKeys<FitCallback>()('onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd');

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
  /** The user's callbacks, each event bound to its object, with the `onBatchEnd`/`onEpochEnd` options last. */
  readonly callbacks: readonly FitCallback[];
  readonly signal: AbortSignal | undefined;
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

/**
 * A callback checked, its events read once and bound to it; an own key that looks like an event but is not one of
 * fit's (tfjs-layers' `onBatchBegin`, `onYield`, a typo) is an error rather than an event never called.
 */
function resolveCallback(callback: unknown, at: string): FitCallback {
  if (typeof callback !== 'object' || callback === null || Array.isArray(callback)) typeError(at, `be an object whose events (${CALLBACK_EVENTS.join(', ')}) are functions`, callback);
  const given = callback as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(given)) {
    if (/^on[A-Z]/.test(key) && !(CALLBACK_EVENTS as readonly string[]).includes(key)) rangeError(at, `only have the events ${CALLBACK_EVENTS.join(', ')}`, key);
  }
  const bound: Partial<Record<keyof FitCallback, (...args: never[]) => unknown>> = {};
  for (const event of CALLBACK_EVENTS) {
    const f = given[event];
    if (f === undefined) continue;
    checkFunction(`${at}.${event}`, f);
    bound[event] = (...args: never[]) => (f as (...a: never[]) => unknown).apply(callback, args);
  }
  return bound as FitCallback;
}

/** The `callbacks` option: an array of callbacks, each checked and bound by {@link resolveCallback}. */
function resolveCallbackList(arg: string, given: unknown): FitCallback[] {
  if (!Array.isArray(given)) typeError(arg, 'be an array of callbacks (objects with onEpochEnd, onBatchEnd, …)', given);
  return (given as readonly unknown[]).map((c, i) => resolveCallback(c, `${arg}[${String(i)}]`));
}

/** The `onBatchEnd`/`onEpochEnd` options as one more callback, called after the `callbacks` option's; none without them. */
function shorthandCallbacks(onBatchEnd: FitOptions['onBatchEnd'], onEpochEnd: FitOptions['onEpochEnd']): FitCallback[] {
  if (onBatchEnd === undefined && onEpochEnd === undefined) return [];
  return [
    {
      ...(onBatchEnd === undefined ? {} : { onBatchEnd: (_batch: number, info: BatchInfo) => onBatchEnd(info) }),
      ...(onEpochEnd === undefined ? {} : { onEpochEnd: (_epoch: number, info: EpochInfo) => onEpochEnd(info) })
    }
  ];
}

/** Checks that `value` is an AbortSignal (by its shape, so that a signal of another realm or a polyfill passes). */
function checkSignal(value: unknown): AbortSignal {
  const s = value as Partial<Record<'aborted' | 'addEventListener' | 'signal' | 'abort', unknown>> | null;
  if (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function') {
    const controller = typeof s === 'object' && s !== null && typeof s.abort === 'function' && typeof s.signal === 'object';
    typeError('signal', controller ? 'be an AbortSignal (the controller\'s signal, not the AbortController)' : 'be an AbortSignal', value);
  }
  return value as AbortSignal;
}

/** Checks the checkpoint options (the folder given, `every` and `keep` positive integers when given). */
function checkCheckpoint(value: unknown): CheckpointOptions {
  const ckpt = value as CheckpointOptions;
  checkKnownKeys(ckpt, CHECKPOINT_KEYS);
  if (typeof ckpt.dir !== 'string' || ckpt.dir.length === 0) typeError('checkpoint.dir', 'be a folder path', ckpt.dir);
  if (ckpt.every !== undefined) checkInteger('checkpoint.every', ckpt.every, 1);
  if (ckpt.keep !== undefined) checkInteger('checkpoint.keep', ckpt.keep, 1);
  return ckpt;
}

/** Checks the validation options (the inputs a tensor, `every` a positive integer when given); `evaluate` checks the rest when it runs. */
function checkValidation(value: unknown): ValidationOptions {
  const validation = value as ValidationOptions;
  checkKnownKeys(validation, VALIDATION_KEYS);
  checkInput('validation.x', validation.x);
  if (validation.every !== undefined) checkInteger('validation.every', validation.every, 1);
  return validation;
}

/** Checks that `value` is a tfjs optimizer (by its shape: an optimizer of another copy of tfjs passes). */
function checkOptimizer(value: unknown): tf.Optimizer {
  const opt = value as Partial<Record<'applyGradients' | 'getWeights' | 'setWeights', unknown>> | null;
  if (typeof opt !== 'object' || opt === null || typeof opt.applyGradients !== 'function' || typeof opt.getWeights !== 'function' || typeof opt.setWeights !== 'function') {
    typeError('optimizer', "be a tfjs optimizer (e.g. tf.train.adam(0.001), not the string 'adam')", value);
  }
  return value as tf.Optimizer;
}

/** The options of {@link FitOptions} without a default of their own: undefined when left out (or a default computed after). */
type WithoutDefault = 'seed' | 'optimizer' | 'learningRate' | 'weightDecay' | 'schedule' | 'onBatchEnd' | 'onEpochEnd' | 'signal' | 'validation' | 'checkpoint' | 'augment';

/**
 * How each of {@link FitOptions} is checked and defaulted, in the order they are checked. The learning rate and the
 * weight decay are left undefined: their defaults depend on the optimizer.
 */
const FIT_FIELDS: OptionFields<Omit<FitOptions, WithoutDefault>> & { readonly [K in WithoutDefault]-?: OptionField<FitOptions[K]> } = {
  epochs: /* @__PURE__ */ integer(1, 1),
  batchSize: /* @__PURE__ */ integer(1, 128),
  shuffle: /* @__PURE__ */ flag(true),
  learningRate: /* @__PURE__ */ custom(checkPositive),
  weightDecay: /* @__PURE__ */ nonNegative(),
  schedule: /* @__PURE__ */ callable<Schedule>(),
  logEvery: /* @__PURE__ */ integer(1, 1),
  callbacks: /* @__PURE__ */ custom(resolveCallbackList, []),
  onBatchEnd: /* @__PURE__ */ callable<(info: BatchInfo) => void | Promise<void>>(),
  onEpochEnd: /* @__PURE__ */ callable<(info: EpochInfo) => void | Promise<void>>(),
  signal: /* @__PURE__ */ custom((_arg, value) => checkSignal(value)),
  augment: /* @__PURE__ */ callable<Augmentation>(),
  resume: /* @__PURE__ */ flag(false),
  checkpoint: /* @__PURE__ */ custom((_arg, value) => checkCheckpoint(value)),
  validation: /* @__PURE__ */ custom((_arg, value) => checkValidation(value)),
  seed: /* @__PURE__ */ finite(),
  optimizer: /* @__PURE__ */ custom((_arg, value) => checkOptimizer(value))
};

/** Checks the objective and every option, before any tensor or file exists. Makes the optimizer last. */
export function resolveFitOptions(objective: unknown, options: Readonly<FitOptions>): ResolvedFit {
  checkKnownKeys(options, OPTION_KEYS);
  const obj = objective as Partial<Objective> | null;
  if (typeof obj !== 'object' || obj === null || typeof obj.prepare !== 'function' || typeof obj.loss !== 'function') {
    typeError('objective', 'be a training objective (e.g. pgdAt({ eps }))', objective);
  }
  // Resuming needs a checkpoint: checked once the fields up to `checkpoint` are resolved, before the last three (the
  // order in which its error has always come).
  const { validation, seed, optimizer, ...leading } = FIT_FIELDS;
  const o = resolveFields(options, leading);
  if (o.resume && o.checkpoint === undefined) rangeError('resume', 'come with checkpoint.dir to resume from', o.resume);
  const last = resolveFields(options, { validation, seed, optimizer });
  return {
    epochs: o.epochs,
    batchSize: o.batchSize,
    shuffle: o.shuffle,
    seed: last.seed,
    optimizer: last.optimizer,
    baseRate: o.learningRate ?? (last.optimizer === undefined ? 0.01 : (learningRateOf(last.optimizer) ?? 0.01)),
    // A given optimizer keeps its own rate unless learningRate or a schedule says otherwise.
    manageRate: last.optimizer === undefined || o.learningRate !== undefined || o.schedule !== undefined,
    weightDecay: o.weightDecay ?? (last.optimizer === undefined ? 5e-4 : 0),
    schedule: o.schedule,
    logEvery: o.logEvery,
    callbacks: [...o.callbacks, ...shorthandCallbacks(o.onBatchEnd, o.onEpochEnd)],
    signal: o.signal,
    validation: last.validation,
    checkpoint: o.checkpoint,
    resume: o.resume,
    augment: o.augment
  };
}

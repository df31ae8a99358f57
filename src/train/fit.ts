import { named } from '../core/errors.js';
/**
 * `fit`: the training loop, read as tfjs-layers' `fitLoop`: epochs of batches, with validation, checkpoints, the
 * summary and the user's hooks as callbacks. Its parts live beside it: options (fit-options.ts), the run it holds
 * (fit-run.ts), the data pipeline (fit-data.ts), one step (train-step.ts), the readback (readback.ts), the callbacks
 * (callbacks.ts, fit-callbacks.ts) and checkpoints (fit-resume.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchContext, Objective } from './objective.js';
import { asStudent, type LayersStudentLike, type Student } from './student.js';
import { augmentBatch, checkArrivingBatch, isTensorData, passOver, type ArrivingChecks, type FitData } from './fit-data.js';
import { resolveFitOptions, type FitHistory, type FitOptions } from './fit-options.js';
import { applyUpdate, disposeExcept, gradientStep, type StepOutput } from './train-step.js';
import { CallbackList, type LoopCallback } from './callbacks.js';
import { quietProbes } from '../core/probabilities.js';
import { Checkpoints, EpochProgress, History, UserCallbacks, Validation } from './fit-callbacks.js';
import { openRun, type FitRun } from './fit-run.js';
import { Readback, type BatchPlace, type EmitBatch } from './readback.js';

export type { BatchIterator, DatasetLike, Examples, FitBatch, FitData, TfDataBatch } from './fit-data.js';
export type { BatchInfo, CheckpointOptions, EpochInfo, FitCallback, FitHistory, FitOptions, ValidationOptions, ValidationResult } from './fit-options.js';

/**
 * Trains a student with any objective (`pgdAt`, `trades`, `rslad`, `darht`, …) on any tfjs backend.
 *
 * Per batch: the objective prepares what it needs outside the gradient tape (adversarial examples against the
 * student in inference mode, each frozen teacher's outputs once per input), computes its loss terms inside the
 * tape, and the gradients of the total update the student's (and the objective state's) trainable variables; the
 * objective's `update` then gives its next state. Shuffling, augmentation (`augment`), attack starts and coin flips
 * draw from one seeded source, and checkpoints hold everything needed to continue exactly: weights, optimizer state,
 * epoch, random state and objective state. A run interrupted after epoch k and resumed ends with the same weights as
 * an uninterrupted one (same seed and backend). What `fit` made (its optimizer, the objective's state) is released
 * when it returns or throws: an objective can train another student afterwards.
 *
 * @param student - a `Student` (see `studentFromLayers` in `ardkit/models`) or a tfjs-layers model (logits only).
 * @param data - see {@link FitData}.
 * @param objective - the training objective.
 * @param options - see {@link FitOptions}.
 * @returns the history of epochs, and the objective's final numbers (e.g. MTARD's weights).
 * @throws RangeError/TypeError for invalid options, data whose x and y lengths differ, labels out of range, a
 * student or teacher of another class count, or a checkpoint folder that is not writable; Error naming the epoch,
 * batch and term when a loss becomes non-finite (unless the objective's skip rule drops the batch).
 * @example
 * const history = await fit(net, { x, y }, rslad({ teacher, eps: 8 / 255 }), {
 *   epochs: 30, learningRate: 0.1, schedule: multiStep({ milestones: [15, 25] }), checkpoint: { dir: 'runs/rslad' }, resume: true,
 * });
 */
export async function fit(student: Student | LayersStudentLike, data: FitData, objective: Objective, options: Readonly<FitOptions> = {}): Promise<FitHistory> {
  return named('fit', async () => {
    const o = resolveFitOptions(objective, options);
    const run = await openRun(o, asStudent(student), data, objective);
    // The student and the teachers were probed for probability outputs as the run opened: training probes nothing.
    const probeAgain = quietProbes();
    try {
      const progress = new EpochProgress(o.baseRate);
      return await fitLoop(run, progress, new CallbackList(callbacksOf(run, progress)));
    } finally {
      probeAgain();
      await run.close();
    }
  });
}

/** The run's callbacks, in the order each event reaches them: fit's own, then the user's. */
function callbacksOf(run: FitRun, progress: EpochProgress): LoopCallback[] {
  const o = run.o;
  return [
    progress,
    ...(o.validation === undefined ? [] : [new Validation(run, o.validation)]),
    new History(run.history),
    ...(o.checkpoint === undefined ? [] : [new Checkpoints(run, o.checkpoint)]),
    ...(o.callbacks.length === 0 ? [] : [new UserCallbacks(o.callbacks, isTensorData(run.data) ? run.batchesPerEpoch : undefined)])
  ];
}

/** Whether the run's signal asks it to stop: checked before every batch. */
function stopping(run: FitRun): boolean {
  return run.o.signal?.aborted === true;
}

/**
 * The epochs of a run, from the first one not yet trained (after a resume), until the last or until the signal stops
 * it. An epoch the signal cut short ends like any other, marked incomplete (its summary, no validation, no checkpoint).
 */
async function fitLoop(run: FitRun, progress: EpochProgress, callbacks: CallbackList): Promise<FitHistory> {
  await callbacks.onTrainBegin();
  for (let epoch = run.startEpoch; epoch < run.o.epochs && !stopping(run); epoch++) {
    await callbacks.onEpochBegin(epoch);
    const { batches, complete } = await runEpoch(run, epoch, callbacks);
    if (batches === 0 && !complete) break;
    if (!isTensorData(run.data) && complete) run.batchesPerEpoch = Math.max(1, batches);
    await callbacks.onEpochEnd(epoch, { info: progress.summary(epoch), complete });
  }
  const history: FitHistory = { epochs: run.history, objectiveValues: run.state.values };
  await callbacks.onTrainEnd(history);
  return history;
}

/**
 * One pass over the data, or its batches until the signal stops it; every batch's values reach `onBatchEnd` once
 * read back. Returns the number of batches trained and whether the pass was complete.
 */
async function runEpoch(run: FitRun, epoch: number, callbacks: CallbackList): Promise<{ batches: number; complete: boolean }> {
  const data = run.data;
  const permutation = isTensorData(data) && run.o.shuffle ? run.rng.permutation(data.x.shape[0] ?? 0) : undefined;
  const reads = new Readback(run.objective.name, run.report);
  const emit: EmitBatch = async (log) => { await callbacks.onBatchEnd(log); };
  let batch = 0;
  let offset = 0;
  let complete = true;
  try {
    for await (const b of passOver(data, run.o.batchSize, permutation)) {
      if (stopping(run)) {
        // The batch arrived before the signal was seen: released untrained (leaving the loop ends the pass).
        tf.dispose([b.x, b.y]);
        complete = false;
        break;
      }
      await trainBatch(run, reads, b, { epoch, batch, offset }, emit);
      offset += b.x.shape[0] ?? 0;
      batch += 1;
    }
    // The batches applied but not yet read back (logEvery > 1) are reported, also when the signal stopped the pass.
    await reads.flush(emit);
  } finally {
    reads.dispose();
  }
  return { batches: batch, complete };
}

/**
 * One batch: its checks (data from an iterable), the context, the augmentation, the objective's preparation and the
 * gradient step; then either read back and applied (`immediate`) or applied and read back later with its group.
 * The batch and all it made are released here; a failure names a bad batch first when one is the likely cause.
 */
async function trainBatch(run: FitRun, reads: Readback, b: { x: tf.Tensor; y: tf.Tensor1D }, at: { epoch: number; batch: number; offset: number }, emit: EmitBatch): Promise<void> {
  const { x, y } = b;
  let xTrain: tf.Tensor = x;
  let prepared: tf.TensorContainer | undefined;
  let step: StepOutput | undefined;
  let checks: ArrivingChecks | undefined;
  let handed = false;
  try {
    // Data that arrives in batches is checked on the device and read back with the batch's loss.
    if (!isTensorData(run.data)) checks = checkArrivingBatch(x, y, run.numClasses, run.objective.bounds, at.offset);
    const ctx = run.context(at.epoch, at.batch);
    // A seed per batch only with augment, so that a run without it draws what it always did.
    if (run.o.augment !== undefined) xTrain = augmentBatch(run.o.augment, x, { seed: run.rng.nextSeed(), epoch: at.epoch, batch: at.batch });
    const input = xTrain;
    const state = run.state;
    prepared = tf.tidy(() => run.objective.prepare(input, y, ctx, state));
    step = gradientStep(run.objective, prepared, { x: xTrain, y }, ctx, state, run.trainable());
    const place: BatchPlace = { epoch: at.epoch, batch: at.batch, size: x.shape[0] ?? 0, learningRate: ctx.learningRate };
    if (run.immediate) {
      await readThenUpdate(run, reads, { step, checks, place, ctx }, emit);
      return;
    }
    applyUpdate(run.optimizer, run.trainable(), step.grads, run.o.weightDecay, run.decayed);
    reads.defer(place, step, checks);
    handed = true;
    if (reads.pending >= run.o.logEvery) await reads.flush(emit);
  } catch (error) {
    throw await reads.causeOf(error, handed ? undefined : checks);
  } finally {
    if (step !== undefined) tf.dispose(step.grads);
    if (!handed) tf.dispose([...(step === undefined ? [] : [step.readout]), ...(checks === undefined ? [] : [checks.codes])]);
    if (prepared !== undefined) disposeExcept(prepared, [x, xTrain, y]);
    if (xTrain !== x) xTrain.dispose();
    tf.dispose([x, y]);
  }
}

/** The immediate path: the batch's values first, then (unless the skip rule drops it) the update and the state's update. */
async function readThenUpdate(
  run: FitRun,
  reads: Readback,
  batch: { readonly step: StepOutput; readonly checks: ArrivingChecks | undefined; readonly place: BatchPlace; readonly ctx: BatchContext },
  emit: EmitBatch
): Promise<void> {
  const { step, checks, place, ctx } = batch;
  const v = await reads.read(step, checks);
  const skipped = run.objective.skip?.(v.terms) ?? false;
  if (!skipped) {
    reads.failIfNonFinite(place, v);
    applyUpdate(run.optimizer, run.trainable(), step.grads, run.o.weightDecay, run.decayed);
    run.update(v.terms, ctx);
  }
  tf.dispose(step.grads);
  await emit({ ...place, values: v, skipped });
}

/**
 * `fit`: the training loop. Its parts live beside it: options (fit-options.ts), the data pipeline (fit-data.ts), one
 * step (train-step.ts) and checkpoints (fit-resume.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../core/random.js';
import { evaluate } from '../eval/evaluate.js';
import type { BatchContext, Objective } from './objective.js';
import { asStudent, studentModel, type LayersStudentLike, type Student } from './student.js';
import { augmentBatch, checkArrivingBatch, isTensorData, passOver, probeData, reportArrivingBatch, type ArrivingChecks, type FitData } from './fit-data.js';
import { makeOptimizer, resolveFitOptions, setLearningRate, type EpochInfo, type FitHistory, type FitOptions } from './fit-options.js';
import { applyUpdate, disposeExcept, EpochLog, gradientStep, type StepOutput } from './train-step.js';
import { disposeOptimizer, openCheckpoints, resumeFrom, saveEpoch } from './fit-resume.js';

export type { BatchIterator, DatasetLike, Examples, FitBatch, FitData, TfDataBatch } from './fit-data.js';
export type { BatchInfo, CheckpointOptions, EpochInfo, FitHistory, FitOptions, ValidationOptions, ValidationResult } from './fit-options.js';

/**
 * Trains a student with any objective (`pgdAt`, `trades`, `rslad`, `darht`, …) on any tfjs backend.
 *
 * Per batch: the objective prepares what it needs outside the gradient tape (adversarial examples against the
 * student in inference mode, each frozen teacher's outputs once per input), computes its loss terms inside the
 * tape, and the gradients of the total update the student's (and the objective's own) trainable variables.
 * Shuffling, augmentation (`augment`), attack starts and coin flips draw from one seeded source, and checkpoints
 * hold everything needed to continue exactly: weights, optimizer state, epoch, random state and objective state. A run interrupted after
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
  const o = resolveFitOptions(fn, objective, options);
  const net = asStudent(fn, student);
  const numClasses = await probeData(fn, net, data, objective, o.batchSize, o.validation);
  const release = await openCheckpoints(fn, o.checkpoint);
  const optimizer = makeOptimizer(o);
  const rng = createRandom(o.seed);
  const history: EpochInfo[] = [];
  let startEpoch = 0;
  try {
    if (o.resume && o.checkpoint !== undefined) startEpoch = await resumeFrom(fn, o.checkpoint, net, optimizer, objective, rng, history);
  } catch (error) {
    // fit's own optimizer is released on every path (a corrupt checkpoint, a mismatched one).
    if (o.optimizer === undefined) disposeOptimizer(optimizer);
    await release();
    throw error;
  }
  const trainable = [...net.trainableVariables, ...(objective.variables ?? [])];
  const decayed = new Set(net.trainableVariables.map((v) => v.name));
  const model = studentModel(net);
  // A skip rule or an update that reads the terms needs each batch's values before the next batch.
  const immediate = o.logEvery === 1 || objective.skip !== undefined || objective.update !== undefined;
  let batchesPerEpoch = isTensorData(data) ? Math.ceil((data.x.shape[0] ?? 0) / o.batchSize) : 1;
  const report = (values: ArrayLike<number>, offset: number): void => { reportArrivingBatch(fn, values, offset, numClasses, objective.bounds); };
  try {
    for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      const permutation = isTensorData(data) && o.shuffle ? rng.permutation(data.x.shape[0] ?? 0) : undefined;
      const log = new EpochLog(fn, objective.name, epoch, o.onBatchEnd, isTensorData(data) ? batchesPerEpoch : undefined, report);
      let batch = 0;
      let seenInPass = 0;
      let lr = o.baseRate;
      try {
        for await (const { x, y } of passOver(fn, data, o.batchSize, permutation)) {
          // The batch the objective trains on: x, or its augmentation (disposed here, x with the batch).
          let xTrain: tf.Tensor = x;
          let prepared: tf.TensorContainer | undefined;
          let step: StepOutput | undefined;
          let checks: ArrivingChecks | undefined;
          let deferred = false;
          try {
            // Data that arrives in batches is checked on the device and read back with the batch's loss.
            if (!isTensorData(data)) checks = checkArrivingBatch(fn, x, y, numClasses, objective.bounds, seenInPass);
            seenInPass += x.shape[0] ?? 0;
            lr = o.schedule === undefined ? o.baseRate : o.schedule(o.baseRate, { epoch, batch, batchesPerEpoch, epochs: o.epochs });
            if (o.manageRate) setLearningRate(optimizer, lr);
            const batchesKnown = isTensorData(data) || epoch > startEpoch ? batchesPerEpoch : undefined;
            const ctx: BatchContext = { epoch, epochs: o.epochs, batch, progress: epoch / o.epochs, batchesPerEpoch: batchesKnown, rng,
              student: net, studentModel: model, learningRate: lr, baseLearningRate: o.baseRate };
            // A seed per batch only with augment, so that a run without it draws what it always did.
            if (o.augment !== undefined) xTrain = augmentBatch(fn, o.augment, x, { seed: rng.nextSeed(), epoch, batch });
            const input = xTrain;
            prepared = tf.tidy(() => objective.prepare(input, y, ctx));
            step = gradientStep(objective, prepared, xTrain, y, ctx, trainable);
            if (immediate) {
              const v = await log.readStep(step.readout, step.termNames, step.hasAccuracy, checks);
              const skip = objective.skip?.(v.terms) ?? false;
              if (!skip) {
                log.failIfNonFinite(batch, v);
                applyUpdate(optimizer, trainable, step.grads, o.weightDecay, decayed);
                objective.update?.(v.terms, ctx);
              }
              tf.dispose(step.grads);
              await log.record({ batch, size: x.shape[0] ?? 0, lr }, v, skip);
            } else {
              applyUpdate(optimizer, trainable, step.grads, o.weightDecay, decayed);
              log.defer({ batch, size: x.shape[0] ?? 0, lr }, step.readout, step.termNames, step.hasAccuracy, checks);
              deferred = true;
              checks = undefined;
              if (log.pending >= o.logEvery) await log.flush();
            }
          } catch (error) {
            // A bad batch not yet read back is the likely cause (a label beyond the classes, NaN inputs): said first.
            throw await log.causeOf(error, checks);
          } finally {
            checks?.codes.dispose();
            if (step !== undefined) {
              tf.dispose(step.grads);
              if (!deferred) step.readout.dispose();
            }
            if (prepared !== undefined) disposeExcept(prepared, [x, xTrain, y]);
            if (xTrain !== x) xTrain.dispose();
            tf.dispose([x, y]);
          }
          batch += 1;
        }
        await log.flush();
      } finally {
        log.dispose();
      }
      if (!isTensorData(data)) batchesPerEpoch = Math.max(1, batch);
      let info: EpochInfo = log.summary(lr, batch, (performance.now() - t0) / 1000);
      const v = o.validation;
      if (v !== undefined && ((epoch + 1) % (v.every ?? 1) === 0 || epoch + 1 === o.epochs)) {
        const deployed = objective.deploy === undefined ? model : objective.deploy(model);
        const r = await evaluate(deployed, v.x, v.y, { ...(v.attacks === undefined ? {} : { attacks: v.attacks }), ...(v.batchSize === undefined ? {} : { batchSize: v.batchSize }) });
        info = { ...info, validation: { clean: r.clean, attacks: r.attacks, worstCase: r.worstCase } };
      }
      history.push(info);
      const ckpt = o.checkpoint;
      if (ckpt !== undefined && ((epoch + 1) % (ckpt.every ?? 1) === 0 || epoch + 1 === o.epochs)) await saveEpoch(ckpt, epoch + 1, net, optimizer, objective, rng, history);
      await o.onEpochEnd?.(info);
    }
  } finally {
    if (o.optimizer === undefined) disposeOptimizer(optimizer);
    await release();
  }
  return { epochs: history };
}

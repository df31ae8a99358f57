/**
 * One run of `fit`: what it holds from its first batch to its last (the student, the optimizer, the random source,
 * the objective's state, the history), how it starts (checks, `init`, the checkpoint folder, a resume) and how it
 * ends (everything it made released, on every path).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { createRandom, type Random } from '../core/random.js';
import type { BatchContext, Objective, ObjectiveState } from './objective.js';
import { studentModel, type Student } from './student.js';
import { isTensorData, probeData, reportArrivingBatch, type FitData } from './fit-data.js';
import { makeOptimizer, setLearningRate, type EpochInfo, type ResolvedFit } from './fit-options.js';
import { disposeOptimizer, openCheckpoints, resumeFrom } from './fit-resume.js';
import { advanceState, releaseState, trainableOf } from './objective-state.js';
import type { DataReport } from './readback.js';

/** A run of `fit`, between {@link openRun} and {@link FitRun.close}. */
export class FitRun {
  /** The student's logits in inference mode. */
  readonly model: Model;
  /** The student's variables that weight decay applies to. */
  readonly decayed: ReadonlySet<string>;
  /** Every batch is read back before its update: a skip rule or a state update needs the values first. */
  readonly immediate: boolean;
  /** Throws for the first bad example of a batch that arrived from an iterable. */
  readonly report: DataReport;
  /** The epochs so far, resumed ones included. */
  readonly history: EpochInfo[] = [];
  /** The first epoch to train (after a resume). */
  startEpoch = 0;
  /** Batches per epoch: known for tensor data, counted after the first epoch for an iterable. */
  batchesPerEpoch: number;

  constructor(
    readonly o: ResolvedFit,
    readonly net: Student,
    readonly data: FitData,
    readonly objective: Objective,
    readonly numClasses: number,
    /** The objective's state, held here between batches. */
    public state: ObjectiveState,
    readonly optimizer: tf.Optimizer,
    readonly rng: Random,
    private readonly unlock: () => Promise<void>
  ) {
    this.model = studentModel(net);
    this.decayed = new Set(net.trainableVariables.map((v) => v.name));
    this.immediate = o.logEvery === 1 || objective.skip !== undefined || objective.update !== undefined;
    this.report = (values, offset) => { reportArrivingBatch(values, offset, numClasses, objective.bounds); };
    this.batchesPerEpoch = isTensorData(data) ? Math.ceil((data.x.shape[0] ?? 0) / o.batchSize) : 1;
  }

  /** The student's trainable variables and the state's, in that order. */
  trainable(): tf.Variable[] {
    return [...this.net.trainableVariables, ...trainableOf(this.state)];
  }

  /** The context of a batch; sets the schedule's learning rate on the optimizer. */
  context(epoch: number, batch: number): BatchContext {
    const o = this.o;
    const lr = o.schedule === undefined ? o.baseRate : o.schedule(o.baseRate, { epoch, batch, batchesPerEpoch: this.batchesPerEpoch, epochs: o.epochs });
    if (o.manageRate) setLearningRate(this.optimizer, lr);
    const known = isTensorData(this.data) || epoch > this.startEpoch ? this.batchesPerEpoch : undefined;
    return { epoch, epochs: o.epochs, batch, progress: epoch / o.epochs, batchesPerEpoch: known, rng: this.rng,
      student: this.net, studentModel: this.model, learningRate: lr, baseLearningRate: o.baseRate };
  }

  /** The objective's update after an applied batch. */
  update(terms: Readonly<Record<string, number>>, ctx: BatchContext): void {
    this.state = advanceState(this.objective, this.state, terms, ctx);
  }

  /** Releases what the run made: its own optimizer, the objective's state, the checkpoint folder's lock. */
  async close(): Promise<void> {
    try {
      if (this.o.optimizer === undefined) disposeOptimizer(this.optimizer);
      releaseState(this.state);
    } finally {
      await this.unlock();
    }
  }
}

/**
 * Starts a run: checks the data and the objective on one example, makes the objective's state, takes the checkpoint
 * folder and resumes from it when asked. Whatever it made is released when a step of it throws.
 */
export async function openRun(o: ResolvedFit, net: Student, data: FitData, objective: Objective): Promise<FitRun> {
  const { numClasses, state } = await probeData(net, data, objective, o.batchSize, o.validation);
  let unlock: () => Promise<void>;
  try {
    unlock = await openCheckpoints(o.checkpoint);
  } catch (error) {
    releaseState(state);
    throw error;
  }
  const run = new FitRun(o, net, data, objective, numClasses, state, makeOptimizer(o), createRandom(o.seed), unlock);
  try {
    if (o.resume && o.checkpoint !== undefined) {
      const resumed = await resumeFrom(o.checkpoint, run);
      run.startEpoch = resumed.epoch;
      run.state = resumed.state;
    }
  } catch (error) {
    await run.close();
    throw error;
  }
  return run;
}

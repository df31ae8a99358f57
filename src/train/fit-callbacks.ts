/**
 * The callbacks `fit` runs on every run, in this order: the epoch summary, validation, the history, checkpoints, and
 * the user's callbacks (the `callbacks` option, then the `onBatchEnd` and `onEpochEnd` options).
 */
import { evaluate } from '../eval/evaluate.js';
import type { BatchLog, EpochLogs, LoopCallback } from './callbacks.js';
import type { BatchInfo, CheckpointOptions, EpochInfo, FitCallback, FitHistory, ValidationOptions } from './fit-options.js';
import { saveEpoch } from './fit-resume.js';
import type { FitRun } from './fit-run.js';

/** Whether an every-N event falls after `epoch` (0-based): every N epochs, and after the last. */
function due(epoch: number, every: number | undefined, epochs: number): boolean {
  return (epoch + 1) % (every ?? 1) === 0 || epoch + 1 === epochs;
}

/**
 * An epoch's summary: sums of the loss, the terms and correct predictions over the updated batches, the skipped count,
 * the last learning rate and the wall time.
 */
export class EpochProgress implements LoopCallback {
  private sums: Record<string, number> = {};
  private loss = 0;
  private correct = 0;
  private seen = 0;
  private updated = 0;
  private skipped = 0;
  private batches = 0;
  private learningRate: number;
  private t0 = 0;

  constructor(private readonly baseRate: number) {
    this.learningRate = baseRate;
  }

  onEpochBegin(): void {
    this.sums = {};
    [this.loss, this.correct, this.seen, this.updated, this.skipped, this.batches] = [0, 0, 0, 0, 0, 0];
    this.learningRate = this.baseRate;
    this.t0 = performance.now();
  }

  onBatchEnd(log: BatchLog): void {
    this.batches += 1;
    this.learningRate = log.learningRate;
    if (log.skipped) {
      this.skipped += 1;
      return;
    }
    const v = log.values;
    this.loss += v.total;
    for (const [k, value] of Object.entries(v.terms)) this.sums[k] = (this.sums[k] ?? 0) + value;
    this.updated += 1;
    if (v.correct !== undefined) {
      this.correct += v.correct;
      this.seen += log.size;
    }
  }

  /** The summary of the epoch so far (without validation). */
  summary(epoch: number): EpochInfo {
    const mean = (v: number): number => (this.updated === 0 ? NaN : v / this.updated);
    return {
      epoch,
      loss: mean(this.loss),
      terms: Object.fromEntries(Object.entries(this.sums).map(([k, v]) => [k, mean(v)])),
      accuracy: this.seen === 0 ? undefined : this.correct / this.seen,
      learningRate: this.learningRate,
      batches: this.batches,
      skipped: this.skipped,
      seconds: (performance.now() - this.t0) / 1000
    };
  }
}

/**
 * Validation through `evaluate` of the deployed student (see `Objective.deploy`), every `every` epochs and after the
 * last; never after an epoch the signal cut short.
 */
export class Validation implements LoopCallback {
  constructor(private readonly run: FitRun, private readonly v: ValidationOptions) {}

  async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    const { run, v } = this;
    if (!logs.complete || !due(epoch, v.every, run.o.epochs)) return;
    const deployed = run.objective.deploy === undefined ? run.model : run.objective.deploy(run.model);
    const r = await evaluate(deployed, v.x, v.y, { ...(v.attacks === undefined ? {} : { attacks: v.attacks }), ...(v.batchSize === undefined ? {} : { batchSize: v.batchSize }) });
    logs.info = { ...logs.info, validation: { clean: r.clean, attacks: r.attacks, worstCase: r.worstCase } };
  }
}

/** The history of epochs `fit` returns and checkpoints save. */
export class History implements LoopCallback {
  constructor(private readonly epochs: EpochInfo[]) {}

  onEpochEnd(_epoch: number, logs: EpochLogs): void {
    this.epochs.push(logs.info);
  }
}

/**
 * Checkpoints every `every` epochs and after the last: everything a resumed run needs to continue exactly. An epoch
 * the signal cut short is not saved: a resume would take it for complete.
 */
export class Checkpoints implements LoopCallback {
  constructor(private readonly run: FitRun, private readonly ckpt: CheckpointOptions) {}

  async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    if (logs.complete && due(epoch, this.ckpt.every, this.run.o.epochs)) await saveEpoch(this.ckpt, epoch + 1, this.run);
  }
}

/** The user's callbacks (see `resolveFitOptions`), each event called on each in turn with the public reports. */
export class UserCallbacks implements LoopCallback {
  constructor(
    private readonly callbacks: readonly FitCallback[],
    /** Batches per epoch, reported when known in advance (tensor data). */
    private readonly batches: number | undefined
  ) {}

  async onTrainBegin(): Promise<void> {
    for (const c of this.callbacks) await c.onTrainBegin?.();
  }

  async onEpochBegin(epoch: number): Promise<void> {
    for (const c of this.callbacks) await c.onEpochBegin?.(epoch);
  }

  async onBatchEnd(log: BatchLog): Promise<void> {
    const v = log.values;
    const accuracy = v.correct === undefined ? undefined : v.correct / log.size;
    const info: BatchInfo = { epoch: log.epoch, batch: log.batch, batches: this.batches, loss: v.total, terms: v.terms, accuracy, learningRate: log.learningRate, skipped: log.skipped };
    for (const c of this.callbacks) await c.onBatchEnd?.(log.batch, info);
  }

  async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    for (const c of this.callbacks) await c.onEpochEnd?.(epoch, logs.info);
  }

  async onTrainEnd(history: FitHistory): Promise<void> {
    for (const c of this.callbacks) await c.onTrainEnd?.(history);
  }
}

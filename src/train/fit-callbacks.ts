/**
 * The callbacks `fit` runs on every run, in this order: the epoch summary, validation, the history, checkpoints, and
 * the user's `onBatchEnd` and `onEpochEnd`.
 */
import { evaluate } from '../eval/evaluate.js';
import type { BatchLog, EpochLogs, FitCallback } from './callbacks.js';
import type { BatchInfo, CheckpointOptions, EpochInfo, ValidationOptions } from './fit-options.js';
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
export class EpochProgress implements FitCallback {
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

/** Validation through `evaluate` of the deployed student (see `Objective.deploy`), every `every` epochs and after the last. */
export class Validation implements FitCallback {
  constructor(private readonly run: FitRun, private readonly v: ValidationOptions) {}

  async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    const { run, v } = this;
    if (!due(epoch, v.every, run.o.epochs)) return;
    const deployed = run.objective.deploy === undefined ? run.model : run.objective.deploy(run.model);
    const r = await evaluate(deployed, v.x, v.y, { ...(v.attacks === undefined ? {} : { attacks: v.attacks }), ...(v.batchSize === undefined ? {} : { batchSize: v.batchSize }) });
    logs.info = { ...logs.info, validation: { clean: r.clean, attacks: r.attacks, worstCase: r.worstCase } };
  }
}

/** The history of epochs `fit` returns and checkpoints save. */
export class History implements FitCallback {
  constructor(private readonly epochs: EpochInfo[]) {}

  onEpochEnd(_epoch: number, logs: EpochLogs): void {
    this.epochs.push(logs.info);
  }
}

/** Checkpoints every `every` epochs and after the last: everything a resumed run needs to continue exactly. */
export class Checkpoints implements FitCallback {
  constructor(private readonly run: FitRun, private readonly ckpt: CheckpointOptions) {}

  async onEpochEnd(epoch: number): Promise<void> {
    if (due(epoch, this.ckpt.every, this.run.o.epochs)) await saveEpoch(this.ckpt, epoch + 1, this.run);
  }
}

/** The user's `onBatchEnd` and `onEpochEnd`. */
export class UserHooks implements FitCallback {
  constructor(
    private readonly hooks: { readonly onBatchEnd: ((info: BatchInfo) => void | Promise<void>) | undefined; readonly onEpochEnd: ((info: EpochInfo) => void | Promise<void>) | undefined },
    /** Batches per epoch, reported when known in advance (tensor data). */
    private readonly batches: number | undefined
  ) {}

  async onBatchEnd(log: BatchLog): Promise<void> {
    const v = log.values;
    const accuracy = v.correct === undefined ? undefined : v.correct / log.size;
    await this.hooks.onBatchEnd?.({ epoch: log.epoch, batch: log.batch, batches: this.batches, loss: v.total, terms: v.terms, accuracy, learningRate: log.learningRate, skipped: log.skipped });
  }

  async onEpochEnd(_epoch: number, logs: EpochLogs): Promise<void> {
    await this.hooks.onEpochEnd?.(logs.info);
  }
}

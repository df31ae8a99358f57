/**
 * `fit`'s callbacks, as tfjs-layers' `CallbackList` drives them: the loop calls each event on every callback, in
 * order. Validation, checkpoints, the epoch summary and the user's `onBatchEnd`/`onEpochEnd` are callbacks
 * (fit-callbacks.ts).
 */
import type { EpochInfo } from './fit-options.js';
import type { StepValues } from './train-step.js';

/** A batch's values once read back, and where it sits. */
export interface BatchLog {
  /** 0-based epoch. */
  readonly epoch: number;
  /** 0-based batch within the epoch. */
  readonly batch: number;
  /** Examples in the batch. */
  readonly size: number;
  /** The learning rate the batch used. */
  readonly learningRate: number;
  /** The loss values. */
  readonly values: StepValues;
  /** Whether the objective's skip rule dropped the batch. */
  readonly skipped: boolean;
}

/** What an epoch's end hands from callback to callback: its summary, which a callback may extend (validation). */
export interface EpochLogs {
  /** The epoch's summary so far. */
  info: EpochInfo;
}

/** What a callback may do at each event of the loop; every event is optional and may be async. */
export interface FitCallback {
  /** Before the first epoch (after a resume). */
  onTrainBegin?(): void | Promise<void>;
  /** Before an epoch's first batch. */
  onEpochBegin?(epoch: number): void | Promise<void>;
  /** After a batch's values are read back (see `FitOptions.logEvery`): once per batch, in order. */
  onBatchEnd?(log: BatchLog): void | Promise<void>;
  /** After an epoch, with its summary. */
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
  /** After the last epoch. */
  onTrainEnd?(): void | Promise<void>;
}

/** Calls every event on each callback in turn, waiting for each. */
export class CallbackList implements Required<FitCallback> {
  constructor(private readonly callbacks: readonly FitCallback[]) {}

  async onTrainBegin(): Promise<void> {
    for (const c of this.callbacks) await c.onTrainBegin?.();
  }

  async onEpochBegin(epoch: number): Promise<void> {
    for (const c of this.callbacks) await c.onEpochBegin?.(epoch);
  }

  async onBatchEnd(log: BatchLog): Promise<void> {
    for (const c of this.callbacks) await c.onBatchEnd?.(log);
  }

  async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    for (const c of this.callbacks) await c.onEpochEnd?.(epoch, logs);
  }

  async onTrainEnd(): Promise<void> {
    for (const c of this.callbacks) await c.onTrainEnd?.();
  }
}

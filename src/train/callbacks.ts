/**
 * `fit`'s callbacks, as tfjs-layers' `CallbackList` drives them: the loop calls each event on every callback, in
 * order. Validation, checkpoints, the epoch summary, the history and the user's callbacks are loop callbacks
 * (fit-callbacks.ts); the user's see the public reports (`FitCallback` in fit-options.ts).
 */
import type { EpochInfo, FitHistory } from './fit-options.js';
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
  /** Whether every batch of the epoch was trained: false for an epoch the signal cut short (not validated, not saved). */
  readonly complete: boolean;
}

/** What a loop callback may do at each event of the loop; every event is optional and may be async. */
export interface LoopCallback {
  /** Before the first epoch (after a resume). */
  onTrainBegin?(): void | Promise<void>;
  /** Before an epoch's first batch. */
  onEpochBegin?(epoch: number): void | Promise<void>;
  /** After a batch's values are read back (see `FitOptions.logEvery`): once per batch, in order. */
  onBatchEnd?(log: BatchLog): void | Promise<void>;
  /** After an epoch, with its summary. */
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
  /** After the last epoch (or once the signal stopped training), with the history fit returns. */
  onTrainEnd?(history: FitHistory): void | Promise<void>;
}

/** Calls every event on each callback in turn, waiting for each. */
export class CallbackList implements Required<LoopCallback> {
  constructor(private readonly callbacks: readonly LoopCallback[]) {}

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

  async onTrainEnd(history: FitHistory): Promise<void> {
    for (const c of this.callbacks) await c.onTrainEnd?.(history);
  }
}

import { argumentError } from '../core/errors.js';
/**
 * `fit`'s readback of loss values: one asynchronous read per batch, or per group of `logEvery` batches, with the
 * checks of batches from an iterable read in the same readback; and the blame for a failure (a bad batch is said
 * before its loss).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readWithChecks } from '../core/device-checks.js';
import { isArrivingBatchError, type ArrivingChecks } from './fit-data.js';
import { nonFinite, stepValues, type StepOutput, type StepValues } from './train-step.js';
import type { BatchLog } from './callbacks.js';

/** Where a batch sits, for its log. */
export type BatchPlace = Omit<BatchLog, 'values' | 'skipped'>;

/** Throws for the first bad example of an arriving batch, from its check codes read back (see `reportArrivingBatch`). */
export type DataReport = (values: ArrayLike<number>, offset: number) => void;

/** A batch's values are handed on here, once read, in order. */
export type EmitBatch = (log: BatchLog) => Promise<void>;

interface Deferred {
  readonly place: BatchPlace;
  readonly step: StepOutput;
  readonly checks: ArrivingChecks | undefined;
}

function release(group: readonly Deferred[]): void {
  tf.dispose(group.flatMap((d) => (d.checks === undefined ? [d.step.readout] : [d.step.readout, d.checks.codes])));
}

/**
 * The readback of one epoch: batches whose values are still on the device (`logEvery` > 1) wait here until
 * {@link Readback.flush} reads them back together.
 */
export class Readback {
  private readonly deferred: Deferred[] = [];

  constructor(
    private readonly objectiveName: string,
    private readonly report: DataReport
  ) {}

  /** Batches waiting to be read back. */
  get pending(): number {
    return this.deferred.length;
  }

  /** Throws, naming the epoch, batch and term, when a step's loss is not finite. */
  failIfNonFinite(place: BatchPlace, v: StepValues): void {
    const bad = nonFinite(v);
    if (bad !== undefined) {
      throw argumentError(
        Error,
        `the loss became non-finite at epoch ${String(place.epoch + 1)}, batch ${String(place.batch + 1)} (term "${bad[0]}" = ${String(bad[1])}) with objective ${this.objectiveName}`
      );
    }
  }

  /**
   * Reads one step's values back asynchronously, with its batch's checks and every value check queued on the device
   * in the same readback, and throws for a bad batch. The caller keeps the step and `checks`.
   */
  async read(step: StepOutput, checks: ArrivingChecks | undefined): Promise<StepValues> {
    const [values = new Float32Array(0), codes] = await readWithChecks(checks === undefined ? [step.readout] : [step.readout, checks.codes]);
    if (checks !== undefined && codes !== undefined) this.report(codes, checks.offset);
    return stepValues(values, step.termNames, step.hasAccuracy);
  }

  /** Keeps a batch's readout and checks (the readback owns them now; the gradients stay the caller's) until the next flush. */
  defer(place: BatchPlace, step: StepOutput, checks: ArrivingChecks | undefined): void {
    this.deferred.push({ place, step, checks });
  }

  /** Reads the deferred batches' values and checks back in one readback, then checks and emits them in order. */
  async flush(emit: EmitBatch): Promise<void> {
    if (this.deferred.length === 0) return;
    const group = this.deferred.splice(0);
    let values: Float32Array[];
    try {
      values = await readWithChecks(group.flatMap((d) => (d.checks === undefined ? [d.step.readout] : [d.step.readout, d.checks.codes])));
    } finally {
      release(group);
    }
    let at = 0;
    for (const d of group) {
      const v = stepValues(values[at++] ?? new Float32Array(0), d.step.termNames, d.step.hasAccuracy);
      if (d.checks !== undefined) this.report(values[at++] ?? new Float32Array(0), d.checks.offset);
      this.failIfNonFinite(d.place, v);
      await emit({ ...d.place, values: v, skipped: false });
    }
  }

  /**
   * What to throw for a step that failed with `error`: the report of a bad batch not yet read back (among the
   * deferred ones and the failing one, `current`: the likely cause), else `error` itself, also when reading the
   * checks back fails (a lost device must not hide the original error).
   */
  async causeOf(error: unknown, current: ArrivingChecks | undefined): Promise<unknown> {
    if (isArrivingBatchError(error)) return error;
    const checks = [...this.deferred.map((d) => d.checks), current].filter((c): c is ArrivingChecks => c !== undefined);
    if (checks.length === 0) return error;
    try {
      const values = await readWithChecks(checks.map((c) => c.codes));
      checks.forEach((c, i) => {
        this.report(values[i] ?? new Float32Array(0), c.offset);
      });
    } catch (dataError) {
      if (isArrivingBatchError(dataError)) return dataError;
    }
    return error;
  }

  /** Releases readouts and checks not read back (after an error). */
  dispose(): void {
    release(this.deferred.splice(0));
  }
}

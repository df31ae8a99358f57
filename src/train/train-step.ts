/** One training step of `fit`: the objective's preparation, the loss and its gradients, and the update. */
import * as tf from '@tensorflow/tfjs-core';
import { isTensor } from '../core/errors.js';
import type { BatchContext, Objective } from './objective.js';
import type { BatchInfo, EpochInfo } from './fit-options.js';
import { isArrivingBatchError, type ArrivingChecks } from './fit-data.js';
import { readWithChecks } from '../core/device-checks.js';

/** What a step leaves on the device: its loss values in one vector, and the gradients. */
export interface StepOutput {
  /** `[total, ...terms, correct?]`: the total loss, each term, and (when the objective reports logits) the number of correct predictions. */
  readonly readout: tf.Tensor1D;
  /** The term names, in readout order. */
  readonly termNames: readonly string[];
  /** Whether the readout ends with the count of correct predictions. */
  readonly hasAccuracy: boolean;
  /** Gradients of the total by variable name. */
  readonly grads: tf.NamedTensorMap;
}

/** A step's loss values, read back. */
export interface StepValues {
  readonly total: number;
  readonly terms: Readonly<Record<string, number>>;
  /** Correct predictions in the batch, when the objective reports logits. */
  readonly correct: number | undefined;
}

/** Disposes every tensor in `container` except those in `keep`. */
export function disposeExcept(container: tf.TensorContainer, keep: readonly tf.Tensor[]): void {
  const seen = new Set<tf.Tensor>();
  const walk = (c: unknown): void => {
    if (isTensor(c)) {
      if (!keep.includes(c) && !seen.has(c)) {
        seen.add(c);
        c.dispose();
      }
    } else if (Array.isArray(c)) c.forEach(walk);
    else if (typeof c === 'object' && c !== null) Object.values(c).forEach(walk);
  };
  walk(container);
}

/**
 * The objective's loss on a prepared batch and its gradients with respect to `trainable`, with nothing read back:
 * the loss values stay on the device in {@link StepOutput.readout}.
 */
export function gradientStep(objective: Objective, prepared: tf.TensorContainer, x: tf.Tensor, y: tf.Tensor1D, ctx: BatchContext, trainable: tf.Variable[]): StepOutput {
  let readout: tf.Tensor1D | undefined;
  let termNames: string[] = [];
  let hasAccuracy = false;
  const { value, grads } = tf.variableGrads(() => {
    const out = objective.loss(prepared, x, y, ctx);
    termNames = Object.keys(out.terms);
    const parts: tf.Tensor[] = [tf.reshape(out.total, [1]), ...termNames.map((k) => tf.reshape(out.terms[k] as tf.Scalar, [1]))];
    if (out.accuracyLogits !== undefined) {
      hasAccuracy = true;
      parts.push(tf.reshape(tf.sum(tf.cast(tf.equal(tf.argMax(out.accuracyLogits, 1), y), 'float32')), [1]));
    }
    readout = tf.keep(tf.concat(parts) as tf.Tensor1D);
    return out.total;
  }, trainable);
  value.dispose();
  if (readout === undefined) throw new Error('fit: the objective returned no loss');
  return { readout, termNames, hasAccuracy, grads };
}

/** Splits a readout's values (see {@link StepOutput.readout}) into the total, the terms and the correct count. */
export function stepValues(values: ArrayLike<number>, termNames: readonly string[], hasAccuracy: boolean): StepValues {
  return {
    total: values[0] ?? NaN,
    terms: Object.fromEntries(termNames.map((k, i) => [k, values[i + 1] ?? NaN])),
    correct: hasAccuracy ? (values[termNames.length + 1] ?? 0) : undefined
  };
}

/** The first non-finite value of a step, as `[name, value]`, or undefined. */
export function nonFinite(v: StepValues): readonly [string, number] | undefined {
  return [['total', v.total] as const, ...Object.entries(v.terms)].find(([, value]) => !Number.isFinite(value));
}

/** Applies the gradients, with coupled weight decay `g + λ·w` on the student's variables in `decayed`. */
export function applyUpdate(optimizer: tf.Optimizer, trainable: readonly tf.Variable[], grads: tf.NamedTensorMap, weightDecay: number, decayed: ReadonlySet<string>): void {
  const update: tf.NamedTensorMap = {};
  for (const v of trainable) {
    const g = grads[v.name];
    if (g === undefined) continue;
    update[v.name] = weightDecay > 0 && decayed.has(v.name) ? tf.tidy(() => tf.add(g, tf.mul(v, weightDecay))) : g;
  }
  try {
    optimizer.applyGradients(update);
  } finally {
    tf.dispose(Object.values(update).filter((t) => !Object.values(grads).includes(t)));
  }
}

function release(group: readonly Deferred[]): void {
  tf.dispose(group.flatMap((d) => (d.checks === undefined ? [d.readout] : [d.readout, d.checks.codes])));
}

/** Where a batch sits in its epoch, for its report. */
export interface BatchPlace {
  readonly batch: number;
  readonly size: number;
  readonly lr: number;
}

/** Throws for the first bad example of an arriving batch, from its check codes read back (see `reportArrivingBatch`). */
export type DataReport = (values: ArrayLike<number>, offset: number) => void;

interface Deferred {
  place: BatchPlace;
  readout: tf.Tensor1D;
  termNames: readonly string[];
  hasAccuracy: boolean;
  checks: ArrivingChecks | undefined;
}

/**
 * An epoch's bookkeeping: sums of the loss, the terms and correct predictions over the updated batches, the skipped
 * count, `onBatchEnd` reports, and the batches whose values are still on the device (`logEvery` > 1), read back
 * together by {@link EpochLog.flush}. The checks of batches that arrived from an iterable are read back with their
 * loss, and a bad batch is reported before its loss.
 */
export class EpochLog {
  private readonly sums: Record<string, number> = {};
  private loss = 0;
  private correct = 0;
  private seen = 0;
  private updated = 0;
  private skipped = 0;
  private readonly deferred: Deferred[] = [];

  constructor(
    private readonly fn: string,
    private readonly objectiveName: string,
    private readonly epoch: number,
    private readonly onBatchEnd: ((info: BatchInfo) => void | Promise<void>) | undefined,
    private readonly batches: number | undefined,
    private readonly report: DataReport
  ) {}

  /** Batches waiting to be read back. */
  get pending(): number {
    return this.deferred.length;
  }

  /** Throws, naming the epoch, batch and term, when a step's loss is not finite. */
  failIfNonFinite(batch: number, v: StepValues): void {
    const bad = nonFinite(v);
    if (bad !== undefined) {
      throw new Error(
        `${this.fn}: the loss became non-finite at epoch ${String(this.epoch + 1)}, batch ${String(batch + 1)} (term "${bad[0]}" = ${String(bad[1])}) with objective ${this.objectiveName}`
      );
    }
  }

  /** Adds a batch's values and reports it. */
  async record(place: BatchPlace, v: StepValues, skipped: boolean): Promise<void> {
    if (skipped) this.skipped += 1;
    else {
      this.loss += v.total;
      for (const [k, value] of Object.entries(v.terms)) this.sums[k] = (this.sums[k] ?? 0) + value;
      this.updated += 1;
      if (v.correct !== undefined) {
        this.correct += v.correct;
        this.seen += place.size;
      }
    }
    const accuracy = v.correct === undefined ? undefined : v.correct / place.size;
    await this.onBatchEnd?.({ epoch: this.epoch, batch: place.batch, batches: this.batches, loss: v.total, terms: v.terms, accuracy, learningRate: place.lr, skipped });
  }

  /**
   * Reads one step's values back asynchronously, with its batch's checks and every value check queued on the device
   * in the same readback, and throws for a bad batch. The caller keeps `readout` and `checks`.
   */
  async readStep(readout: tf.Tensor1D, termNames: readonly string[], hasAccuracy: boolean, checks: ArrivingChecks | undefined): Promise<StepValues> {
    const [values = new Float32Array(0), codes] = await readWithChecks(checks === undefined ? [readout] : [readout, checks.codes]);
    if (checks !== undefined && codes !== undefined) this.report(codes, checks.offset);
    return stepValues(values, termNames, hasAccuracy);
  }

  /** Keeps a batch's readout and checks (the log owns them now) until the next {@link EpochLog.flush}. */
  defer(place: BatchPlace, readout: tf.Tensor1D, termNames: readonly string[], hasAccuracy: boolean, checks: ArrivingChecks | undefined): void {
    this.deferred.push({ place, readout, termNames, hasAccuracy, checks });
  }

  /** Reads the deferred batches' values and checks back in one asynchronous readback, then checks and records them in order. */
  async flush(): Promise<void> {
    if (this.deferred.length === 0) return;
    const group = this.deferred.splice(0);
    let values: Float32Array[];
    try {
      values = await readWithChecks(group.flatMap((d) => (d.checks === undefined ? [d.readout] : [d.readout, d.checks.codes])));
    } finally {
      release(group);
    }
    let at = 0;
    for (const d of group) {
      const v = stepValues(values[at++] ?? new Float32Array(0), d.termNames, d.hasAccuracy);
      if (d.checks !== undefined) this.report(values[at++] ?? new Float32Array(0), d.checks.offset);
      this.failIfNonFinite(d.place.batch, v);
      await this.record(d.place, v, false);
    }
  }

  /**
   * After a step failed: reads the checks of the batches not yet read back (and of the failing one, `current`), and
   * throws for the first bad batch among them, whose data is then the likely cause. Returns when they are all valid.
   */
  async reportPendingData(current: ArrivingChecks | undefined): Promise<void> {
    const checks = [...this.deferred.map((d) => d.checks), current].filter((c): c is ArrivingChecks => c !== undefined);
    if (checks.length === 0) return;
    const values = await readWithChecks(checks.map((c) => c.codes));
    checks.forEach((c, i) => {
      this.report(values[i] ?? new Float32Array(0), c.offset);
    });
  }

  /**
   * What to throw for a step that failed with `error`: the report of a bad batch not yet read back (the likely cause),
   * else `error` itself, also when reading the checks back fails (a lost device must not hide the original error).
   */
  async causeOf(error: unknown, current: ArrivingChecks | undefined): Promise<unknown> {
    if (isArrivingBatchError(error)) return error;
    try {
      await this.reportPendingData(current);
    } catch (dataError) {
      if (isArrivingBatchError(dataError)) return dataError;
    }
    return error;
  }

  /** Releases readouts and checks not read back (after an error). */
  dispose(): void {
    release(this.deferred.splice(0));
  }

  /** The epoch's summary (without validation). */
  summary(learningRate: number, batches: number, seconds: number): EpochInfo {
    const mean = (v: number): number => (this.updated === 0 ? NaN : v / this.updated);
    return {
      epoch: this.epoch,
      loss: mean(this.loss),
      terms: Object.fromEntries(Object.entries(this.sums).map(([k, v]) => [k, mean(v)])),
      accuracy: this.seen === 0 ? undefined : this.correct / this.seen,
      learningRate,
      batches,
      skipped: this.skipped,
      seconds
    };
  }
}

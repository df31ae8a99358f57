import * as tf from '@tensorflow/tfjs-core';
import { named, runAs, runningName } from './errors.js';

/**
 * Value checks that never read synchronously where a backend cannot.
 *
 * A value check (labels in range, inputs inside the box, finite values) is split in two: a small tensor of codes
 * computed on the device, and a function that reads those codes on the host and throws the error. On a backend that
 * reads synchronously and cheaply (cpu, wasm, tensorflow) the codes are read at once and the error is thrown by the
 * function the user called, as before. On the others (webgl, webgpu, and any backend ardkit does not know) the codes
 * stay on the device, queued; the next asynchronous ardkit boundary (`fit`, `evaluate`, `autoAttack`, …) reads them
 * together with its own readback, and {@link flushChecks} reads them for callers who use the attacks and losses
 * alone. The error names the function that queued the check, so it names what the user called either way.
 */

/** The backends whose synchronous readback is available and cheap: checks are read at once there. */
const SYNC_BACKENDS: ReadonlySet<string> = new Set(['cpu', 'wasm', 'tensorflow']);

/** A check whose codes are still on the device. */
interface PendingCheck {
  /** Codes (any dtype), kept out of every tidy scope; disposed when the check is read. */
  readonly codes: tf.Tensor;
  /** Reads the codes' values and throws the check's error if they show a failure. */
  readonly report: (values: Float32Array) => void;
}

let pending: PendingCheck[] = [];
let forced: boolean | undefined;
let warned = false;

/** Queued checks past which a program that never flushes is told to (each holds a small tensor on the device). */
export const QUEUE_WARNING = 256;

/**
 * Whether value checks read back at once on the active backend (cpu, wasm, tensorflow) rather than queue on the
 * device. Internal.
 */
export function checksReadAtOnce(): boolean {
  return forced ?? SYNC_BACKENDS.has(tf.getBackend());
}

/**
 * Forces value checks to queue (`true`) or read at once (`false`) whatever the backend, or restores the default
 * (`undefined`). For tests of the queued path on the cpu backend. Internal.
 */
export function deferChecksForTesting(defer: boolean | undefined): void {
  forced = defer === undefined ? undefined : !defer;
}

/**
 * Runs a value check: `codes()` computes its codes on the device (inside a tidy scope), `report` reads them on the
 * host and throws on a failure. Read at once where {@link checksReadAtOnce}, else queued for the next asynchronous
 * boundary. Internal.
 */
export function deviceCheck(codes: () => tf.Tensor, check: (values: Float32Array) => void): void {
  // Its errors name the call that queued it, even when they surface at a later readback.
  const name = runningName();
  const report = (values: Float32Array): void => { runAs(name, () => { check(values); }); };
  const c = tf.tidy(() => tf.cast(tf.reshape(codes(), [-1]), 'float32'));
  if (checksReadAtOnce()) {
    let values: Float32Array;
    try {
      values = c.dataSync() as Float32Array;
    } finally {
      c.dispose();
    }
    report(values);
    return;
  }
  pending.push({ codes: tf.keep(c), report });
  if (pending.length >= QUEUE_WARNING && !warned) {
    warned = true;
    console.warn(
      `ardkit: ${String(pending.length)} value checks are waiting on the ${tf.getBackend()} device, each holding a small tensor. ` +
        'Call `await flushChecks()` (from ardkit/core) after the attacks and losses you run outside fit and evaluate, e.g. once per batch.'
    );
  }
}

/** A value check in two parts: codes computed on the device, and a function that reads them on the host. */
export interface ValueCheck {
  /** Computes the check's codes (any shape and dtype) on the device, inside a tidy scope. */
  readonly codes: () => tf.Tensor;
  /** Reads the codes' values and throws the check's error (or warns) if they show a failure. */
  readonly check: (values: Float32Array) => void;
}

/**
 * Runs several value checks as one {@link deviceCheck}: their codes are joined into one tensor, so on cpu, wasm and
 * tensorflow they cost one readback together, and each reads its own slice, in the order given (the first failure
 * throws). `undefined` entries are skipped. Internal.
 */
export function deviceChecks(checks: ReadonlyArray<ValueCheck | undefined>): void {
  const given = checks.filter((c): c is ValueCheck => c !== undefined);
  const [only] = given;
  if (only === undefined) return;
  if (given.length === 1) {
    deviceCheck(only.codes, only.check);
    return;
  }
  const sizes: number[] = [];
  deviceCheck(
    () =>
      tf.concat(
        given.map((c) => {
          const part = tf.cast(tf.reshape(c.codes(), [-1]), 'float32');
          sizes.push(part.size);
          return part;
        })
      ),
    (values) => {
      let offset = 0;
      given.forEach((c, i) => {
        const size = sizes[i] ?? 0;
        c.check(values.subarray(offset, offset + size));
        offset += size;
      });
    }
  );
}

/** How many checks are queued on the device (0 on cpu, wasm and tensorflow). Internal; for tests. */
export function pendingChecks(): number {
  return pending.length;
}

/**
 * Reads `tensors` back asynchronously (as float32), together with every value check queued on the device, in one
 * readback: the queued checks throw first, and every queued code is released either way. The asynchronous functions of
 * ardkit read through it. Internal.
 */
export async function readWithChecks(tensors: readonly tf.Tensor[]): Promise<Float32Array[]> {
  const taken = pending;
  pending = [];
  const parts = [...taken.map((p) => p.codes), ...tensors];
  if (parts.length === 0) return [];
  let all: Float32Array;
  try {
    // One readback for everything: a GPU backend waits for its whole queue at each one.
    const joined = tf.tidy(() => (parts.length === 1 && parts[0]?.dtype === 'float32' ? tf.reshape(parts[0], [-1]) : tf.concat(parts.map((t) => tf.cast(tf.reshape(t, [-1]), 'float32')))));
    try {
      all = Float32Array.from(await joined.data());
    } finally {
      joined.dispose();
    }
  } finally {
    tf.dispose(taken.map((p) => p.codes));
  }
  let offset = 0;
  const slices = parts.map((t) => {
    const s = all.subarray(offset, offset + t.size);
    offset += t.size;
    return s;
  });
  taken.forEach((p, i) => {
    p.report(slices[i] ?? new Float32Array(0));
  });
  return slices.slice(taken.length);
}

/**
 * Reads the value checks that ardkit's synchronous functions (the attacks and losses) queued on a GPU backend, and
 * throws the first that failed, with the message it would have thrown at once on the cpu backend: it names the
 * function that was called, the argument, the rule and the value.
 *
 * On cpu, wasm and tensorflow every check reads back at once, so there is never anything to flush. On webgl and webgpu
 * a synchronous readback stalls the queue or is not available at all, so an attack called there checks its labels
 * and inputs on the device and queues the result; `fit`, `evaluate` and ardkit's other asynchronous functions read the
 * queue with their own results. Call `flushChecks` when you use attacks or losses alone, e.g. once per batch of your
 * own loop, before you trust the numbers.
 *
 * @returns a promise that resolves when every queued check passed; the queue is empty afterwards either way.
 * @throws RangeError or TypeError (the promise rejects) with the first failed check's message.
 * @example
 * const xAdv = pgd(model, x, y, { eps: 8 / 255 }); // on webgpu, y's range is checked on the device
 * await flushChecks(); // throws "pgd: y must hold class indices >= 0 (got -1 at index 3)" for a bad label
 */
export async function flushChecks(): Promise<void> {
  return named('flushChecks', async () => {
    await readWithChecks([]);
  });
}

import * as tf from '@tensorflow/tfjs-core';

/** Whether `value` is a tfjs tensor (of the tfjs-core copy ardkit was loaded with). */
export function isTensor(value: unknown): value is tf.Tensor {
  return value instanceof tf.Tensor;
}

/**
 * Formats a value for an error message: numbers as written, arrays and shapes in brackets.
 *
 * @throws never throws.
 * @example
 * formatValue([2, 3]); // '[2, 3]'
 */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (typeof value === 'function') return 'a function';
  if (isTensor(value)) return `${/^[aeiou]/.test(value.dtype) ? 'an' : 'a'} ${value.dtype} tensor of shape [${value.shape.join(', ')}]`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || typeof value === 'symbol') {
    return value.toString();
  }
  return 'undefined';
}

/** Marks an error whose message does not yet name the public function it came from. */
const UNNAMED: unique symbol = Symbol('ardkit.unnamed');

/** The public function the user called, while its synchronous part runs; `undefined` outside ardkit's calls. */
let running: string | undefined;

/** Prefixes an unnamed error's message (and the first line of its stack) with `name`. */
function label(error: unknown, name: string): unknown {
  if (error instanceof Error && (error as { [UNNAMED]?: boolean })[UNNAMED] === true) {
    const message = error.message;
    error.message = `${name}: ${message}`;
    if (typeof error.stack === 'string') error.stack = error.stack.replace(message, error.message);
    Object.defineProperty(error, UNNAMED, { value: false });
  }
  return error;
}

/**
 * Runs `body` as the public function `name`, the one context through which a function's name reaches its errors
 * (tfjs-core's `op()` names kernels the same way). Every error made by {@link argumentError} (and so by
 * {@link rangeError}, {@link typeError} and the checks) while `body` runs says `name: …`; an error raised after an
 * `await` in an async `body` is named when its promise rejects. Nested calls keep the outermost name: an error
 * always names the function the user called.
 *
 * @param name - the public function's name, e.g. `'pgd'`.
 * @param body - the function's work.
 * @returns what `body` returns.
 * @throws what `body` throws, named.
 * @example
 * export function myAttack(model, x, y, options) {
 *   return named('myAttack', () => { ... });
 * }
 */
export function named<R>(name: string, body: () => R): R {
  if (running !== undefined) return body();
  running = name;
  let out: R;
  try {
    out = body();
  } catch (error) {
    throw label(error, name);
  } finally {
    running = undefined;
  }
  if (out instanceof Promise) return out.catch((error: unknown) => { throw label(error, name); }) as R;
  return out;
}

/**
 * The name of the public function running now, if any. Internal: a value check queued on the device keeps it, so
 * that its error, reported at a later readback, names the call that was given the value.
 */
export function runningName(): string | undefined {
  return running;
}

/**
 * Runs `body` with `name` as the running function, whatever runs now; with `name` undefined, just runs it. Internal:
 * for queued value checks, see {@link runningName}.
 */
export function runAs<R>(name: string | undefined, body: () => R): R {
  if (name === undefined) return body();
  const outer = running;
  running = name;
  try {
    return body();
  } catch (error) {
    throw label(error, name);
  } finally {
    running = outer;
  }
}

/**
 * Makes an error of class `Kind` whose message is prefixed with the name of the public function running (see
 * {@link named}); outside one, the error is named when it leaves the nearest named call.
 *
 * @throws never throws; returns the error.
 * @example
 * throw argumentError(RangeError, 'x and y must hold the same number of examples');
 */
export function argumentError<E extends Error>(Kind: new (message: string, options?: ErrorOptions) => E, message: string, options?: ErrorOptions): E {
  if (running !== undefined) return new Kind(`${running}: ${message}`, options);
  const error = new Kind(message, options);
  Object.defineProperty(error, UNNAMED, { value: true, configurable: true, enumerable: false });
  return error;
}

/**
 * Throws a `RangeError` whose message names the function (see {@link named}), the argument, the rule and the value,
 * e.g. `pgd: eps must be a finite number >= 0 (got -1)`.
 *
 * @throws RangeError, always.
 * @example
 * if (eps < 0) rangeError('eps', 'be a finite number >= 0', eps);
 */
export function rangeError(arg: string, rule: string, value: unknown): never {
  throw argumentError(RangeError, `${arg} must ${rule} (got ${formatValue(value)})`);
}

/**
 * Throws a `TypeError` in the same format as {@link rangeError}.
 *
 * @throws TypeError, always.
 * @example
 * if (typeof model !== 'function') typeError('model', 'be a function', model);
 */
export function typeError(arg: string, rule: string, value: unknown): never {
  throw argumentError(TypeError, `${arg} must ${rule} (got ${formatValue(value)})`);
}

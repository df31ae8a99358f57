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

/**
 * Throws a `RangeError` whose message names the function, the argument, the rule and the value,
 * e.g. `pgd: eps must be a finite number >= 0 (got -1)`.
 *
 * @throws RangeError, always.
 * @example
 * if (eps < 0) rangeError('myAttack', 'eps', 'be a finite number >= 0', eps);
 */
export function rangeError(fn: string, arg: string, rule: string, value: unknown): never {
  throw new RangeError(`${fn}: ${arg} must ${rule} (got ${formatValue(value)})`);
}

/**
 * Throws a `TypeError` in the same format as {@link rangeError}.
 *
 * @throws TypeError, always.
 * @example
 * if (typeof model !== 'function') typeError('myAttack', 'model', 'be a function', model);
 */
export function typeError(fn: string, arg: string, rule: string, value: unknown): never {
  throw new TypeError(`${fn}: ${arg} must ${rule} (got ${formatValue(value)})`);
}

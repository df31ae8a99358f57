import type { OptionField } from './options.js';

/**
 * `field`, with `null` taken as left out (the default, or `undefined` for a field without one): for the options that
 * were read with `options.x ?? fallback` before they were declared as fields, so that `null` keeps giving the
 * default. Internal.
 *
 * @throws never throws; the field's `parse` throws what `field`'s throws for a value other than `null` or `undefined`.
 * @example
 * const FIELDS = { padding: nullAsLeftOut(integer(0, 4)) }; // { padding: null } resolves to 4
 */
export function nullAsLeftOut<T>(field: OptionField<T>): OptionField<T> {
  return { parse: (arg, value) => field.parse(arg, value ?? undefined) };
}

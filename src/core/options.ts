import { rangeError } from './errors.js';
import { checkBoolean, checkBounds, checkFinite, checkFunction, checkInteger, checkKnownKeys, checkNonNegative, checkOneOf, checkPositive, type Bounds } from './validate.js';

/**
 * How one option is checked and defaulted. `parse` receives the option as given (`undefined` when it is left out) and
 * returns the resolved value: the default, or the value once checked. Made by {@link positive}, {@link oneOf}, …
 */
export interface OptionField<T> {
  /**
   * Checks `value` and returns it, or the default when it is `undefined`.
   *
   * @throws RangeError or TypeError naming the function the user called and `arg` when the value breaks the field's rule.
   */
  readonly parse: (arg: string, value: unknown) => T;
}

/**
 * One {@link OptionField} per key of the options `O`, each resolving to the key's type without `undefined`: the
 * compiler rejects a key `O` does not have, a key of `O` left out, and a field whose value type differs.
 */
export type OptionFields<O> = { readonly [K in keyof O]-?: OptionField<Exclude<O[K], undefined>> };

/** Options `O` resolved: every key present, with its default filled in where it was left out. */
export type Resolved<O> = { readonly [K in keyof O]-?: Exclude<O[K], undefined> };

/** What {@link parseOptions} returns for the fields `F`: each key with its resolved value. */
export type Parsed<F> = { readonly [K in keyof F]: F[K] extends OptionField<infer T> ? T : never };

/** A field that returns `fallback` for `undefined` and `check`'s result otherwise. */
function field<T>(fallback: T, check: (arg: string, value: unknown) => T): OptionField<T> {
  return { parse: (arg, value) => (value === undefined ? fallback : check(arg, value)) };
}

/**
 * A finite number `> 0` (a temperature, a threshold).
 *
 * @throws never throws; the field's `parse` throws RangeError for a value that is not a finite number > 0.
 * @example
 * const FIELDS = { temperature: positive(30) };
 */
export function positive(fallback: number): OptionField<number> {
  return field(fallback, checkPositive);
}

/**
 * A finite number `>= 0` (a weight, an exponent); without a fallback the option stays `undefined` when left out (a
 * default computed from other options, such as an attack's step size `2.5·ε/steps`).
 *
 * @throws never throws; the field's `parse` throws RangeError for a value that is not a finite number >= 0.
 * @example
 * const FIELDS = { beta: nonNegative(6), stepSize: nonNegative() };
 */
export function nonNegative(fallback: number): OptionField<number>;
export function nonNegative(): OptionField<number | undefined>;
export function nonNegative(fallback?: number): OptionField<number | undefined> {
  return field<number | undefined>(fallback, checkNonNegative);
}

/**
 * An integer `>= min` (a number of steps); without a fallback the option stays `undefined` when left out (a default
 * that the caller supplies, such as an attack's number of steps).
 *
 * @throws never throws; the field's `parse` throws RangeError for a value that is not an integer >= `min`.
 * @example
 * const FIELDS = { steps: integer(1, 10) };
 */
export function integer(min: number, fallback: number): OptionField<number>;
export function integer(min: number): OptionField<number | undefined>;
export function integer(min: number, fallback?: number): OptionField<number | undefined> {
  return field<number | undefined>(fallback, (arg, value) => checkInteger(arg, value, min));
}

/**
 * The input box `[lo, hi]`: a pair of finite numbers with `lo < hi`. The message names `bounds`, the one option of
 * this kind.
 *
 * @throws never throws; the field's `parse` throws RangeError for a value that is not such a pair.
 * @example
 * const FIELDS = { bounds: inputBounds([0, 1]) };
 */
export function inputBounds(fallback: Bounds): OptionField<Bounds> {
  return field(fallback, (_arg, value) => checkBounds(value));
}

/**
 * A finite number; without a fallback the option stays `undefined` when left out (a default computed from other
 * options, such as `kdLoss`'s `scale = τ_S²`).
 *
 * @throws never throws; the field's `parse` throws RangeError for a value that is not a finite number.
 * @example
 * const FIELDS = { kappa: finite(0), scale: finite() };
 */
export function finite(fallback: number): OptionField<number>;
export function finite(): OptionField<number | undefined>;
export function finite(fallback?: number): OptionField<number | undefined> {
  return field<number | undefined>(fallback, checkFinite);
}

/**
 * A number in `[0, 1]` that weighs a term (`alpha`, MTARD's weights); the message says "a number in [0, 1]".
 *
 * @throws never throws; the field's `parse` throws RangeError for a value outside [0, 1] or not a number.
 * @example
 * const FIELDS = { alpha: unitWeight(1) };
 */
export function unitWeight(fallback: number): OptionField<number> {
  return field(fallback, (arg, value) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) rangeError(arg, 'be a number in [0, 1]', value);
    return value;
  });
}

/**
 * A fraction of training in `[0, 1]` (a warm-up, a phase boundary); the message says "a fraction in [0, 1]".
 *
 * @throws never throws; the field's `parse` throws RangeError for a value outside [0, 1] or not a number.
 * @example
 * const FIELDS = { betaWarmup: fraction(0.1) };
 */
export function fraction(fallback: number): OptionField<number> {
  return field(fallback, (arg, value) => {
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) rangeError(arg, 'be a fraction in [0, 1]', value);
    return value;
  });
}

/**
 * A boolean switch.
 *
 * @throws never throws; the field's `parse` throws TypeError for a value that is not a boolean.
 * @example
 * const FIELDS = { introspection: flag(true) };
 */
export function flag(fallback: boolean): OptionField<boolean> {
  return field(fallback, checkBoolean);
}

/**
 * One of the strings `allowed`; without a fallback the option stays `undefined` when left out (a default that the
 * caller supplies).
 *
 * @throws never throws; the field's `parse` throws RangeError for a value that is not one of `allowed`.
 * @example
 * const FIELDS = { boost: oneOf(['reference', 'exact'] as const, 'reference') };
 */
export function oneOf<const T extends string>(allowed: readonly T[], fallback: T): OptionField<T>;
export function oneOf<const T extends string>(allowed: readonly T[]): OptionField<T | undefined>;
export function oneOf<const T extends string>(allowed: readonly T[], fallback?: T): OptionField<T | undefined> {
  return field<T | undefined>(fallback, (arg, value) => checkOneOf(arg, value, allowed));
}

/**
 * A function option (a callback, a loss, a feature extractor); it stays `undefined` when left out.
 *
 * @throws never throws; the field's `parse` throws TypeError for a value that is not a function.
 * @example
 * const FIELDS = { onProgress: callable<(p: Progress) => void>() };
 */
export function callable<F extends (...args: never[]) => unknown>(): OptionField<F | undefined> {
  return field<F | undefined>(undefined, (arg, value) => {
    checkFunction(arg, value);
    return value as F;
  });
}

/**
 * An option with a rule of its own (a seed, a tensor, a list, a nested object): `check` receives the option's name
 * and value as given (never `undefined`) and returns the resolved value or throws with the check helpers' errors.
 * Without a fallback the option stays `undefined` when left out.
 *
 * @throws never throws; the field's `parse` throws what `check` throws.
 * @example
 * const FIELDS = { milestones: custom((arg, v) => checkMilestones(arg, v)), seed: custom(checkSeed) };
 */
export function custom<T>(check: (arg: string, value: unknown) => T, fallback: T): OptionField<T>;
export function custom<T>(check: (arg: string, value: unknown) => T): OptionField<T | undefined>;
export function custom<T>(check: (arg: string, value: unknown) => T, fallback?: T): OptionField<T | undefined> {
  return field<T | undefined>(fallback, check);
}

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

/**
 * Parses an options object once, at a public boundary: rejects keys that are not `known` (by default the fields'
 * keys; a caller that checks other options itself, such as a teacher or the attack settings, lists every key, in the
 * order the message names them), then resolves every field, defaults filled in, in the order of `fields`. Internal
 * code takes the result and never checks it again.
 *
 * @param options - the options as the user gave them (`undefined` or `null` is a TypeError, as is any non-object).
 * @param fields - one {@link OptionField} per option this call resolves.
 * @param known - every key the options may have.
 * @returns each field's resolved value.
 * @throws TypeError when `options` is not an object; RangeError naming the first unknown key; the fields' errors.
 * @example
 * const config = parseOptions('ardLoss', options, { temperature: positive(30), alpha: unitWeight(1) });
 */
export function parseOptions<const F extends Readonly<Record<string, OptionField<unknown>>>>(
  options: object,
  fields: F,
  known: readonly string[] = Object.keys(fields)
): Parsed<F> {
  checkKnownKeys(options as Record<string, unknown>, known);
  return resolveFields(options, fields);
}

/**
 * Resolves the `fields` of an options object, in the order of `fields`, without looking at its other keys: for a
 * part of a function's options (an attack's perturbation settings) whose keys the function checks itself, with the
 * rest of its options. {@link parseOptions} is this after the check of the keys.
 *
 * @param options - the options as the user gave them (an object).
 * @param fields - one {@link OptionField} per option this call resolves.
 * @returns each field's resolved value.
 * @throws the fields' errors.
 * @example
 * const { steps, stepSize } = resolveFields(options, { steps: integer(1, 10), stepSize: nonNegative() });
 */
export function resolveFields<const F extends Readonly<Record<string, OptionField<unknown>>>>(options: object, fields: F): Parsed<F> {
  const given = options as Readonly<Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(fields)) out[key] = f.parse(key, given[key]);
  return out as Parsed<F>;
}

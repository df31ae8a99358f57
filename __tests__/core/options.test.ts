import { named } from '../../src/core/errors.js';
/** parseOptions and its fields: one parse of an options object, defaults filled in, messages naming function and option. */
import { finite, flag, fraction, nonNegative, oneOf, parseOptions, positive, unitWeight } from '../../src/core/options.js';

const FIELDS = {
  temperature: positive(30),
  weight: nonNegative(6),
  kappa: finite(0),
  scale: finite(),
  alpha: unitWeight(1),
  warmup: fraction(0.1),
  on: flag(true),
  mode: oneOf(['a', 'b'], 'a')
};

describe('parseOptions', () => {
  it('fills in every default', () => {
    expect(named('f', () => parseOptions({}, FIELDS))).toEqual({ temperature: 30, weight: 6, kappa: 0, scale: undefined, alpha: 1, warmup: 0.1, on: true, mode: 'a' });
  });

  it('returns the values given', () => {
    const given = { temperature: 2, weight: 0, kappa: -3, scale: 5, alpha: 0, warmup: 1, on: false, mode: 'b' as const };
    expect(named('f', () => parseOptions(given, FIELDS))).toEqual(given);
  });

  it.each([
    [{ temperature: 0 }, /^f: temperature must be a finite number > 0 \(got 0\)$/],
    [{ weight: -1 }, /^f: weight must be a finite number >= 0 \(got -1\)$/],
    [{ kappa: NaN }, /^f: kappa must be a finite number \(got NaN\)$/],
    [{ scale: Infinity }, /^f: scale must be a finite number \(got Infinity\)$/],
    [{ alpha: 1.5 }, /^f: alpha must be a number in \[0, 1\] \(got 1.5\)$/],
    [{ warmup: '0.1' }, /^f: warmup must be a fraction in \[0, 1\] \(got "0.1"\)$/],
    [{ mode: 'c' }, /^f: mode must be one of "a", "b" \(got "c"\)$/],
    [{ typo: 1 }, /^f: options must only have the keys temperature, weight, kappa, scale, alpha, warmup, on, mode \(got "typo"\)$/]
  ])('%j is a RangeError naming the function and the option', (options, message) => {
    expect(() => named('f', () => parseOptions(options, FIELDS))).toThrow(RangeError);
    expect(() => named('f', () => parseOptions(options, FIELDS))).toThrow(message);
  });

  it('a flag that is not a boolean, and options that are not an object, are TypeErrors', () => {
    expect(() => named('f', () => parseOptions({ on: 1 }, FIELDS))).toThrow(TypeError);
    expect(() => named('f', () => parseOptions({ on: 1 }, FIELDS))).toThrow(/^f: on must be a boolean \(got 1\)$/);
    expect(() => named('f', () => parseOptions(null as never, FIELDS))).toThrow(/^f: options must be an object \(got null\)$/);
    expect(() => named('f', () => parseOptions([] as never, FIELDS))).toThrow(TypeError);
  });

  it('known lists every key the options may have, in the order the message names them; only the fields are resolved', () => {
    expect(named('f', () => parseOptions({ teacher: 'x', mode: 'b' }, { mode: FIELDS.mode }, ['teacher', 'mode']))).toEqual({ mode: 'b' });
    expect(() => named('f', () => parseOptions({ eps: 1 }, { mode: FIELDS.mode }, ['teacher', 'mode']))).toThrow(/^f: options must only have the keys teacher, mode \(got "eps"\)$/);
  });

  it('checks the keys before any value, and the values in the order of the fields', () => {
    expect(() => named('f', () => parseOptions({ alpha: 2, temperature: -1, typo: 0 }, FIELDS))).toThrow(/typo/);
    expect(() => named('f', () => parseOptions({ alpha: 2, temperature: -1 }, FIELDS))).toThrow(/^f: temperature/);
  });
});

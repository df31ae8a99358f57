import { optionKeys, type Bounds } from '../core/validate.js';
import { finite, inputBounds, integer, nonNegative, oneOf, positive, resolveFields } from '../core/options.js';
import { rangeError, typeError } from '../core/errors.js';
import { NORMS, type Norm } from './norms.js';

/** Where an iterative attack starts: uniform in the ε-ball, `x + σ·N(0, 1)`, or at `x`. */
export type RandomStart = 'uniform' | 'normal' | 'none';

/** The allowed {@link RandomStart} values. */
export const RANDOM_STARTS: readonly RandomStart[] = ['uniform', 'normal', 'none'];

/** Options shared by every projected-gradient attack. */
export interface PerturbationOptions {
  /** The radius ε of the threat model, in input units (e.g. 0.3 for MNIST in [0, 1]). Required. */
  readonly eps: number;
  /** @defaultValue 'linf' */
  readonly norm?: Norm;
  /** Number of gradient steps, a positive integer. @defaultValue 10 */
  readonly steps?: number;
  /** Step size α. @defaultValue 2.5·eps/steps */
  readonly stepSize?: number;
  /**
   * `'uniform'`: L∞, `x + U(−ε, ε)`; L2, a random direction times a radius drawn from `U(0, ε)`.
   * `'normal'`: `x + normalStd·N(0, 1)` (the TRADES start). `'none'`: start at `x`.
   * @defaultValue 'uniform' (the TRADES-style attacks default to 'normal')
   */
  readonly randomStart?: RandomStart;
  /** Standard deviation of the `'normal'` start. @defaultValue 0.001 */
  readonly normalStd?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of the random start; the same seed gives the same result on the same backend. */
  readonly seed?: number;
}

/** {@link PerturbationOptions} with every default filled in. */
export interface ResolvedPerturbation {
  readonly eps: number;
  readonly norm: Norm;
  readonly steps: number;
  readonly stepSize: number;
  readonly randomStart: RandomStart;
  readonly normalStd: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
}

/** The option keys of {@link PerturbationOptions}. */
export const PERTURBATION_KEYS = optionKeys<PerturbationOptions>()('eps', 'norm', 'steps', 'stepSize', 'randomStart', 'normalStd', 'bounds', 'seed');

/** The threat-model options every attack and evaluation shares. */
export interface ThreatOptions {
  readonly eps?: number;
  readonly norm?: Norm;
  readonly bounds?: Bounds;
  readonly seed?: number;
}

/** {@link ThreatOptions} checked, with the defaults (L∞, [0, 1]) filled in. */
export interface ResolvedThreat {
  readonly eps: number;
  readonly norm: Norm;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
}

/**
 * The fields of a threat model, in the order they are checked. ε is required: {@link requireEps} runs first, so its
 * field only checks the value (its fallback is never used).
 */
const THREAT_FIELDS = { eps: nonNegative(0), norm: oneOf(NORMS, 'linf'), bounds: inputBounds([0, 1]), seed: finite() };

/** The fields of {@link PerturbationOptions}; the defaults that differ between attacks are filled in after. */
const PERTURBATION_FIELDS = { ...THREAT_FIELDS, steps: integer(1), stepSize: nonNegative(), randomStart: oneOf(RANDOM_STARTS), normalStd: positive(0.001) };

/** ε, which every threat model needs: a RangeError when it is left out, before any other option is looked at. */
function requireEps(options: { readonly eps?: number }, what: string): void {
  if (options.eps === undefined) rangeError('eps', `be given (${what})`, undefined);
}

/**
 * The one place that checks a threat model: ε (required, ≥ 0), the norm, the input box and the seed, with errors
 * naming the function the user called. `what` completes the message for a missing ε. The caller checks the keys.
 */
export function resolveThreat(options: Readonly<ThreatOptions>, what = 'the radius of the threat model'): ResolvedThreat {
  requireEps(options, what);
  return resolveFields(options, THREAT_FIELDS);
}

/**
 * Checks an optional seed (a finite number, or undefined) with errors naming the function the user called: the seed of the options, or the
 * seed of one call of an attack (an input of the call, checked per call like the tensors; it costs no readback).
 */
export function checkSeed(seed: unknown): number | undefined {
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isFinite(seed))) rangeError('seed', 'be a finite number', seed);
  return seed;
}

/**
 * Validates perturbation options and fills in defaults; throws before any tensor exists. The public functions and
 * factories call it once, at their boundary, and check the keys themselves (with their own options); the runners
 * (`ascend`, `runLossAttack`, …) take its result and never check options again. Every setting is a field of one
 * declaration resolved in one pass (`resolveFields`), so the settings given cost no extra check.
 */
export function resolvePerturbation(
  options: Readonly<PerturbationOptions>,
  defaults: { readonly randomStart: RandomStart; readonly steps: number }
): ResolvedPerturbation {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
  requireEps(options, 'the radius of the threat model');
  const { eps, norm, bounds, seed, normalStd, ...given } = resolveFields(options, PERTURBATION_FIELDS);
  const steps = given.steps ?? defaults.steps;
  // α = 2.5·ε/steps unless given.
  const stepSize = given.stepSize ?? (2.5 * eps) / steps;
  return { eps, norm, steps, stepSize, randomStart: given.randomStart ?? defaults.randomStart, normalStd, bounds, seed };
}

/** How the attacks of an evaluation ran: each on every point, or in order, each on the points still robust. */
export type EvaluationMode = 'independent' | 'sequential';

/**
 * What an evaluation measured: the one result type of `evaluate`, `worstCase` and `autoAttack` (which add to it), and
 * what `fit`'s validation reports a part of. `K` is the attacks' names (inferred from the `attacks` given). Accuracies
 * are fractions in `[0, 1]`.
 */
export interface EvaluationResult<K extends string = string> {
  /** Number of examples. */
  readonly n: number;
  /**
   * `'independent'`: every attack ran on every point, and `attacks` holds each attack's own robust accuracy.
   * `'sequential'`: the attacks ran in order, each on the points all earlier ones failed on, and `attacks` holds the
   * accuracy after each attack and every attack before it. `worstCase` means the same in both.
   */
  readonly mode: EvaluationMode;
  /** Clean accuracy. */
  readonly clean: number;
  /**
   * Robust accuracy per attack: the share of points classified correctly on `x` **and** on the attack's `x'`
   * (AutoAttack's definition, so it never exceeds clean accuracy). With `sequential`, the accuracy after this
   * attack and every attack before it.
   */
  readonly attacks: Readonly<Record<K, number>>;
  /** Worst case: the share of points correct on `x` and on every attack's `x'`. */
  readonly worstCase: number;
  /** Per point, 1 where the point counts as correct (clean) or robust (per attack, worst case). */
  readonly perPoint: {
    /** 1 where the clean input is classified correctly. */
    readonly clean: Uint8Array;
    /** Per attack, 1 where the point is correct on `x` and on the attack's `x'` (with `sequential`: on every attack so far). */
    readonly attacks: Readonly<Record<K, Uint8Array>>;
    /** 1 where the point is correct on `x` and on every attack's `x'`. */
    readonly worstCase: Uint8Array;
  };
  /** Seconds spent in each attack (including the model calls on its outputs). */
  readonly seconds: Readonly<Record<K, number>>;
}

/** The share of ones in a 0/1 mask of `n` points (0 for no points). Internal. */
export function share(mask: Uint8Array, n = mask.length): number {
  return n === 0 ? 0 : mask.reduce((s, b) => s + b, 0) / n;
}

/** One value per attack name, in order. Internal. */
export function byName<K extends string, V>(names: readonly K[], value: (name: K, index: number) => V): Record<K, V> {
  return Object.fromEntries(names.map((name, i) => [name, value(name, i)])) as Record<K, V>;
}

import { checkInteger, checkKnownKeys, optionKeys } from '../core/validate.js';
import { oneOf, resolveFields, unitWeight, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import type { TransferabilityResult } from './transferability.js';

/** Options of {@link selectTeachers}. */
export interface SelectTeachersOptions {
  /** Candidates below this accuracy are not considered. @defaultValue 0 */
  readonly minAccuracy?: number;
  /** Which accuracy the floor applies to, and breaks ties: `'clean'` or `'robust'` (white-box). @defaultValue 'clean' */
  readonly accuracy?: 'clean' | 'robust';
}

/** The floor's field: `null` counts as left out, as it always has. */
const MIN_ACCURACY_FIELD: OptionField<number> = /* @__PURE__ */ unitWeight(0);

/** How each of {@link SelectTeachersOptions} is checked and defaulted. */
const SELECT_TEACHERS_FIELDS: OptionFields<SelectTeachersOptions> = {
  minAccuracy: { parse: (arg, value) => MIN_ACCURACY_FIELD.parse(arg, value ?? undefined) },
  accuracy: /* @__PURE__ */ oneOf(['clean', 'robust'], 'clean')
};

/** What {@link selectTeachers} chose. */
export interface TeacherSelection {
  /** The chosen candidates' names, in the candidates' order. */
  readonly selected: readonly string[];
  /** Their indices in the candidates. */
  readonly indices: readonly number[];
  /** The mean transfer rate over the ordered pairs of chosen candidates (pairs without a measurement skipped; 0 for k = 1). */
  readonly meanTransfer: number;
  /** The candidates that passed the accuracy floor. */
  readonly eligible: readonly string[];
  /** Whether every subset was compared (true) or, with too many, a greedy choice was made (false). */
  readonly exhaustive: boolean;
}

/** Subsets compared at most before switching to the greedy choice. */
const MAX_SUBSETS = 100_000;

/** Mean of the defined off-diagonal transfer rates among `set`. */
function meanTransfer(matrix: readonly (readonly number[])[], set: readonly number[]): number {
  let sum = 0;
  let count = 0;
  for (const i of set) {
    for (const j of set) {
      const v = matrix[i]?.[j];
      if (i === j || v === undefined || Number.isNaN(v)) continue;
      sum += v;
      count += 1;
    }
  }
  return count === 0 ? 0 : sum / count;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** Every k-subset of `items`, in lexicographic order. */
function* subsets(items: readonly number[], k: number, start = 0, chosen: number[] = []): Generator<number[]> {
  if (chosen.length === k) {
    yield [...chosen];
    return;
  }
  for (let i = start; i <= items.length - (k - chosen.length); i++) {
    chosen.push(items[i] ?? 0);
    yield* subsets(items, k, i + 1, chosen);
    chosen.pop();
  }
}

/**
 * Picks `k` teachers with the lowest mutual adversarial transferability among the candidates above an accuracy
 * floor, as DARHT prescribes (arXiv 2402.15586: heterogeneous teachers whose adversarial examples do not transfer
 * to each other). The score of a set is the mean of `matrix[i][j]` over its ordered pairs `i ≠ j`; ties go to the
 * set with the higher mean accuracy, then to the earlier candidates. Every subset is compared when there are at
 * most 100 000; beyond, the choice is greedy (the best pair, then the candidate adding the least transfer).
 *
 * It reads no tensor, but returns a promise like the rest of `ardkit/eval`, so that it chains with
 * {@link transferability}: invalid arguments reject the promise.
 *
 * @param candidates - the candidates' measured transferability, from {@link transferability}.
 * @param k - how many teachers to pick, at most the number of eligible candidates.
 * @param options - see {@link SelectTeachersOptions}.
 * @returns a promise of a {@link TeacherSelection}.
 * @throws the promise rejects with a TypeError when `candidates` is not a transferability result; a RangeError when
 * k is not a positive integer or exceeds the eligible candidates, or minAccuracy is not in [0, 1].
 * @example
 * const t = await transferability({ cnn, mlp, resnet, vit }, x, y, (m, xb, yb) => pgd(m, xb, yb, { eps: 0.03 }));
 * const { selected } = await selectTeachers(t, 2, { minAccuracy: 0.8 }); // e.g. ['cnn', 'vit']
 */
export function selectTeachers(
  candidates: TransferabilityResult,
  k: number,
  options: Readonly<SelectTeachersOptions> = {}
): Promise<TeacherSelection> {
  return named('selectTeachers', () => {
    return new Promise((resolve) => {
      resolve(select(candidates, k, options));
    });
  });
}

/** {@link selectTeachers}, synchronously. */
function select(candidates: TransferabilityResult, k: number, options: Readonly<SelectTeachersOptions>): TeacherSelection {
  return named('selectTeachers', () => {
    // The keys first and the values after the other arguments, the order in which their errors have always come.
    checkKnownKeys(options, optionKeys<SelectTeachersOptions>()('minAccuracy', 'accuracy'));
    const c = candidates as Partial<TransferabilityResult> | null;
    const m = Array.isArray(c?.names) ? c.names.length : -1;
    const square = (v: unknown): boolean => Array.isArray(v) && v.length === m && v.every((row) => Array.isArray(row) && row.length === m);
    if (c === null || typeof c !== 'object' || m < 1 || !square(c.matrix) || !Array.isArray(c.clean) || !Array.isArray(c.robust)) {
      typeError('candidates', 'be the result of transferability (names, matrix, clean, robust)', candidates);
    }
    const result = candidates;
    checkInteger('k', k, 1);
    const { minAccuracy, accuracy: which } = resolveFields(options, SELECT_TEACHERS_FIELDS);
    const accuracy = which === 'clean' ? result.clean : result.robust;
    const eligible = result.names.map((_, i) => i).filter((i) => (accuracy[i] ?? 0) >= minAccuracy);
    if (k > eligible.length) {
      rangeError('k', `be at most the number of candidates with ${which} accuracy >= ${String(minAccuracy)} (${String(eligible.length)})`, k);
    }
    const meanAccuracy = (set: readonly number[]): number => set.reduce((s, i) => s + (accuracy[i] ?? 0), 0) / set.length;
    /** Lower transfer first, then higher accuracy, then earlier candidates. */
    const better = (a: readonly number[], b: readonly number[]): boolean => {
      const ta = meanTransfer(result.matrix, a);
      const tb = meanTransfer(result.matrix, b);
      if (ta !== tb) return ta < tb;
      const aa = meanAccuracy(a);
      const ab = meanAccuracy(b);
      if (aa !== ab) return aa > ab;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) < (b[i] ?? 0);
      return false;
    };

    const exhaustive = binomial(eligible.length, k) <= MAX_SUBSETS;
    let best: number[] | undefined;
    if (exhaustive) {
      for (const set of subsets(eligible, k)) if (best === undefined || better(set, best)) best = set;
    } else {
      for (const pair of subsets(eligible, 2)) if (best === undefined || better(pair, best)) best = pair;
      while ((best?.length ?? 0) < k) {
        const current: number[] = best ?? [];
        let next: number[] | undefined;
        for (const i of eligible) {
          if (current.includes(i)) continue;
          const grown = [...current, i].sort((a, b) => a - b);
          if (next === undefined || better(grown, next)) next = grown;
        }
        best = next ?? current;
      }
    }
    const indices = best ?? [];
    return {
      selected: indices.map((i) => result.names[i] ?? ''),
      indices,
      meanTransfer: meanTransfer(result.matrix, indices),
      eligible: eligible.map((i) => result.names[i] ?? ''),
      exhaustive
    };
  });
}

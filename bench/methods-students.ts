/**
 * The method benchmark's students: every method it trains, as a recipe of examples/recipes.ts with the benchmark's
 * variants (LTD on PGD-AT and on TRADES, CRDND's two compensations, DARHT with one or the selected teachers), and its
 * relative cost for the progress estimate.
 */
import { buildRecipe, recipeWiring, type BuiltRecipe, type RecipeName, type RecipeOverrides } from '../examples/recipes.js';
import type { Settings } from './methods-cli.js';
import { familySpec, scale, uniqueName, type Data, type Family } from './methods-models.js';
import { familyTag, type Teachers } from './methods-teachers.js';

/**
 * One method of the benchmark: its recipe and the overrides that make the variant; `teachers: 'selected'`: DARHT's
 * teachers chosen by `selectTeachers` (else the robust teacher alone); `cost`: the relative cost of training one
 * student (PGD-AT = 1), for the progress estimate.
 */
type MethodEntry = {
  readonly [M in RecipeName]: { readonly recipe: M; readonly overrides?: RecipeOverrides<M>; readonly teachers?: 'selected'; readonly cost: number };
}[RecipeName];

const METHODS = {
  natural: { recipe: 'natural', cost: 0.2 },
  pgdAt: { recipe: 'pgdAt', cost: 1 },
  trades: { recipe: 'trades', cost: 1.3 },
  mart: { recipe: 'mart', cost: 1.2 },
  ard: { recipe: 'ard', cost: 1.1 },
  rslad: { recipe: 'rslad', cost: 1.3 },
  iad: { recipe: 'iad', cost: 1.2 },
  adaad: { recipe: 'adaad', cost: 1.8 },
  mtard: { recipe: 'mtard', cost: 1.3 },
  'ltd (pgdAt)': { recipe: 'ltd', cost: 1.1 },
  'ltd (trades)': { recipe: 'ltd', overrides: { base: 'trades' }, cost: 1.3 },
  aft: { recipe: 'aft', cost: 1 },
  arrest: { recipe: 'arrest', cost: 1.2 },
  'crdnd (confidence)': { recipe: 'crdnd', cost: 1.1 },
  'crdnd (learned)': { recipe: 'crdnd', overrides: { compensation: 'learned' }, cost: 1.1 },
  'darht (1 teacher)': { recipe: 'darht', cost: 0.8 },
  darht: { recipe: 'darht', teachers: 'selected', cost: 0.9 }
} as const satisfies Record<string, MethodEntry>;

/** A method of the benchmark (a row of its report). */
export type Method = keyof typeof METHODS;
/** The benchmark's methods, in the report's order. */
export const METHOD_NAMES = Object.keys(METHODS) as Method[];

/** A student's share of the work: training, then its evaluation (which dominates: AutoAttack's 5000 Square queries). */
export const studentWeight = (settings: Settings, method: Method, family: Family): number => (METHODS[method].cost * settings.epochs + 16) * scale(family);

/** The cache key of a student. */
export const studentKey = (settings: Settings, data: Data, family: Family, method: Method, seed: number): string =>
  `${familyTag(settings, data, family)}-${method.replace(/[^a-z0-9]+/gi, '_')}-e${String(settings.epochs)}-s${String(seed)}`;

/** Builds a student and its objective for one method: the family's student architecture, initialised by `seed`. */
export function make(method: Method, family: Family, data: Data, t: Teachers, seed: number): BuiltRecipe {
  const spec = familySpec(family, data.shape);
  const entry: MethodEntry = METHODS[method];
  const inputs = {
    eps: data.eps,
    dataset: data.name === 'CIFAR-10' ? 'cifar' : 'mnist',
    teacher: t.robust,
    cleanTeacher: t.clean,
    standard: t.standard,
    ...(entry.teachers === 'selected' ? { teachers: t.darht } : {})
  } as const;
  const parts = {
    net: () => spec.student(seed),
    backbone: () => spec.backbone(seed),
    headSeed: seed + 1,
    ...(recipeWiring(entry.recipe) === 'teacherHead' ? { headName: uniqueName('head') } : {})
  };
  return buildRecipe(entry.recipe, inputs, parts, entry.overrides);
}

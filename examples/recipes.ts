/**
 * The training recipes of the examples and of the method benchmark (`bench/methods.ts`), written once: for every
 * method, its objective with the hyperparameters ardkit's runs use, the teachers it needs, and how its student is
 * wired for `fit`. A run that deliberately differs (another β, another KL reduction) passes an override to the
 * recipe instead of writing the objective again.
 *
 * ```ts
 * const built = buildRecipe('rslad', { eps: 0.1, teacher }, { net: () => mlp([64], 3, 'student') });
 * await fit(built.student, train, built.objective, { epochs: 2 });
 * const deployed = deployedModel(built, fromLayersModel(built.net));
 * ```
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { Model } from 'ardkit/core';
import { studentFromLayers, studentTeacherHead } from 'ardkit/models';
import { adaad, ard, arrest, crdnd, darht, featuresOf, iad, ltd, mart, mtard, natural, pgdAt, rslad, trades, type Objective, type Student } from 'ardkit/train';

/** Every method a recipe exists for. */
export const RECIPE_NAMES = ['natural', 'pgdAt', 'trades', 'mart', 'ard', 'rslad', 'iad', 'adaad', 'mtard', 'ltd', 'aft', 'arrest', 'crdnd', 'darht'] as const;
/** A method a recipe exists for. */
export type RecipeName = (typeof RECIPE_NAMES)[number];

/**
 * Steps of every recipe's training attack: PGD-5, with the objectives' default step 2.5·ε/steps (Madry et al.,
 * arXiv 1706.06083), as the method benchmark trains.
 */
export const TRAINING_ATTACK_STEPS = 5;

/**
 * TRADES' β (Zhang et al., arXiv 1901.08573) by dataset: the paper's 1 on MNIST-like data, 6 on CIFAR. LTD on TRADES
 * uses the same.
 */
export const TRADES_BETA = { mnist: 1, cifar: 6 } as const;

/** What recipes are made from: the radius, the kind of data, and the teachers the method needs. */
export interface RecipeInputs {
  /** L∞ radius of the training attack. */
  readonly eps: number;
  /** `'mnist'` for MNIST-like data (MNIST, Fashion-MNIST, IDX files), `'cifar'` for CIFAR: picks TRADES' β. @defaultValue 'mnist' */
  readonly dataset?: keyof typeof TRADES_BETA;
  /** The robust (PGD-AT) teacher: ARD, RSLAD, IAD, AdaAD, LTD, CRDND; MTARD's robust teacher; DARHT's teacher when `teachers` is not given. */
  readonly teacher?: Model;
  /** MTARD's clean (naturally trained) teacher. */
  readonly cleanTeacher?: Model;
  /** DARHT's heterogeneous teachers. @defaultValue [teacher] */
  readonly teachers?: readonly Model[];
  /**
   * The standard model (the student's architecture, trained on clean data): AFT and ARREST start from its weights,
   * and ARREST keeps its features. Its features layer is the one named `…_features`.
   */
  readonly standard?: tfl.LayersModel;
}

/** A teacher a recipe needs, named as in {@link RecipeInputs}. */
export type RecipeTeacher = 'teacher' | 'cleanTeacher' | 'standard';

/**
 * How a recipe's student is wired for `fit`: `'plain'`, the network itself; `'fromStandard'`, the network with the
 * standard model's weights, exposing its features (`studentFromLayers`); `'teacherHead'`, the backbone with DARHT's
 * `studentTeacherHead` on top, exposing the feature map.
 */
export type StudentWiring = 'plain' | 'fromStandard' | 'teacherHead';

type OptionsOf<F> = F extends (options: infer O) => unknown ? Partial<O> : never;

/**
 * The options a run may override, by recipe: any option of the method's objective (a recipe's own value, e.g.
 * TRADES' β, is replaced). `natural` takes none.
 */
export interface RecipeOverrideMap {
  natural: Readonly<Record<string, never>>;
  pgdAt: OptionsOf<typeof pgdAt>;
  trades: OptionsOf<typeof trades>;
  mart: OptionsOf<typeof mart>;
  ard: OptionsOf<typeof ard>;
  rslad: OptionsOf<typeof rslad>;
  iad: OptionsOf<typeof iad>;
  adaad: OptionsOf<typeof adaad>;
  mtard: OptionsOf<typeof mtard>;
  ltd: OptionsOf<typeof ltd>;
  aft: OptionsOf<typeof pgdAt>;
  arrest: OptionsOf<typeof arrest>;
  crdnd: OptionsOf<typeof crdnd>;
  darht: OptionsOf<typeof darht>;
}
/** The overrides of recipe `M`. */
export type RecipeOverrides<M extends RecipeName> = RecipeOverrideMap[M];

/** A recipe's objective; LTD's can `deploy` the student it trains (logits / τ_S). */
export type RecipeObjective = Objective & { readonly deploy?: (student: Model) => Model };

/** The training attack of a recipe: radius and steps. */
interface Attack {
  readonly eps: number;
  readonly steps: number;
}

/** One recipe: the student's wiring, the teachers it needs, and its objective. */
interface Recipe<M extends RecipeName> {
  readonly wiring: StudentWiring;
  readonly needs: readonly RecipeTeacher[];
  readonly objective: (attack: Attack, inputs: Teachers, overrides: RecipeOverrides<M>) => RecipeObjective;
}

/** The inputs as a recipe reads them: a teacher that was not given throws when read. */
interface Teachers {
  readonly dataset: keyof typeof TRADES_BETA;
  readonly teacher: Model;
  readonly cleanTeacher: Model;
  readonly teachers: readonly Model[];
  readonly standard: tfl.LayersModel;
}

const RECIPES: { readonly [M in RecipeName]: Recipe<M> } = {
  natural: { wiring: 'plain', needs: [], objective: (_a, _t, o) => natural(o) },
  pgdAt: { wiring: 'plain', needs: [], objective: (a, _t, o) => pgdAt({ ...a, ...o }) },
  trades: { wiring: 'plain', needs: [], objective: (a, t, o) => trades({ ...a, beta: TRADES_BETA[t.dataset], ...o }) },
  mart: { wiring: 'plain', needs: [], objective: (a, _t, o) => mart({ ...a, ...o }) },
  ard: { wiring: 'plain', needs: ['teacher'], objective: (a, t, o) => ard({ ...a, teacher: t.teacher, ...o }) },
  rslad: { wiring: 'plain', needs: ['teacher'], objective: (a, t, o) => rslad({ ...a, teacher: t.teacher, ...o }) },
  iad: { wiring: 'plain', needs: ['teacher'], objective: (a, t, o) => iad({ ...a, teacher: t.teacher, ...o }) },
  adaad: { wiring: 'plain', needs: ['teacher'], objective: (a, t, o) => adaad({ ...a, teacher: t.teacher, ...o }) },
  mtard: {
    wiring: 'plain',
    needs: ['teacher', 'cleanTeacher'],
    objective: (a, t, o) => mtard({ ...a, cleanTeacher: t.cleanTeacher, robustTeacher: t.teacher, ...o })
  },
  // On TRADES, LTD takes TRADES' β for the data (its own default is CIFAR's 6).
  ltd: {
    wiring: 'plain',
    needs: ['teacher'],
    objective: (a, t, o) => ltd({ ...a, teacher: t.teacher, ...(o.base === 'trades' ? { beta: TRADES_BETA[t.dataset] } : {}), ...o })
  },
  // AFT: adversarial fine-tuning of the standard model, PGD-AT from its weights (ARREST's baseline).
  aft: { wiring: 'fromStandard', needs: ['standard'], objective: (a, _t, o) => pgdAt({ ...a, ...o }) },
  arrest: {
    wiring: 'fromStandard',
    needs: ['standard'],
    objective: (a, t, o) => arrest({ ...a, standardFeatures: featuresOf(studentFromLayers(t.standard, { featuresLayer: featuresLayerOf(t.standard) })), ...o })
  },
  crdnd: { wiring: 'plain', needs: ['teacher'], objective: (a, t, o) => crdnd({ ...a, teacher: t.teacher, ...o }) },
  darht: { wiring: 'teacherHead', needs: [], objective: (a, t, o) => darht({ ...a, teachers: t.teachers, ...o }) }
};

/** How recipe `method` wires its student (see {@link StudentWiring}). */
export function recipeWiring(method: RecipeName): StudentWiring {
  return RECIPES[method].wiring;
}

/**
 * The teachers recipe `method` needs in its {@link RecipeInputs} (DARHT needs `teacher` or `teachers`), e.g. to
 * train MTARD's clean teacher only when MTARD runs.
 */
export function recipeNeeds(method: RecipeName): readonly RecipeTeacher[] {
  return method === 'darht' ? ['teacher'] : RECIPES[method].needs;
}

/**
 * The name of `net`'s features layer: the layer named `…_features` (the convention of the examples' and the
 * benchmark's builders); `''` when there is none.
 */
export function featuresLayerOf(net: tfl.LayersModel): string {
  return net.layers.find((l) => l.name.endsWith('_features'))?.name ?? '';
}

function teachersFor(method: RecipeName, inputs: Readonly<RecipeInputs>): Teachers {
  const missing = (what: string): never => {
    throw new TypeError(`recipe ${method}: inputs.${what} is required (got undefined)`);
  };
  // Checked before anything is built; the getters keep the types honest for what a recipe does not declare.
  for (const what of RECIPES[method].needs) if (inputs[what] === undefined) missing(what);
  if (method === 'darht' && inputs.teachers === undefined && inputs.teacher === undefined) missing('teacher (or teachers)');
  return {
    dataset: inputs.dataset ?? 'mnist',
    get teacher() {
      return inputs.teacher ?? missing('teacher');
    },
    get cleanTeacher() {
      return inputs.cleanTeacher ?? missing('cleanTeacher');
    },
    get standard() {
      return inputs.standard ?? missing('standard');
    },
    get teachers() {
      return inputs.teachers ?? [inputs.teacher ?? missing('teacher (or teachers)')];
    }
  };
}

/**
 * The objective of recipe `method`: the method's objective with PGD-{@link TRAINING_ATTACK_STEPS} at `inputs.eps`, the
 * recipe's hyperparameters (TRADES' and LTD-on-TRADES' β from {@link TRADES_BETA}; every other option the objective's
 * default), then `overrides`. For callers that wire their student themselves; {@link buildRecipe} also builds it.
 *
 * @param method - the recipe.
 * @param inputs - ε, the data's kind and the teachers the method needs ({@link recipeNeeds}).
 * @param overrides - options of the method's objective that replace the recipe's.
 * @returns the objective; the caller disposes it (`objective.dispose?.()`).
 * @throws TypeError when a teacher the method needs is missing; the objective's own RangeError/TypeError for invalid options.
 * @example
 * const objective = recipeObjective('rslad', { eps: 8 / 255, dataset: 'cifar', teacher }, { klReduction: 'classMean' });
 */
export function recipeObjective<M extends RecipeName>(method: M, inputs: Readonly<RecipeInputs>, overrides?: RecipeOverrides<M>): RecipeObjective {
  const recipe: Recipe<M> = RECIPES[method];
  const attack = { eps: inputs.eps, steps: TRAINING_ATTACK_STEPS };
  return recipe.objective(attack, teachersFor(method, inputs), overrides ?? {});
}

/** How to build the student's network, for {@link buildRecipe}. */
export interface StudentParts {
  /** Builds the student's network (the same initialisation for every method of a run). */
  readonly net: () => tfl.LayersModel;
  /** DARHT: builds the student's backbone without its logits layer; the student-teacher head goes on top. */
  readonly backbone?: () => { readonly input: tfl.SymbolicTensor; readonly features: tfl.SymbolicTensor };
  /** DARHT: seed of the head's initial weights. @defaultValue 0 */
  readonly headSeed?: number;
  /** DARHT: the head's name (unique among the networks of the process). @defaultValue tfjs' own */
  readonly headName?: string;
  /** Classes of the student's logits (DARHT's head). @defaultValue 10 */
  readonly classes?: number;
}

/** A recipe's student and objective, ready for `fit(built.student, data, built.objective)`. */
export interface BuiltRecipe {
  /** The student's network, to save, evaluate and dispose. */
  readonly net: tfl.LayersModel;
  /** What `fit` trains: `net` itself, or `net` exposing its features or feature map. */
  readonly student: Student | tfl.LayersModel;
  /** The method's objective; the caller disposes it. */
  readonly objective: RecipeObjective;
}

/**
 * Builds recipe `method`'s student and objective ({@link recipeObjective}): a `'plain'` student is `parts.net()`;
 * `'fromStandard'` (AFT, ARREST) is `parts.net()` with `inputs.standard`'s weights, exposing its `…_features` layer;
 * `'teacherHead'` (DARHT) is `parts.backbone()` with `studentTeacherHead(teachers, classes)` on top (arXiv 2402.15586).
 *
 * @param method - the recipe.
 * @param inputs - ε, the data's kind and the teachers the method needs ({@link recipeNeeds}).
 * @param parts - the student's builders.
 * @param overrides - options of the method's objective that replace the recipe's.
 * @returns the network, the student for `fit` and the objective; the caller disposes the network and the objective.
 * @throws TypeError when a teacher the method needs, or DARHT's `parts.backbone`, is missing (before anything is built);
 * the objective's own RangeError/TypeError for invalid overrides (the network is then disposed).
 * @example
 * const built = buildRecipe('pgdAt', { eps: 0.1 }, { net: () => mlp([64], 3, 'student') });
 * await fit(built.student, train, built.objective, { epochs: 2 });
 */
export function buildRecipe<M extends RecipeName>(method: M, inputs: Readonly<RecipeInputs>, parts: Readonly<StudentParts>, overrides?: RecipeOverrides<M>): BuiltRecipe {
  // Everything is checked before a network is built; a network built before its objective throws is disposed.
  const teachers = teachersFor(method, inputs);
  const withObjective = (net: tfl.LayersModel, student: Student | tfl.LayersModel): BuiltRecipe => {
    try {
      return { net, student, objective: recipeObjective(method, inputs, overrides) };
    } catch (error) {
      net.dispose();
      throw error;
    }
  };
  switch (RECIPES[method].wiring) {
    case 'plain': {
      const objective = recipeObjective(method, inputs, overrides);
      const net = parts.net();
      return { net, student: net, objective };
    }
    case 'fromStandard': {
      const net = parts.net();
      net.setWeights(teachers.standard.getWeights());
      return withObjective(net, studentFromLayers(net, { featuresLayer: featuresLayerOf(net) }));
    }
    case 'teacherHead': {
      if (parts.backbone === undefined) throw new TypeError(`recipe ${method}: parts.backbone is required (got undefined)`);
      const { input, features } = parts.backbone();
      const head = studentTeacherHead(teachers.teachers.length, parts.classes ?? 10, { seed: parts.headSeed ?? 0, ...(parts.headName === undefined ? {} : { name: parts.headName }) });
      const logits = head.logitsLayer.apply(head.featureMapLayer.apply(features)) as tfl.SymbolicTensor;
      const net = tfl.model({ inputs: input, outputs: logits });
      return withObjective(net, studentFromLayers(net, { featureMapLayer: head.featureMapLayer.name }));
    }
  }
}

/** The model a trained recipe's student is evaluated and shipped as: `model` itself, or LTD's `deploy(model)` (logits / τ_S). */
export function deployedModel(built: Pick<BuiltRecipe, 'objective'>, model: Model): Model {
  return built.objective.deploy === undefined ? model : built.objective.deploy(model);
}

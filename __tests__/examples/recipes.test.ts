/**
 * examples/recipes.ts, the recipes the examples and the method benchmark share: every recipe builds its student and
 * objective on tiny networks, with the wiring it declares; the recipe's hyperparameters reach the objective and an
 * override replaces them; a missing teacher is refused before anything is built; nothing leaks.
 *
 * The examples import `ardkit/*`; here those names are mapped to `src/` (with spies on the objectives whose options
 * are checked), so that no build is needed.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as train from 'ardkit/train';
import type { Model } from '../../src/core/index.js';
import { RECIPE_NAMES, TRADES_BETA, buildRecipe, deployedModel, featuresLayerOf, recipeNeeds, recipeObjective, recipeWiring, type RecipeInputs } from '../../examples/recipes.js';
import { useBackend } from '../helpers.js';

// Hoisted above the imports by ts-jest.

jest.mock(
  'ardkit/train',
  () => {
    const actual = jest.requireActual<typeof import('../../src/train/index.js')>('../../src/train/index.ts');
    return { ...actual, trades: jest.fn(actual.trades), ltd: jest.fn(actual.ltd), pgdAt: jest.fn(actual.pgdAt) };
  },
  { virtual: true }
);
jest.mock('ardkit/models', () => jest.requireActual<typeof import('../../src/models/index.js')>('../../src/models/index.ts'), { virtual: true });

const SHAPE = [4, 4, 1];
let uid = 0;

/** A dense network 4×4 → hidden → 10; the last hidden layer is `<name>_features`. */
function tinyNet(seed: number, hidden = 8): tfl.LayersModel {
  const id = `r${String(uid++)}`;
  return tfl.sequential({
    name: id,
    layers: [
      tfl.layers.flatten({ inputShape: SHAPE }),
      tfl.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed }), name: `${id}_features` }),
      tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }), name: `${id}_logits` })
    ]
  });
}

function backbone(): { input: tfl.SymbolicTensor; features: tfl.SymbolicTensor } {
  const input = tfl.input({ shape: SHAPE });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  return { input, features: tfl.layers.dense({ units: 8, activation: 'relu' }).apply(flat) as tfl.SymbolicTensor };
}

const asModel = (net: tfl.LayersModel): Model => (x) => net.apply(x, { training: false }) as tf.Tensor2D;

describe('examples/recipes.ts', () => {
  let teacherNet: tfl.LayersModel;
  let cleanNet: tfl.LayersModel;
  let standard: tfl.LayersModel;
  let inputs: RecipeInputs;

  beforeAll(async () => {
    await useBackend('cpu');
    teacherNet = tinyNet(1);
    cleanNet = tinyNet(2);
    standard = tinyNet(3);
    inputs = { eps: 0.1, teacher: asModel(teacherNet), cleanTeacher: asModel(cleanNet), standard };
  });

  afterAll(() => {
    teacherNet.dispose();
    cleanNet.dispose();
    standard.dispose();
  });

  it.each(RECIPE_NAMES)('%s builds its student, wired as it declares, and leaks nothing once disposed', (method) => {
    const before = tf.memory().numTensors;
    const built = buildRecipe(method, inputs, { net: () => tinyNet(7), backbone, headSeed: 1 });
    const wiring = recipeWiring(method);
    expect(built.objective.name).toBe(method === 'aft' ? 'pgdAt' : method);
    if (wiring === 'plain') expect(built.student).toBe(built.net);
    else expect(built.student).not.toBe(built.net);
    if (wiring === 'fromStandard') {
      const [mine, theirs] = [built.net.getWeights(), standard.getWeights()];
      expect(mine.length).toBe(theirs.length);
      mine.forEach((w, i) => {
        expect(w.arraySync()).toEqual(theirs[i]?.arraySync());
      });
    }
    const x = tf.zeros([2, ...SHAPE]);
    const logits = deployedModel(built, asModel(built.net))(x);
    expect(logits.shape).toEqual([2, 10]);
    tf.dispose([x, logits]);
    built.net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("passes the recipe's hyperparameters, then the overrides", () => {
    const trades = train.trades as jest.MockedFunction<typeof train.trades>;
    const ltd = train.ltd as jest.MockedFunction<typeof train.ltd>;
    const pgdAt = train.pgdAt as jest.MockedFunction<typeof train.pgdAt>;
    recipeObjective('trades', { eps: 0.1 });
    expect(trades).toHaveBeenLastCalledWith({ eps: 0.1, steps: 5, beta: TRADES_BETA.mnist });
    recipeObjective('trades', { eps: 0.1, dataset: 'cifar' });
    expect(trades).toHaveBeenLastCalledWith({ eps: 0.1, steps: 5, beta: 6 });
    recipeObjective('trades', { eps: 0.1 }, { beta: 3, steps: 10 });
    expect(trades).toHaveBeenLastCalledWith({ eps: 0.1, steps: 10, beta: 3 });
    // LTD on PGD-AT takes no β; on TRADES, TRADES' β for the data.
    recipeObjective('ltd', inputs);
    expect(ltd.mock.lastCall?.[0]).not.toHaveProperty('beta');
    recipeObjective('ltd', inputs, { base: 'trades' });
    expect(ltd).toHaveBeenLastCalledWith(expect.objectContaining({ base: 'trades', beta: 1, steps: 5 }));
    const deployed = recipeObjective('ltd', inputs, { studentTemperature: 4 }) as train.LtdObjective;
    expect(deployed.studentTemperature).toBe(4);
    recipeObjective('pgdAt', { eps: 0.2 }, { stepSize: 0.05 });
    expect(pgdAt).toHaveBeenLastCalledWith({ eps: 0.2, steps: 5, stepSize: 0.05 });
    // An invalid override reaches the objective's own validation.
    expect(() => recipeObjective('trades', { eps: 0.1 }, { beta: -1 })).toThrow(/trades: beta/);
  });

  it('refuses a missing teacher before building anything, and says which teachers each recipe needs', () => {
    const net = jest.fn(() => tinyNet(9));
    expect(() => buildRecipe('ard', { eps: 0.1 }, { net })).toThrow(new TypeError('recipe ard: inputs.teacher is required (got undefined)'));
    expect(() => buildRecipe('mtard', { eps: 0.1, teacher: inputs.teacher as Model }, { net })).toThrow(/recipe mtard: inputs.cleanTeacher is required/);
    expect(() => buildRecipe('arrest', { eps: 0.1 }, { net })).toThrow(/recipe arrest: inputs.standard is required/);
    expect(() => buildRecipe('darht', { eps: 0.1 }, { net, backbone })).toThrow(/recipe darht: inputs.teacher \(or teachers\) is required/);
    expect(() => buildRecipe('darht', inputs, { net })).toThrow(/recipe darht: parts.backbone is required/);
    expect(net).not.toHaveBeenCalled();
    // An invalid override after the network is built: the network is disposed.
    const before = tf.memory().numTensors;
    expect(() => buildRecipe('aft', inputs, { net: () => tinyNet(9) }, { eps: -1 })).toThrow(/pgdAt: eps/);
    expect(tf.memory().numTensors).toBe(before);
    expect(recipeNeeds('natural')).toEqual([]);
    expect(recipeNeeds('mtard')).toEqual(['teacher', 'cleanTeacher']);
    expect(recipeNeeds('darht')).toEqual(['teacher']);
    expect(featuresLayerOf(standard)).toMatch(/_features$/);
  });

  it("puts DARHT's head, named as asked, on the backbone", () => {
    const built = buildRecipe('darht', { ...inputs, teachers: [asModel(teacherNet), asModel(cleanNet)] }, { net: () => tinyNet(7), backbone, headSeed: 1, headName: 'recipe_head' });
    expect(built.net.layers.some((l) => l.name.startsWith('recipe_head'))).toBe(true);
    const x = tf.zeros([2, ...SHAPE]);
    const logits = asModel(built.net)(x);
    expect(logits.shape).toEqual([2, 10]);
    tf.dispose([x, logits]);
    built.net.dispose();
  });
});

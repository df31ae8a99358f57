/**
 * LTD's deployable student: `withTemperatureLayer(net, τ)` is a tfjs-layers model whose output is `net(x)/τ`, saved with
 * the division inside (tfjs-layers' `Rescaling`), so `tf.loadLayersModel` gives back the deployed logits without ardkit.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fromLayersModel, withTemperature } from '../../src/core/index.js';
import { compileLayersForward } from '../../src/core/layers-forward.js';
import { fileSystem } from '../../src/io/index.js';
import { withTemperatureLayer } from '../../src/models/index.js';
import { ltd } from '../../src/train/index.js';
import { expectThrowsNoLeak, useBackend } from '../helpers.js';

beforeAll(async () => useBackend('cpu'));

/** A small trained-looking student: flatten, dense-relu, dense logits. */
function studentNet(seed: number): tfl.LayersModel {
  return tfl.sequential({
    name: `student${String(seed)}`,
    layers: [
      tfl.layers.flatten({ inputShape: [4, 4, 1] }),
      tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
      tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }), biasInitializer: 'randomNormal' })
    ]
  });
}

/** The largest |a − b| relative to max |b|. */
async function relGap(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const g = tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(b))));
  const v = (await g.data())[0] ?? NaN;
  g.dispose();
  return v;
}

/** Saves a model into memory and loads it back with plain tfjs-layers. */
async function roundTrip(model: tfl.LayersModel): Promise<{ loaded: tfl.LayersModel; topology: string }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    })
  );
  if (saved === undefined) throw new Error('nothing saved');
  return { loaded: await tfl.loadLayersModel(tf.io.fromMemory(saved)), topology: JSON.stringify(saved.modelTopology) };
}

describe('withTemperatureLayer', () => {
  it.each([2, 3, 0.5])('at τ = %p outputs net(x)/τ (to float32 rounding), saved and reloaded by tf.loadLayersModel', async (tau) => {
    const net = studentNet(1);
    const deployed = withTemperatureLayer(net, tau);
    const x = tf.randomUniform([5, 4, 4, 1], 0, 1, 'float32', 2);
    const expected = tf.tidy(() => tf.div(net.predict(x) as tf.Tensor, tau));
    const direct = deployed.predict(x) as tf.Tensor;
    expect(await relGap(direct, expected)).toBeLessThan(1e-6);

    const { loaded, topology } = await roundTrip(deployed);
    // The division is a tfjs-layers class: the file needs no ardkit to load.
    expect(topology).toContain('"class_name":"Rescaling"');
    const reloaded = loaded.predict(x) as tf.Tensor;
    expect(Array.from(await reloaded.data())).toEqual(Array.from(await direct.data()));
    expect(await relGap(reloaded, expected)).toBeLessThan(1e-6);
    // The undivided network, saved alone, does not carry τ: that is what the layer is for.
    const undivided = (await roundTrip(net)).loaded;
    const plain = undivided.predict(x) as tf.Tensor;
    if (tau !== 1) expect(await relGap(plain, expected)).toBeGreaterThan(0.1);

    tf.dispose([x, expected, direct, reloaded, plain]);
    loaded.dispose();
    undivided.dispose();
    deployed.dispose();
    net.dispose();
  });

  it('saved to disk by ardkit/io gives what ltd(...).deploy evaluates, and runs compiled through fromLayersModel', async () => {
    const net = studentNet(3);
    const teacher = fromLayersModel(studentNet(5));
    const objective = ltd({ teacher, eps: 0.1, studentTemperature: 5 });
    const deployed = withTemperatureLayer(net, objective.studentTemperature);
    // The Rescaling layer is one the compiled forward pass knows: attacks on the deployed model skip `apply`.
    expect(compileLayersForward(deployed)).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-temperature-'));
    try {
      await deployed.save(fileSystem(dir));
      const loaded = await tfl.loadLayersModel(fileSystem(dir));
      const x = tf.randomUniform([4, 4, 4, 1], 0, 1, 'float32', 4);
      const viaObjective = objective.deploy(fromLayersModel(net))(x);
      const viaCore = withTemperature(fromLayersModel(net), 5)(x);
      const viaFile = fromLayersModel(loaded)(x);
      expect(await relGap(viaFile, viaObjective)).toBeLessThan(1e-6);
      expect(await relGap(viaFile, viaCore)).toBeLessThan(1e-6);
      tf.dispose([x, viaObjective, viaCore, viaFile]);
      loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    deployed.dispose();
    net.dispose();
  });

  it('shares the weights of net: training net changes the deployed model, and disposing the deployed model keeps net', () => {
    const net = studentNet(6);
    const before = tf.memory().numTensors;
    const deployed = withTemperatureLayer(net, 2);
    expect(tf.memory().numTensors).toBe(before); // no tensor of its own: Rescaling has no weights
    expect(deployed.getWeights().map((w) => w.id)).toEqual(net.getWeights().map((w) => w.id));
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, 'float32', 7);
    const first = deployed.predict(x) as tf.Tensor;
    const kernel = net.layers[2]!.getWeights()[0]!;
    const doubled = tf.mul(kernel, 2);
    net.layers[2]!.setWeights([doubled, net.layers[2]!.getWeights()[1]!]);
    const second = deployed.predict(x) as tf.Tensor;
    expect(Array.from(second.dataSync())).not.toEqual(Array.from(first.dataSync()));
    deployed.dispose();
    // net still works after the deployed model is gone.
    const third = net.predict(x) as tf.Tensor;
    expect(third.shape).toEqual([2, 3]);
    tf.dispose([x, first, doubled, second, third]);
    net.dispose();
  });

  it('rebuilds a functional graph with branches flat (no nested model in the file), and outlives net when net is disposed first', async () => {
    const input = tfl.input({ shape: [6] });
    const a = tfl.layers.dense({ units: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 11 }) }).apply(input) as tfl.SymbolicTensor;
    const b = tfl.layers.dense({ units: 5, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 12 }) }).apply(input) as tfl.SymbolicTensor;
    const sum = tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotUniform({ seed: 13 }) }).apply(sum) as tfl.SymbolicTensor;
    const net = tfl.model({ inputs: input, outputs: out, name: 'branchy' });
    const deployed = withTemperatureLayer(net, 3);
    const x = tf.randomUniform([3, 6], 0, 1, 'float32', 14);
    const expected = tf.tidy(() => tf.div(net.predict(x) as tf.Tensor, 3));
    const { loaded, topology } = await roundTrip(deployed);
    const saved = JSON.parse(topology) as { config: { layers: Array<{ class_name: string }> } };
    expect(saved.config.layers.map((l) => l.class_name)).toEqual(['InputLayer', 'Dense', 'Dense', 'Add', 'Dense', 'Rescaling']);
    expect(deployed.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Dense', 'Dense', 'Add', 'Dense', 'Rescaling']);
    net.dispose();
    const after = deployed.predict(x) as tf.Tensor;
    const reloaded = loaded.predict(x) as tf.Tensor;
    expect(await relGap(after, expected)).toBeLessThan(1e-6);
    expect(await relGap(reloaded, expected)).toBeLessThan(1e-6);
    tf.dispose([x, expected, after, reloaded]);
    loaded.dispose();
    deployed.dispose();
  });

  it('leaks no tensor when called and when predicting', () => {
    const net = studentNet(8);
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, 'float32', 9);
    const warm = withTemperatureLayer(net, 2);
    tf.dispose(warm.predict(x));
    const before = tf.memory().numTensors;
    const deployed = withTemperatureLayer(net, 4);
    tf.dispose(deployed.predict(x));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    net.dispose();
  });

  it('refuses bad input, naming the function and the argument, without leaking', () => {
    const net = studentNet(10);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectThrowsNoLeak(() => withTemperatureLayer(net, bad), /^withTemperatureLayer: temperature must be a finite number > 0 \(got/);
    }
    expectThrowsNoLeak(() => withTemperatureLayer(net, '2' as unknown as number), /withTemperatureLayer: temperature must be a finite number > 0/);
    expectThrowsNoLeak(() => withTemperatureLayer(fromLayersModel(net) as unknown as tfl.LayersModel, 2), /^withTemperatureLayer: net must be a tfjs-layers LayersModel/, TypeError);
    const input = tfl.input({ shape: [3] });
    const twoHeads = tfl.model({
      inputs: input,
      outputs: [tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor, tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor]
    });
    expectThrowsNoLeak(() => withTemperatureLayer(twoHeads, 2), /^withTemperatureLayer: net must have exactly one output, the logits \(got "2 outputs"\)/);
    const image = tfl.input({ shape: [4, 4, 1] });
    const spatial = tfl.model({ inputs: image, outputs: tfl.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(image) as tfl.SymbolicTensor });
    expectThrowsNoLeak(() => withTemperatureLayer(spatial, 2), /^withTemperatureLayer: net must output logits of rank 2 \(\[B, C\]\)/);
    twoHeads.dispose();
    spatial.dispose();
    net.dispose();
  });
});

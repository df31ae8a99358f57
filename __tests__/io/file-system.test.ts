import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileSystem } from '../../src/io/index.js';
import { useBackend } from '../helpers.js';
import {
  artifactsOf,
  expectRejects,
  functionalInputs,
  functionalModel,
  leftoverTempDirs,
  predictionBytes,
  release,
  removeTempDirs,
  sequentialInput,
  sequentialModel,
  tempDir,
  tensorBoundaries,
  weightBytes,
  weightDataOf,
  writeShards
} from './fixtures.js';

beforeAll(async () => useBackend('cpu'));
afterEach(() => {
  jest.restoreAllMocks();
  removeTempDirs();
});

/** Saves `model` to a fresh folder with fileSystem and loads it back with tf.loadLayersModel. */
async function roundTrip(model: tfl.LayersModel): Promise<{ dir: string; loaded: tfl.LayersModel }> {
  const dir = tempDir();
  await model.save(fileSystem(dir));
  return { dir, loaded: await tfl.loadLayersModel(fileSystem(dir)) };
}

/** Expects two models to hold the same weights, byte for byte, under the same names, in the same order. */
function expectSameWeights(a: tfl.LayersModel, b: tfl.LayersModel): void {
  const wa = weightBytes(a);
  const wb = weightBytes(b);
  expect([...wb.keys()]).toEqual([...wa.keys()]);
  for (const [name, bytes] of wa) expect(wb.get(name)?.equals(bytes)).toBe(true);
}

/**
 * A fetch that serves `dir`'s files for `http://model.test/…` URLs, so tfjs' own HTTP reader can read a folder. Its
 * responses parse JSON in the test's own realm (a real `Response` would give arrays that jest's sandbox does not
 * recognise as arrays, and tfjs-layers checks `instanceof Array`).
 */
function fetchFrom(dir: string): typeof fetch {
  return (async (input: string) => {
    const bytes = await fs.promises.readFile(path.join(dir, decodeURIComponent(new URL(input).pathname)));
    return {
      ok: true,
      status: 200,
      json: () => Promise.resolve(JSON.parse(bytes.toString('utf8')) as unknown),
      arrayBuffer: () => Promise.resolve(new Uint8Array(bytes).buffer)
    };
  }) as unknown as typeof fetch;
}

/** Loads `dir/<file>` with tfjs-core's own HTTP reader (tf.io.http), as a check of the on-disk format. */
function loadWithTfjsReader(dir: string, file = 'model.json'): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(tf.io.http(`http://model.test/${file}`, { fetchFunc: fetchFrom(dir) }));
}

describe('fileSystem: round trips through model.save and tf.loadLayersModel', () => {
  it('a Sequential conv net: weights bit-identical, predictions identical, model.json in tfjs format', async () => {
    const model = sequentialModel(1);
    const { dir, loaded } = await roundTrip(model);
    expectSameWeights(model, loaded);
    // Control: a model built with other seeds differs, so the byte comparison can fail.
    const other = sequentialModel(7);
    expect([...weightBytes(other).values()][0]?.equals([...weightBytes(model).values()][0]!)).toBe(false);
    const x = sequentialInput();
    expect(predictionBytes(loaded, x).equals(predictionBytes(model, x))).toBe(true);

    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['modelTopology', 'format', 'generatedBy', 'convertedBy', 'weightsManifest']);
    expect(json.format).toBe('layers-model');
    expect(json.generatedBy).toMatch(/^TensorFlow\.js tfjs-layers v4\./);
    expect(json.convertedBy).toBeNull();
    const artifacts = await artifactsOf(model);
    expect(json.modelTopology).toEqual(artifacts.modelTopology);
    expect(json.weightsManifest).toEqual([{ paths: ['weights.bin'], weights: artifacts.weightSpecs }]);
    expect(new Uint8Array(fs.readFileSync(path.join(dir, 'weights.bin')))).toEqual(weightDataOf(artifacts));
    release(x, model, loaded, other);
  });

  it('a functional model with two inputs and two branches: weights bit-identical, predictions identical', async () => {
    const model = functionalModel(11);
    const { dir, loaded } = await roundTrip(model);
    expectSameWeights(model, loaded);
    expect(loaded.inputs.map((i) => i.shape)).toEqual([[null, 3], [null, 2]]);
    const xs = functionalInputs();
    expect(predictionBytes(loaded, xs).equals(predictionBytes(model, xs))).toBe(true);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { modelTopology: { class_name: string } };
    expect(json.modelTopology.class_name).toBe('Model');
    release(...xs, model, loaded);
  });

  it('writes trainingConfig, the optimizer weights and userDefinedMetadata when the model has them, and reads them back', async () => {
    const model = functionalModel(5);
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const xs = functionalInputs();
    const y = tf.tensor2d([[1, 0, 0], [0, 1, 0]]);
    await model.trainOnBatch(xs, y);
    model.setUserDefinedMetadata({ method: 'rslad', epsilon: 0.3 });
    const dir = tempDir();
    await model.save(fileSystem(dir), { includeOptimizer: true });
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
      trainingConfig?: { loss: string };
      userDefinedMetadata?: unknown;
      weightsManifest: Array<{ weights: Array<{ group?: string }> }>;
    };
    expect(json.trainingConfig?.loss).toBe('mean_squared_error');
    expect(json.userDefinedMetadata).toEqual({ method: 'rslad', epsilon: 0.3 });
    expect(json.weightsManifest[0]?.weights.some((w) => w.group === 'optimizer')).toBe(true);
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    expect(loaded.getUserDefinedMetadata()).toEqual({ method: 'rslad', epsilon: 0.3 });
    expect(loaded.optimizer).toBeDefined();
    const optimizerBytes = async (m: tfl.LayersModel): Promise<Buffer[]> =>
      (await m.optimizer.getWeights()).map((w) => { const v = w.tensor.dataSync(); return Buffer.from(v.buffer, v.byteOffset, v.byteLength); });
    expect(await optimizerBytes(loaded)).toEqual(await optimizerBytes(model));
    expectSameWeights(model, loaded);
    release(...xs, y, model, loaded);
  });

  it("writes files that tfjs-core's own reader (tf.io.http) loads to the same predictions", async () => {
    const model = sequentialModel(3);
    const dir = tempDir();
    await model.save(fileSystem(dir));
    const loaded = await loadWithTfjsReader(dir);
    expectSameWeights(model, loaded);
    const x = sequentialInput();
    expect(predictionBytes(loaded, x).equals(predictionBytes(model, x))).toBe(true);
    release(x, model, loaded);
  });

  it('saves to a path ending in .json with weights.bin beside it, creating the folders, and loads from that path', async () => {
    const model = sequentialModel(4);
    const dir = path.join(tempDir(), 'nested', 'deeper');
    const file = path.join(dir, 'student.json');
    await model.save(fileSystem(file));
    expect(fs.readdirSync(dir).sort()).toEqual(['student.json', 'weights.bin']);
    const loaded = await tfl.loadLayersModel(fileSystem(file));
    expectSameWeights(model, loaded);
    release(model, loaded);
  });

  it('loads from a model.json path as well as from its folder, and drops a file:// prefix', async () => {
    const model = sequentialModel(6);
    const dir = tempDir();
    await model.save(fileSystem(`file://${dir}`));
    for (const from of [path.join(dir, 'model.json'), `file://${dir}`]) {
      const loaded = await tfl.loadLayersModel(fileSystem(from));
      expectSameWeights(model, loaded);
      loaded.dispose();
    }
    model.dispose();
  });

  it("returns tfjs' save result: the artifacts' byte counts", async () => {
    const model = sequentialModel(8);
    const result = await fileSystem(tempDir()).save(await artifactsOf(model));
    expect(result.modelArtifactsInfo.modelTopologyType).toBe('JSON');
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(weightDataOf(await artifactsOf(model)).byteLength);
    model.dispose();
  });
});

describe('fileSystem: sharded weights as the tfjs converter writes them', () => {
  /** Writes a converter-style folder for `model`: its weights cut into shards, and a model.json listing them. */
  async function writeConverted(model: tfl.LayersModel, groups: ReadonlyArray<{ readonly weights: number; readonly cuts: (bounds: number[]) => number[]; readonly prefix?: string }>): Promise<string> {
    const dir = tempDir();
    const artifacts = await artifactsOf(model);
    const specs = artifacts.weightSpecs ?? [];
    const data = weightDataOf(artifacts);
    const manifest: tf.io.WeightsManifestConfig = [];
    let firstSpec = 0;
    let firstByte = 0;
    groups.forEach((g, i) => {
      const groupSpecs = specs.slice(firstSpec, firstSpec + g.weights);
      const bounds = tensorBoundaries(groupSpecs);
      const bytes = data.subarray(firstByte, firstByte + (bounds.at(-1) ?? 0));
      const cuts = g.cuts(bounds);
      // Every cut falls inside a tensor, not between two.
      for (const c of cuts) expect(bounds).not.toContain(c);
      const names = writeShards(dir, i + 1, bytes, cuts);
      manifest.push({ paths: names.map((n) => `${g.prefix ?? ''}${n}`), weights: groupSpecs });
      firstSpec += g.weights;
      firstByte += bytes.byteLength;
    });
    expect(firstByte).toBe(data.byteLength);
    const json = { format: 'layers-model', generatedBy: 'keras v2.15.0', convertedBy: 'TensorFlow.js Converter v4.22.0', modelTopology: artifacts.modelTopology, weightsManifest: manifest };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    return dir;
  }

  it('loads one group of 3 shards cut inside tensors, with identical weights and predictions', async () => {
    const model = sequentialModel(21);
    const n = model.weights.length;
    // Inside the first dense kernel (not a multiple of 4: mid-float), and inside the last kernel.
    const dir = await writeConverted(model, [{ weights: n, cuts: (b) => [b[2]! + 7, b[4]! + 10] }]);
    expect(fs.readdirSync(dir).sort()).toEqual(['group1-shard1of3.bin', 'group1-shard2of3.bin', 'group1-shard3of3.bin', 'model.json']);
    const loaded = await tfl.loadLayersModel(fileSystem(path.join(dir, 'model.json')));
    expectSameWeights(model, loaded);
    const x = sequentialInput();
    expect(predictionBytes(loaded, x).equals(predictionBytes(model, x))).toBe(true);
    release(x, model, loaded);
  });

  it("loads several groups, each sharded, with './' paths, as tfjs' own reader does", async () => {
    const model = functionalModel(22);
    const n = model.weights.length;
    const dir = await writeConverted(model, [
      { weights: 3, cuts: (b) => [b[0]! + 5, b[2]! + 2] },
      { weights: n - 3, cuts: (b) => [b[1]! + 3], prefix: './' }
    ]);
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    expectSameWeights(model, loaded);
    const xs = functionalInputs();
    expect(predictionBytes(loaded, xs).equals(predictionBytes(model, xs))).toBe(true);
    // The hand-written folder is the converter's format: tfjs' HTTP reader loads it to the same weights.
    const viaTfjs = await loadWithTfjsReader(dir);
    expectSameWeights(model, viaTfjs);
    release(...xs, model, loaded, viaTfjs);
  });

  /** A dense 3 → 2 model whose kernel is uint8-quantized and bias float16 on disk; returns its folder. */
  async function writeQuantized(extraBytes: number): Promise<{ dir: string; kernel: number[]; bias: number[]; model: tfl.LayersModel }> {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 2 })] });
    const q = [0, 1, 2, 3, 250, 255];
    const kernel = q.map((v) => v * 0.5 - 1); // dequantized: q·scale + min, exact in float32
    const bias = [0.5, -0.25];
    const artifacts = await artifactsOf(model);
    const [kSpec, bSpec] = artifacts.weightSpecs ?? [];
    const weights = [
      { ...kSpec!, quantization: { dtype: 'uint8' as const, scale: 0.5, min: -1 } },
      { ...bSpec!, quantization: { dtype: 'float16' as const } }
    ];
    // 6 uint8 bytes, then two IEEE half floats: 0.5 = 0x3800, -0.25 = 0xb400 (little-endian).
    const bytes = new Uint8Array([...q, 0x00, 0x38, 0x00, 0xb4, ...new Array<number>(extraBytes).fill(0)]);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), bytes);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }] }));
    return { dir, kernel, bias, model };
  }

  it('counts quantized weights by their quantization dtype (uint8: 1 byte, float16: 2) and loads them', async () => {
    const { dir, kernel, bias, model } = await writeQuantized(0);
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    const [k, b] = loaded.getWeights();
    expect(Array.from(k!.dataSync())).toEqual(kernel);
    expect(Array.from(b!.dataSync())).toEqual(bias);
    release(model, loaded);
  });

  it('rejects quantized weights whose files hold more bytes than their quantization dtype needs', async () => {
    const { dir, model } = await writeQuantized(1);
    await expectRejects(tfl.loadLayersModel(fileSystem(dir)), RangeError, /group1-shard1of1\.bin\) must hold the bytes its 2 weight specs need \(expected 10 bytes, got 11 bytes\)/);
    model.dispose();
  });
});

describe('fileSystem(path).load() on its own', () => {
  /** A weights-only model.json with one string weight ["ab", "c"]: each element a 4-byte little-endian length, then its bytes. */
  function writeStringWeight(bytes: readonly number[]): string {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(bytes));
    const weightsManifest = [{ paths: ['w.bin'], weights: [{ name: 'vocab', shape: [2], dtype: 'string' }] }];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest }));
    return dir;
  }
  const encoded = [2, 0, 0, 0, 0x61, 0x62, 1, 0, 0, 0, 0x63];

  it('counts string weights by their length prefixes and gives artifacts tf.io.decodeWeights reads', async () => {
    const artifacts = await fileSystem(writeStringWeight(encoded)).load();
    expect(artifacts.weightSpecs).toEqual([{ name: 'vocab', shape: [2], dtype: 'string' }]);
    const decoded = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
    expect(decoded.vocab?.arraySync()).toEqual(['ab', 'c']);
    tf.dispose(decoded);
  });

  it.each([
    ['cut inside the last length prefix', encoded.slice(0, 8), /expected at least 10 bytes, got 8 bytes/],
    ['cut inside the last string', encoded.slice(0, 10), /expected 11 bytes, got 10 bytes/],
    ['a byte too long', [...encoded, 0], /expected 11 bytes, got 12 bytes/]
  ])('rejects string weights %s', async (_what, bytes, message) => {
    await expectRejects(fileSystem(writeStringWeight(bytes)).load(), RangeError, message);
  });
});

describe('fileSystem: bad or missing files are errors naming the file, and leak no tensor', () => {
  /** Saves a model to a fresh folder; returns the folder and the model.json text. */
  async function savedFolder(): Promise<{ dir: string; json: string; weights: Buffer }> {
    const model = sequentialModel(31);
    const dir = tempDir();
    await model.save(fileSystem(dir));
    model.dispose();
    return { dir, json: fs.readFileSync(path.join(dir, 'model.json'), 'utf8'), weights: fs.readFileSync(path.join(dir, 'weights.bin')) };
  }

  /** Expects tf.loadLayersModel(fileSystem(from)) to reject as described, with tf.memory().numTensors unchanged. */
  async function expectLoadFails(from: string, type: ErrorConstructor, message: RegExp): Promise<Error> {
    const before = tf.memory().numTensors;
    const error = await expectRejects(tfl.loadLayersModel(fileSystem(from)), type, message);
    expect(tf.memory().numTensors).toBe(before);
    return error;
  }

  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('a folder without model.json', async () => {
    const dir = tempDir();
    await expectLoadFails(dir, RangeError, new RegExp(`^fileSystem: ${escape(path.join(dir, 'model.json'))} must exist`));
  });

  it('a path where nothing is', async () => {
    const file = path.join(tempDir(), 'missing', 'model.json');
    await expectLoadFails(file, RangeError, new RegExp(`^fileSystem: ${escape(file)} must exist: .*got nothing at`));
  });

  it("a model.json that does not parse, with the parser's message", async () => {
    const { dir, json } = await savedFolder();
    const broken = json.slice(0, 60);
    fs.writeFileSync(path.join(dir, 'model.json'), broken);
    let parserMessage = '';
    try {
      JSON.parse(broken);
    } catch (error) {
      parserMessage = (error as Error).message;
    }
    expect(parserMessage.length).toBeGreaterThan(0);
    const error = await expectLoadFails(dir, RangeError, new RegExp(`^fileSystem: ${escape(path.join(dir, 'model.json'))} must hold valid JSON`));
    expect(error.message).toContain(parserMessage);
  });

  it.each([
    ['an object without either key', '{"format": "layers-model", "weights": []}', /got an object with keys \["format","weights"\]/],
    ['an array', '[1, 2]', /got an array/],
    ['a number', '42', /got number/]
  ])('a model.json holding %s, not modelTopology and weightsManifest', async (_what, text, got) => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'model.json'), text);
    const error = await expectLoadFails(dir, RangeError, /model\.json must hold a tfjs model: a JSON object with modelTopology and weightsManifest/);
    expect(error.message).toMatch(got);
    expect(error.message).toContain(path.join(dir, 'model.json'));
  });

  it('a weights manifest with a bad weight spec, named by its place in the file', async () => {
    const { dir, json } = await savedFolder();
    const parsed = JSON.parse(json) as { weightsManifest: Array<{ weights: Array<{ dtype: string }> }> };
    parsed.weightsManifest[0]!.weights[2]!.dtype = 'float64';
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(parsed));
    await expectLoadFails(dir, RangeError, /model\.json weightsManifest\[0\]\.weights\[2\]\.dtype must be one of float32, int32, bool, complex64, string \(got "float64"\)/);
  });

  it('a weights manifest group without paths', async () => {
    const { dir, json } = await savedFolder();
    const parsed = JSON.parse(json) as { weightsManifest: Array<{ paths?: unknown }> };
    parsed.weightsManifest[0]!.paths = [];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(parsed));
    await expectLoadFails(dir, RangeError, /model\.json weightsManifest\[0\]\.paths must be a non-empty array of file names \(got \[\]\)/);
  });

  it('a missing weights.bin', async () => {
    const { dir } = await savedFolder();
    fs.rmSync(path.join(dir, 'weights.bin'));
    await expectLoadFails(dir, RangeError, new RegExp(`^fileSystem: ${escape(path.join(dir, 'weights.bin'))} must exist \\(listed in ${escape(path.join(dir, 'model.json'))}, weightsManifest\\[0\\]\\.paths\\[0\\]\\)`));
  });

  it('a missing shard of three', async () => {
    const { dir, json, weights } = await savedFolder();
    const names = writeShards(dir, 1, new Uint8Array(weights), [10, 301]);
    const parsed = JSON.parse(json) as { weightsManifest: Array<{ paths: string[] }> };
    parsed.weightsManifest[0]!.paths = names;
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(parsed));
    fs.rmSync(path.join(dir, 'group1-shard2of3.bin'));
    await expectLoadFails(dir, RangeError, /group1-shard2of3\.bin must exist \(listed in .*model\.json, weightsManifest\[0\]\.paths\[1\]\)/);
  });

  it.each([
    ['truncated by 5 bytes', -5],
    ['4 bytes too long', 4]
  ])('a weights.bin %s: expected and actual byte counts', async (_what, delta) => {
    const { dir, weights } = await savedFolder();
    const changed = delta < 0 ? weights.subarray(0, weights.byteLength + delta) : Buffer.concat([weights, Buffer.alloc(delta)]);
    fs.writeFileSync(path.join(dir, 'weights.bin'), changed);
    await expectLoadFails(
      dir,
      RangeError,
      new RegExp(`weightsManifest\\[0\\] \\(${escape(path.join(dir, 'weights.bin'))}\\) must hold the bytes its 6 weight specs need \\(expected ${String(weights.byteLength)} bytes, got ${String(weights.byteLength + delta)} bytes\\)`)
    );
  });

  it('a sharded group whose shards are short by a byte', async () => {
    const { dir, json, weights } = await savedFolder();
    const names = writeShards(dir, 1, new Uint8Array(weights.subarray(0, weights.byteLength - 1)), [9, 200]);
    const parsed = JSON.parse(json) as { weightsManifest: Array<{ paths: string[] }> };
    parsed.weightsManifest[0]!.paths = names;
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(parsed));
    await expectLoadFails(dir, RangeError, new RegExp(`group1-shard1of3\\.bin, .*group1-shard2of3\\.bin, .*group1-shard3of3\\.bin\\) must hold .*\\(expected ${String(weights.byteLength)} bytes, got ${String(weights.byteLength - 1)} bytes\\)`));
  });

  it('a save that cannot write names the file, and a binary topology is a TypeError', async () => {
    const dir = tempDir();
    const blocker = path.join(dir, 'taken');
    fs.writeFileSync(blocker, 'a file, not a folder');
    const model = sequentialModel(32);
    await expectRejects(model.save(fileSystem(blocker)), Error, new RegExp(`^fileSystem: cannot save the model to ${escape(path.join(blocker, 'model.json'))}: `));
    await expectRejects(fileSystem(dir).save({ modelTopology: new ArrayBuffer(8) }), TypeError, /^fileSystem: the model topology must be JSON/);
    model.dispose();
  });

  it('weight data that does not match its specs is not saved', async () => {
    const dir = tempDir();
    const artifacts = await artifactsOf(sequentialModel(33));
    const data = weightDataOf(artifacts);
    await expectRejects(fileSystem(dir).save({ ...artifacts, weightData: data.slice(0, data.byteLength - 4).buffer }), RangeError, /expected \d+ bytes, got \d+ bytes/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('fileSystem: atomic writes', () => {
  it('leaves exactly model.json and weights.bin: no temporary file remains', async () => {
    const model = sequentialModel(41);
    const dir = tempDir();
    await model.save(fileSystem(dir));
    await model.save(fileSystem(dir));
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    model.dispose();
  });

  it('saving over an existing model replaces it', async () => {
    const first = sequentialModel(42);
    const second = functionalModel(43);
    const dir = tempDir();
    await first.save(fileSystem(dir));
    await second.save(fileSystem(dir));
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    expectSameWeights(second, loaded);
    expect(loaded.inputs.length).toBe(2);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    release(first, second, loaded);
  });

  it('writes each file to a temporary file in the same folder and renames it: weights first, model.json last', async () => {
    const renames: Array<[string, string]> = [];
    const rename = fs.promises.rename.bind(fs.promises);
    jest.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      renames.push([String(from), String(to)]);
      return rename(from, to);
    });
    const model = sequentialModel(44);
    const dir = tempDir();
    await model.save(fileSystem(dir));
    expect(renames.map(([, to]) => to)).toEqual([path.join(dir, 'weights.bin'), path.join(dir, 'model.json')]);
    for (const [from, to] of renames) {
      expect(path.dirname(from)).toBe(path.dirname(to));
      expect(path.basename(from)).toMatch(new RegExp(`^\\.${path.basename(to).replace('.', '\\.')}\\..*\\.tmp$`));
    }
    model.dispose();
  });

  it('a save that fails before model.json is in place leaves no model.json and no temporary file', async () => {
    const rename = fs.promises.rename.bind(fs.promises);
    jest.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      if (String(to).endsWith('model.json')) throw Object.assign(new Error('EIO: simulated failure'), { code: 'EIO' });
      return rename(from, to);
    });
    const model = sequentialModel(45);
    const dir = tempDir();
    await expectRejects(model.save(fileSystem(dir)), Error, /^fileSystem: cannot save the model to .*model\.json: EIO: simulated failure/);
    expect(fs.readdirSync(dir)).toEqual(['weights.bin']);
    jest.restoreAllMocks();
    // The folder is a model folder again once a save succeeds.
    await model.save(fileSystem(dir));
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    expectSameWeights(model, loaded);
    release(model, loaded);
  });

  it('a save whose weights cannot be written writes no model.json', async () => {
    jest.spyOn(fs.promises, 'rename').mockRejectedValue(Object.assign(new Error('ENOSPC: simulated full disk'), { code: 'ENOSPC' }));
    const model = sequentialModel(46);
    const dir = tempDir();
    await expectRejects(model.save(fileSystem(dir)), Error, /ENOSPC: simulated full disk/);
    expect(fs.readdirSync(dir)).toEqual([]);
    model.dispose();
  });
});

describe('fileSystem: tensors', () => {
  it('a save and load leave tf.memory().numTensors unchanged once the models are disposed', async () => {
    const once = async (): Promise<void> => {
      const model = functionalModel(51);
      const { loaded } = await roundTrip(model);
      const xs = functionalInputs();
      predictionBytes(loaded, xs);
      release(...xs, model, loaded);
    };
    await once(); // warms tfjs-layers' constants
    const before = tf.memory().numTensors;
    await once();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('fileSystem: arguments', () => {
  it.each([
    [3, TypeError, /^fileSystem: path must be a non-empty string \(got 3\)$/],
    [undefined, TypeError, /^fileSystem: path must be a non-empty string \(got undefined\)$/],
    [['a', 'b'], TypeError, /^fileSystem: path must be a non-empty string \(got \["a", "b"\]\)$/],
    ['', RangeError, /^fileSystem: path must be a non-empty string \(got ""\)$/],
    ['file://', RangeError, /^fileSystem: path must be a non-empty string \(got "file:\/\/"\)$/]
  ])('fileSystem(%p) throws', (value, type, message) => {
    expect(() => fileSystem(value as string)).toThrow(type);
    expect(() => fileSystem(value as string)).toThrow(message);
  });
});

afterAll(() => {
  expect(leftoverTempDirs()).toEqual([]);
});

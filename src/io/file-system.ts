import * as tf from '@tensorflow/tfjs-core';
import { rangeError, typeError, named } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { checkModelJson, expectedBytes, modelJsonFor } from './model-json.js';

const FN = 'fileSystem';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const FILE_SCHEME = 'file://';

/** The error code Node gives a path that does not exist. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Where a save goes: a path ending in `.json` is the model file itself, any other path the folder for `model.json`. */
async function savePaths(target: string): Promise<{ readonly dir: string; readonly modelFile: string }> {
  const path = await import('node:path');
  if (target.toLowerCase().endsWith('.json')) return { dir: path.dirname(target), modelFile: target };
  return { dir: target, modelFile: path.join(target, MODEL_JSON) };
}

/** Writes the weights, then `model.json`, each atomically, so `model.json` never names weights that are not there. */
async function save(target: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  // Tested by tag, not instanceof: an ArrayBuffer from another realm (a worker, a vm context) is binary too.
  if (Object.prototype.toString.call(artifacts.modelTopology) === '[object ArrayBuffer]') {
    throw new TypeError(`${FN}: the model topology must be JSON, as Layers models give it (got a binary ArrayBuffer topology, which model.json cannot hold)`);
  }
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { dir, modelFile } = await savePaths(target);
  const specs = artifacts.weightSpecs ?? [];
  const data = new Uint8Array(artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const expected = expectedBytes(specs, data.byteLength, (start, end) => data.slice(start, end).buffer);
  if (expected.bytes !== data.byteLength) {
    throw new RangeError(
      `${FN}: the weight data to save must hold the bytes its ${String(specs.length)} weight specs need (expected ${String(expected.bytes)} bytes, got ${String(data.byteLength)} bytes)`
    );
  }
  // The weights file sits beside model.json, named relative to it, as tfjs-node and the converter write it.
  const manifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_BIN], weights: specs }];
  const text = JSON.stringify(modelJsonFor(artifacts, manifest));
  try {
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(path.join(dir, WEIGHTS_BIN), data);
    await writeFileAtomic(modelFile, text);
  } catch (error) {
    throw new Error(`${FN}: cannot save the model to ${modelFile}: ${(error as Error).message}`, { cause: error });
  }
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

/** The model.json a load path names: the file itself, or `model.json` in the folder. */
async function modelJsonPath(target: string): Promise<string> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  try {
    return (await fs.stat(target)).isDirectory() ? path.join(target, MODEL_JSON) : target;
  } catch (error) {
    if (!isMissing(error)) throw new Error(`${FN}: cannot read ${target}: ${(error as Error).message}`, { cause: error });
    const file = target.toLowerCase().endsWith('.json') ? target : path.join(target, MODEL_JSON);
    throw new RangeError(`${FN}: ${file} must exist: load from a model.json or a folder holding one (got nothing at ${target})`, { cause: error });
  }
}

/** Reads one file of the model; a missing one is a RangeError saying what it is. */
async function readModelFile(file: string, what: string): Promise<Uint8Array> {
  const fs = await import('node:fs/promises');
  try {
    return await fs.readFile(file);
  } catch (error) {
    if (isMissing(error)) throw new RangeError(`${FN}: ${file} must exist (${what}): ${(error as Error).message}`, { cause: error });
    throw new Error(`${FN}: cannot read ${file} (${what}): ${(error as Error).message}`, { cause: error });
  }
}

/** The bytes of a file as an ArrayBuffer of their own (a Node Buffer may be a view into a larger one). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  // By tag rather than instanceof: Node's buffers can come from another realm than this module's ArrayBuffer.
  if (whole && Object.prototype.toString.call(bytes.buffer) === '[object ArrayBuffer]') return bytes.buffer as ArrayBuffer;
  return bytes.slice().buffer;
}

/**
 * Reads the weight files of a manifest, group by group, each group's files concatenated in order (the converter cuts
 * shards at byte counts, not at tensor boundaries), and checks each group's bytes against its specs.
 */
async function readWeights(modelFile: string, manifest: tf.io.WeightsManifestConfig): Promise<[tf.io.WeightsManifestEntry[], ArrayBuffer]> {
  const path = await import('node:path');
  const dir = path.dirname(modelFile);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const [g, group] of manifest.entries()) {
    const files = group.paths.map((p) => path.resolve(dir, p));
    const parts = await Promise.all(
      files.map(async (file, i) => ownBuffer(await readModelFile(file, `listed in ${modelFile}, weightsManifest[${String(g)}].paths[${String(i)}]`)))
    );
    const joined = new tf.io.CompositeArrayBuffer(parts);
    const expected = expectedBytes(group.weights, joined.byteLength, (start, end) => joined.slice(start, end));
    if (expected.bytes !== joined.byteLength) {
      throw new RangeError(
        `${FN}: the weight files of ${modelFile} weightsManifest[${String(g)}] (${files.join(', ')}) must hold the bytes its ${String(group.weights.length)} weight specs need ` +
          `(expected ${expected.atLeast ? 'at least ' : ''}${String(expected.bytes)} bytes, got ${String(joined.byteLength)} bytes)`
      );
    }
    specs.push(...group.weights);
    buffers.push(...parts);
  }
  return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
}

/** Reads and checks model.json, then its weights, into the artifacts tfjs loads a model from. */
async function load(target: string): Promise<tf.io.ModelArtifacts> {
  const modelFile = await modelJsonPath(target);
  const text = new TextDecoder().decode(await readModelFile(modelFile, 'the model to load'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const start = `${JSON.stringify(text.slice(0, 40))}${text.length > 40 ? '…' : ''}`;
    throw new RangeError(`${FN}: ${modelFile} must hold valid JSON (got ${start}: ${(error as Error).message})`, { cause: error });
  }
  const json = checkModelJson(modelFile, parsed);
  return tf.io.getModelArtifactsForJSON(json, (manifest) => readWeights(modelFile, manifest));
}

/**
 * A tfjs IO handler that saves and loads models on the local file system, in Node, without
 * `@tensorflow/tfjs-node`, in the format tfjs-node and `tf.loadLayersModel` read and write: a `model.json` (the
 * topology, `format`, `generatedBy`, `convertedBy`, `weightsManifest`, and `trainingConfig`, `signature`,
 * `userDefinedMetadata`, `modelInitializer` when the model has them) and its weight files.
 *
 * - **Save** (`model.save(fileSystem(path))`): a `path` ending in `.json` is written as the model file, with
 *   `weights.bin` beside it; any other path is a folder (created if needed) that gets `model.json` and `weights.bin`.
 *   Each file is written to a temporary file in the same folder and renamed into place, the weights first and
 *   `model.json` last, so a reader never finds a `model.json` whose weights are missing. (Replacing a model is two
 *   renames, not one: a save interrupted between them leaves the new `weights.bin` beside the old `model.json`, which
 *   loading rejects when the two models' weights differ in size.)
 * - **Load** (`tf.loadLayersModel(fileSystem(path))`): `path` is a `model.json` or a folder holding one. Weight
 *   groups may be sharded as the tfjs converter writes them (`group1-shard1of3.bin`, …): each group's files, named
 *   relative to `model.json`, are concatenated in order, and their total must be the byte count the group's weight
 *   specs give (quantized specs count the bytes of their `quantization.dtype`).
 *
 * The handler holds no tensors; `tf.loadLayersModel` makes the model's. A `file://` prefix on `path` is dropped. To use
 * `file://` URLs with `model.save` and `tf.loadLayersModel`, call {@link registerFileSystem} once.
 *
 * @param path - where to save or load: a folder, or a `.json` file.
 * @returns an IO handler with `save` and `load`.
 * @throws TypeError when `path` is not a string; RangeError when it is empty. The handler's `load` rejects with a
 * RangeError naming the file when `model.json` is missing, does not parse (with the parser's message), holds neither
 * `modelTopology` nor `weightsManifest` or a malformed manifest, when a weight file is missing, or when a group's files
 * do not hold the bytes its specs need (expected and actual counts). `save` rejects with an Error naming the file when
 * it cannot be written, with a TypeError for a binary (non-JSON) topology, and with a RangeError when the weight data
 * does not hold the bytes its specs need.
 * @example
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { fileSystem } from 'ardkit/io';
 *
 * await model.save(fileSystem('models/student')); // models/student/model.json + weights.bin
 * const loaded = await tfl.loadLayersModel(fileSystem('models/student'));
 * const converted = await tfl.loadLayersModel(fileSystem('web_model/model.json')); // sharded converter output
 */
export function fileSystem(path: string): Required<tf.io.IOHandler> {
  return named('fileSystem', () => {
    if (typeof path !== 'string') typeError('path', 'be a non-empty string', path);
    const target = path.startsWith(FILE_SCHEME) ? path.slice(FILE_SCHEME.length) : path;
    if (target.length === 0) rangeError('path', 'be a non-empty string', path);
    return {
      save: (artifacts) => save(target, artifacts),
      load: () => load(target)
    };
  });
}

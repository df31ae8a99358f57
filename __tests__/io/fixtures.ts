/** Models, files and byte comparisons shared by the `ardkit/io` tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** A fresh folder under the system's temporary directory; {@link removeTempDirs} deletes them all. */
const made: string[] = [];
const everMade: string[] = [];
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-io-'));
  made.push(dir);
  everMade.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** The folders {@link tempDir} made in this test file that still exist (none, once removed). */
export function leftoverTempDirs(): string[] {
  return everMade.filter((dir) => fs.existsSync(dir));
}

/** A seeded initializer, so that two models built with the same seed have the same weights. */
type Initializer = ReturnType<typeof tfl.initializers.glorotUniform>;
const glorot = (seed: number): Initializer => tfl.initializers.glorotUniform({ seed });
const randomBias = (seed: number): Initializer => tfl.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });

/** A Sequential conv net on [4, 4, 1] inputs: conv (4-D kernel), flatten, two dense layers, 3 classes. */
export function sequentialModel(seed: number): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: 'relu', kernelInitializer: glorot(seed), biasInitializer: randomBias(seed + 1) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 5, activation: 'tanh', kernelInitializer: glorot(seed + 2), biasInitializer: randomBias(seed + 3) }),
      tfl.layers.dense({ units: 3, kernelInitializer: glorot(seed + 4), biasInitializer: randomBias(seed + 5) })
    ]
  });
}

/** A functional model with two inputs, a branch on each, merged by concatenation, then a shared head. */
export function functionalModel(seed: number): tfl.LayersModel {
  const a = tfl.input({ shape: [3], name: 'a' });
  const b = tfl.input({ shape: [2], name: 'b' });
  const ha = tfl.layers.dense({ units: 4, activation: 'relu', kernelInitializer: glorot(seed), biasInitializer: randomBias(seed + 1), name: 'branch_a' }).apply(a) as tfl.SymbolicTensor;
  const hb = tfl.layers.dense({ units: 2, activation: 'sigmoid', kernelInitializer: glorot(seed + 2), biasInitializer: randomBias(seed + 3), name: 'branch_b' }).apply(b) as tfl.SymbolicTensor;
  const merged = tfl.layers.concatenate().apply([ha, hb]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: glorot(seed + 4), biasInitializer: randomBias(seed + 5), name: 'head' }).apply(merged) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [a, b], outputs: out });
}

/** Disposes tensors and models. */
export function release(...things: ReadonlyArray<tf.Tensor | tfl.LayersModel>): void {
  for (const t of things) t.dispose();
}

/** Fixed inputs for {@link sequentialModel}. */
export function sequentialInput(): tf.Tensor {
  return tf.tensor4d(Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i + 1)), [2, 4, 4, 1]);
}

/** Fixed inputs for {@link functionalModel}. */
export function functionalInputs(): tf.Tensor[] {
  return [tf.tensor2d([[0.1, -0.4, 0.9], [1.5, 0.2, -0.3]]), tf.tensor2d([[0.7, -1.1], [0.05, 0.6]])];
}

/** The raw bytes of a float32 (or any numeric) tensor, as a Buffer to compare exactly. */
export function bytesOf(t: tf.Tensor): Buffer {
  const v = t.dataSync();
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The raw bytes of every weight of a model, by weight name. */
export function weightBytes(model: tfl.LayersModel): Map<string, Buffer> {
  return new Map(model.weights.map((w) => [w.originalName, bytesOf(w.read())]));
}

/** The bytes of a model's prediction on `x`, the prediction disposed. */
export function predictionBytes(model: tfl.LayersModel, x: tf.Tensor | tf.Tensor[]): Buffer {
  const y = model.predict(x) as tf.Tensor;
  const bytes = bytesOf(y);
  y.dispose();
  return bytes;
}

/** The artifacts `model.save` hands to an IO handler, caught in memory (no file written). */
export async function artifactsOf(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let caught: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler((artifacts) => {
    caught = artifacts;
    return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
  }));
  if (caught === undefined) throw new Error('model.save gave no artifacts');
  return caught;
}

/** The weight data of artifacts as one byte array. */
export function weightDataOf(artifacts: tf.io.ModelArtifacts): Uint8Array {
  const data = artifacts.weightData;
  if (data === undefined) throw new Error('no weight data');
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/** The byte offsets where each weight of `specs` starts and ends, for float32 specs. */
export function tensorBoundaries(specs: readonly tf.io.WeightsManifestEntry[]): number[] {
  const out = [0];
  let at = 0;
  for (const s of specs) {
    at += s.shape.reduce((a, b) => a * b, 1) * 4;
    out.push(at);
  }
  return out;
}

/** Writes `bytes` as shard files cut at `cuts` (byte offsets), named as the tfjs converter names them. */
export function writeShards(dir: string, group: number, bytes: Uint8Array, cuts: readonly number[]): string[] {
  const edges = [0, ...cuts, bytes.byteLength];
  const names: string[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const name = `group${String(group)}-shard${String(i + 1)}of${String(edges.length - 1)}.bin`;
    fs.writeFileSync(path.join(dir, name), bytes.subarray(edges[i], edges[i + 1]));
    names.push(name);
  }
  return names;
}

/** Asserts that `promise` rejects with an error of `type` whose message matches `message`; returns the error. */
export async function expectRejects(promise: Promise<unknown>, type: ErrorConstructor, message: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    const value = await promise;
    if (value instanceof tfl.LayersModel) value.dispose();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(type);
  expect((caught as Error).message).toMatch(message);
  return caught as Error;
}

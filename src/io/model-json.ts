/**
 * The `model.json` of tfjs' on-disk format: building it from a model's artifacts, checking one read from disk, and
 * the byte count its weight specs announce.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { rangeError, argumentError } from '../core/errors.js';

/** The weight dtypes a manifest may name, with their bytes per element (strings have none: each is length-prefixed). */
const DTYPE_BYTES: Readonly<Record<tf.io.WeightsManifestEntry['dtype'], number | undefined>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  string: undefined
};

/** Bytes per element of a quantized weight: its `quantization.dtype` replaces the weight's own on disk. */
const QUANTIZED_BYTES: Readonly<Record<NonNullable<tf.io.WeightsManifestEntry['quantization']>['dtype'], number>> = {
  uint8: 1,
  uint16: 2,
  float16: 2
};

/**
 * The `model.json` object for a model's artifacts and a weights manifest, with the keys tfjs writes: `modelTopology`,
 * `format`, `generatedBy`, `convertedBy` and `weightsManifest`, then `trainingConfig`, `signature`,
 * `userDefinedMetadata`, `modelInitializer` and `initializerSignature` when the artifacts have them. (tfjs-core's own
 * `getModelJSONForModelArtifacts` does this but is not exported by `tf.io` in 4.22.)
 */
export function modelJsonFor(artifacts: tf.io.ModelArtifacts, manifest: tf.io.WeightsManifestConfig): Record<string, unknown> {
  const json: Record<string, unknown> = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: manifest
  };
  const optional = ['trainingConfig', 'signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature'] as const;
  for (const key of optional) if (artifacts[key] != null) json[key] = artifacts[key];
  return json;
}

/** Whether `value` is a plain JSON object (not an array, not null). */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks one weight spec of a manifest read from `where`; a bad one is a RangeError naming it. */
function checkWeightSpec(where: string, spec: unknown): tf.io.WeightsManifestEntry {
  if (!isObject(spec)) rangeError(where, 'be an object with name, shape and dtype', spec);
  if (typeof spec.name !== 'string') rangeError(`${where}.name`, 'be a string', spec.name);
  const shape = spec.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    rangeError(`${where}.shape`, 'be an array of integers >= 0', shape);
  }
  if (typeof spec.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, spec.dtype)) {
    rangeError(`${where}.dtype`, `be one of ${Object.keys(DTYPE_BYTES).join(', ')}`, spec.dtype);
  }
  const quantization = spec.quantization;
  if (quantization !== undefined) {
    if (!isObject(quantization) || typeof quantization.dtype !== 'string' || !Object.hasOwn(QUANTIZED_BYTES, quantization.dtype)) {
      rangeError(`${where}.quantization.dtype`, `be one of ${Object.keys(QUANTIZED_BYTES).join(', ')}`, isObject(quantization) ? quantization.dtype : quantization);
    }
  }
  return spec as unknown as tf.io.WeightsManifestEntry;
}

/** Checks a `weightsManifest` read from `file`: an array of groups, each with its file paths and weight specs. */
function checkManifest(file: string, manifest: unknown): tf.io.WeightsManifestConfig {
  const where = `${file} weightsManifest`;
  if (!Array.isArray(manifest)) rangeError(where, 'be an array of weight groups', manifest);
  manifest.forEach((group: unknown, g) => {
    const at = `${where}[${String(g)}]`;
    if (!isObject(group)) rangeError(at, 'be an object with paths and weights', group);
    const paths = group.paths;
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.length > 0)) {
      rangeError(`${at}.paths`, 'be a non-empty array of file names', paths);
    }
    const weights = group.weights;
    if (!Array.isArray(weights)) rangeError(`${at}.weights`, 'be an array of weight specs', weights);
    weights.forEach((spec: unknown, w) => checkWeightSpec(`${at}.weights[${String(w)}]`, spec));
  });
  return manifest as tf.io.WeightsManifestConfig;
}

/**
 * Checks the parsed contents of a `model.json` read from `file`. As tfjs' own loaders do, it must hold
 * `modelTopology` or `weightsManifest` (a weights-only file has no topology); what it holds must have the right shape.
 */
export function checkModelJson(file: string, json: unknown): tf.io.ModelJSON {
  if (!isObject(json) || (json.modelTopology === undefined && json.weightsManifest === undefined)) {
    const got = isObject(json) ? `an object with keys ${JSON.stringify(Object.keys(json))}` : Array.isArray(json) ? 'an array' : typeof json;
    throw argumentError(RangeError, `${file} must hold a tfjs model: a JSON object with modelTopology and weightsManifest (got ${got})`);
  }
  if (json.modelTopology !== undefined && !isObject(json.modelTopology)) rangeError(`${file} modelTopology`, 'be an object', json.modelTopology);
  if (json.weightsManifest !== undefined) checkManifest(file, json.weightsManifest);
  // getModelArtifactsForJSON copies modelTopology as it is and reads weightsManifest only when there is one.
  return json as unknown as tf.io.ModelJSON;
}

/** The byte count a group's weight specs announce, and whether it is only a lower bound (a truncated string). */
export interface ExpectedBytes {
  /** The bytes the specs need. */
  readonly bytes: number;
  /** True when the data ended inside a string weight, so `bytes` is the least it would need. */
  readonly atLeast: boolean;
}

/**
 * The bytes a group's weight specs occupy, in order. Numeric weights take their element count times the size of their
 * dtype, or of `quantization.dtype` when quantized (uint8: 1, uint16 and float16: 2); a string weight stores each
 * element as a 4-byte little-endian length and its bytes, read from the group's data through `read`.
 */
export function expectedBytes(specs: readonly tf.io.WeightsManifestEntry[], byteLength: number, read: (start: number, end: number) => ArrayBuffer): ExpectedBytes {
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const perElement = spec.quantization === undefined ? DTYPE_BYTES[spec.dtype] : QUANTIZED_BYTES[spec.quantization.dtype];
    if (perElement !== undefined) {
      offset += size * perElement;
      continue;
    }
    for (let i = 0; i < size; i++) {
      if (offset + 4 > byteLength) return { bytes: offset + 4 * (size - i), atLeast: true };
      offset += 4 + new DataView(read(offset, offset + 4)).getUint32(0, true);
    }
  }
  return { bytes: offset, atLeast: false };
}

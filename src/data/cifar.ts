import * as tf from '@tensorflow/tfjs-core';
import { optionKeys } from '../core/validate.js';
import { integer, parseOptions, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { readBytes } from './read-bytes.js';
import type { ImageDataset } from './types.js';

/** Options of {@link parseCifar} and {@link readCifar}. */
export interface CifarOptions {
  /** Which binary format: CIFAR-10 (1 label byte per record) or CIFAR-100 (coarse then fine label byte). Required. */
  readonly variant: 10 | 100;
  /**
   * CIFAR-100 only: the 100 fine classes or the 20 coarse superclasses. Leave it out for CIFAR-10.
   * @defaultValue 'fine'
   */
  readonly labels?: 'fine' | 'coarse';
}

/** Options of {@link loadCifar}. */
export interface LoadCifarOptions extends CifarOptions {
  /** Keep only the first `limit` examples (files are read in order, and no further than needed). @defaultValue all */
  readonly limit?: number;
}

/** Decoded CIFAR records: images as bytes in channels-last order, and their labels. */
export interface CifarArrays {
  /** `[N, 32, 32, 3]`. */
  readonly shape: readonly [number, 32, 32, 3];
  /** Pixel bytes 0–255, `[N, 32, 32, 3]` row-major (NHWC: R, G, B of one pixel are adjacent). */
  readonly images: Uint8Array;
  /** The class index of each record: 0–9 (CIFAR-10), 0–99 (fine) or 0–19 (coarse). */
  readonly labels: Int32Array;
}

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

/**
 * Decodes the bytes of a CIFAR-10 or CIFAR-100 binary file (Krizhevsky 2009, "Learning Multiple Layers of
 * Features from Tiny Images"; the `*-binary.tar.gz` archives' `data_batch_1.bin` …, `test_batch.bin`,
 * `train.bin`, `test.bin`). A record is 1 label byte (CIFAR-10) or a coarse and a fine label byte (CIFAR-100),
 * then 3072 pixel bytes: the 32×32 red plane, then green, then blue, each row by row. The planes are
 * rearranged to channels last (`[N, 32, 32, 3]`), tfjs' layout.
 *
 * @param bytes - the file contents (one or more whole records).
 * @param options - see {@link CifarOptions}.
 * @param source - a name for error messages, e.g. the file path.
 * @returns the images in NHWC byte order and the labels.
 * @throws RangeError naming `source` when the length is not a positive multiple of the record size (3073 or 3074
 * bytes) or a label is out of range; RangeError/TypeError for bad options or when `bytes` is not a Uint8Array.
 * @example
 * const { shape, images, labels } = parseCifar(new Uint8Array(await (await fetch(url)).arrayBuffer()), { variant: 10 });
 */
export function parseCifar(bytes: Uint8Array, options: Readonly<CifarOptions>, source = 'CIFAR data'): CifarArrays {
  return named('parseCifar', () => {
    const format = checkCifarOptions(options, optionKeys<CifarOptions>()('variant', 'labels'));
    if (!(bytes instanceof Uint8Array)) typeError('bytes', 'be a Uint8Array', bytes);
    return decodeCifar(bytes, format, source);
  });
}

/**
 * Reads one or more CIFAR-10/100 binary files in Node (raw, or gzipped and detected by the gzip magic) and
 * concatenates their records in the order of `paths`. See {@link parseCifar} for the format.
 *
 * @param paths - a file path or a list of them, e.g. the five `data_batch_i.bin` of the CIFAR-10 training set.
 * @param options - see {@link CifarOptions}.
 * @returns the images in NHWC byte order and the labels of all files.
 * @throws Error naming the file when it cannot be read or gunzipped; RangeError naming the file when its size is
 * not a multiple of the record size or a label is out of range; RangeError/TypeError for bad paths or options.
 * @example
 * const test = await readCifar('cifar-10-batches-bin/test_batch.bin', { variant: 10 });
 */
export async function readCifar(paths: string | readonly string[], options: Readonly<CifarOptions>): Promise<CifarArrays> {
  return named('readCifar', async () => {
    const format = checkCifarOptions(options, optionKeys<CifarOptions>()('variant', 'labels'));
    return readCifarFiles(checkPaths(paths), format, Infinity);
  });
}

/**
 * Loads CIFAR-10/100 binary files in Node as tensors: `x` `[N, 32, 32, 3]` float32 in [0, 1] (pixel / 255),
 * `y` `[N]` int32. See {@link parseCifar} for the format.
 *
 * @param paths - a file path or a list of them, read in order.
 * @param options - see {@link LoadCifarOptions}.
 * @returns `{ x, y }`; the caller disposes both.
 * @throws Error naming the file when it cannot be read; RangeError naming the file when it is not whole CIFAR
 * records or a label is out of range; RangeError/TypeError for bad paths or options. Nothing is allocated on the
 * tfjs backend before every file has been checked.
 * @example
 * const dir = 'cifar-100-binary';
 * const { x, y } = await loadCifar(`${dir}/test.bin`, { variant: 100, labels: 'coarse', limit: 1000 });
 */
export async function loadCifar(paths: string | readonly string[], options: Readonly<LoadCifarOptions>): Promise<ImageDataset> {
  return named('loadCifar', async () => {
    const format = checkCifarOptions(options, optionKeys<LoadCifarOptions>()('variant', 'labels', 'limit'));
    const { limit } = resolveFields(options, LOAD_CIFAR_FIELDS);
    const { images, labels } = await readCifarFiles(checkPaths(paths), format, limit);
    const pixels = new Float32Array(images.length);
    for (let i = 0; i < images.length; i++) pixels[i] = (images[i] ?? 0) / 255;
    return { x: tf.tensor4d(pixels, [labels.length, SIDE, SIDE, 3]), y: tf.tensor1d(labels, 'int32') };
  });
}

interface CifarFormat {
  readonly variant: 10 | 100;
  readonly coarse: boolean;
}

/** CIFAR's `variant`, required: 10 or 100 (left out, it is `undefined`, not 10 or 100). */
const VARIANT_FIELD: OptionField<10 | 100> = {
  parse: (arg, value) => {
    if (value !== 10 && value !== 100) rangeError(arg, 'be 10 or 100', value);
    return value;
  }
};

/** How the variant of {@link CifarOptions} is checked; `labels` is checked by hand, after it (see {@link checkCifarOptions}). */
const CIFAR_FIELDS: OptionFields<Pick<CifarOptions, 'variant'>> = { variant: VARIANT_FIELD };

/** How {@link LoadCifarOptions}' own option is checked and defaulted (`limit` left out: every example). */
const LOAD_CIFAR_FIELDS: OptionFields<Pick<LoadCifarOptions, 'limit'>> = { limit: /* @__PURE__ */ integer(1, Infinity) };

/**
 * Resolves the {@link CifarOptions} of a call whose options have the keys `known`: the keys and the variant through
 * their field; `labels` by hand after it, since its rule depends on the variant (left out for CIFAR-10).
 */
function checkCifarOptions<O extends CifarOptions>(options: Readonly<O>, known: readonly (keyof O & string)[]): CifarFormat {
  if (typeof options !== 'object' || options === null) typeError('options', 'be an object with a variant (10 or 100)', options);
  const { variant } = parseOptions(options, CIFAR_FIELDS, known);
  const labels = options.labels;
  if (variant === 10 && labels !== undefined) {
    rangeError('labels', "be left out for variant 10 (CIFAR-10 has one label per record; 'fine' and 'coarse' are CIFAR-100's)", labels);
  }
  if (labels !== undefined && labels !== 'fine' && labels !== 'coarse') rangeError('labels', 'be "fine" or "coarse"', labels);
  return { variant, coarse: labels === 'coarse' };
}

function checkPaths(paths: unknown): readonly string[] {
  const list: unknown[] = typeof paths === 'string' ? [paths] : Array.isArray(paths) ? paths : [];
  if (list.length === 0 || list.some((p) => typeof p !== 'string' || p.length === 0)) {
    typeError('paths', 'be a file path or a non-empty array of file paths', paths);
  }
  return list as string[];
}

async function readCifarFiles(paths: readonly string[], format: CifarFormat, limit: number): Promise<CifarArrays> {
  const parts: CifarArrays[] = [];
  let count = 0;
  for (const path of paths) {
    if (count >= limit) break;
    const part = decodeCifar(await readBytes(path), format, path);
    parts.push(part);
    count += part.labels.length;
  }
  const n = Math.min(count, limit);
  if (parts.length === 1 && n === count) return parts[0] as CifarArrays;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let offset = 0;
  for (const part of parts) {
    const take = Math.min(part.labels.length, n - offset);
    images.set(part.images.subarray(0, take * PIXELS), offset * PIXELS);
    labels.set(part.labels.subarray(0, take), offset);
    offset += take;
  }
  return { shape: [n, SIDE, SIDE, 3], images, labels };
}

/** Checks the size and every label of the records, then rearranges the colour planes to channels last. */
function decodeCifar(bytes: Uint8Array, format: CifarFormat, source: string): CifarArrays {
  const labelBytes = format.variant === 10 ? 1 : 2;
  const recordSize = labelBytes + PIXELS;
  const name = `CIFAR-${String(format.variant)}`;
  const n = Math.floor(bytes.length / recordSize);
  const rest = bytes.length - n * recordSize;
  if (n === 0 || rest !== 0) {
    const layout = format.variant === 10 ? '1 label byte + 3072 pixel bytes' : '2 label bytes + 3072 pixel bytes';
    const got =
      n === 0 && rest === 0
        ? '0 bytes'
        : `${String(bytes.length)} bytes: ${String(n)} records and ${String(rest)} bytes over (truncated, or not ${name})`;
    rangeError(source, `hold whole ${name} records of ${String(recordSize)} bytes (${layout})`, got);
  }
  const ranges = format.variant === 10 ? [{ kind: 'labels', size: 10 }] : [{ kind: 'coarse labels', size: 20 }, { kind: 'fine labels', size: 100 }];
  const labels = new Int32Array(n);
  const images = new Uint8Array(n * PIXELS);
  for (let r = 0; r < n; r++) {
    const start = r * recordSize;
    ranges.forEach(({ kind, size }, k) => {
      const label = bytes[start + k] ?? 0;
      if (label >= size) {
        rangeError(source, `hold ${name} ${kind} in 0…${String(size - 1)}`, `${String(label)} in record ${String(r)} at byte ${String(start + k)}`);
      }
    });
    labels[r] = bytes[start + (format.variant === 100 && !format.coarse ? 1 : 0)] ?? 0;
    const planes = bytes.subarray(start + labelBytes, start + recordSize);
    const out = r * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      images[out + 3 * p] = planes[p] ?? 0;
      images[out + 3 * p + 1] = planes[PLANE + p] ?? 0;
      images[out + 3 * p + 2] = planes[2 * PLANE + p] ?? 0;
    }
  }
  return { shape: [n, SIDE, SIDE, 3], images, labels };
}

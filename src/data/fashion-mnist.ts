import { checkOneOf } from '../core/validate.js';
import { custom, flag, parseOptions, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { typeError, named } from '../core/errors.js';

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (gzipped IDX files). */
export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

/** Options of {@link fashionMnistFiles}. */
export interface FashionMnistFilesOptions {
  /** The folder holding the four files under their original names. @defaultValue {@link FASHION_MNIST_DEBIAN_DIR} */
  readonly dir?: string;
  /** Whether the file names end in `.gz` (as Debian and the original download have them). @defaultValue true */
  readonly gzipped?: boolean;
}

/** The paths of one Fashion-MNIST split, for {@link loadIdxDataset}. */
export interface IdxFiles {
  /** The IDX image file `[N, 28, 28]`. */
  readonly images: string;
  /** The IDX label file `[N]`. */
  readonly labels: string;
}

/** A non-empty string (a folder). */
function checkDir(arg: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) typeError(arg, 'be a non-empty string', value);
  return value;
}

/** How each of {@link FashionMnistFilesOptions} is checked and defaulted (`null` counts as left out). */
const FASHION_MNIST_FILES_FIELDS: OptionFields<FashionMnistFilesOptions> = {
  dir: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkDir, FASHION_MNIST_DEBIAN_DIR)),
  gzipped: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ flag(true))
};

/**
 * The paths of a Fashion-MNIST split (Xiao et al. 2017, arXiv 1708.07747) under the original file names
 * (`train-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`, …), by default where Debian's
 * `dataset-fashion-mnist` installs them. Only builds the paths: it does not check that the files exist.
 *
 * @param split - `'train'` (60 000 images) or `'test'` (10 000 images).
 * @param options - see {@link FashionMnistFilesOptions}.
 * @returns the image and label file paths.
 * @throws RangeError when `split` is not `'train'` or `'test'` or an option is unknown; TypeError when `dir` is not a
 * non-empty string or `gzipped` not a boolean.
 * @example
 * const { images, labels } = fashionMnistFiles('test');
 * const { x, y } = await loadIdxDataset(images, labels); // x [10000, 28, 28, 1], y [10000]
 */
export function fashionMnistFiles(split: 'train' | 'test', options: Readonly<FashionMnistFilesOptions> = {}): IdxFiles {
  return named('fashionMnistFiles', () => {
    checkOneOf('split', split, ['train', 'test'] as const);
    const { dir, gzipped } = parseOptions(options, FASHION_MNIST_FILES_FIELDS);
    const gz = gzipped ? '.gz' : '';
    const prefix = `${dir.replace(/\/+$/, '')}/${split === 'train' ? 'train' : 't10k'}`;
    return { images: `${prefix}-images-idx3-ubyte${gz}`, labels: `${prefix}-labels-idx1-ubyte${gz}` };
  });
}

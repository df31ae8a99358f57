/**
 * Data: IDX (MNIST, Fashion-MNIST) and CIFAR-10/100 binary loaders, batching, and seeded augmentation.
 * The file readers run in Node; parsing, batching and augmentation run anywhere tfjs does.
 * @packageDocumentation
 */
export { type ImageDataset } from './types.js';
export { type IdxArray, type IdxData, type LoadIdxOptions, parseIdx, readIdx, loadIdxDataset } from './idx.js';
export { FASHION_MNIST_DEBIAN_DIR, type FashionMnistFilesOptions, type IdxFiles, fashionMnistFiles } from './fashion-mnist.js';
export { type CifarArrays, type CifarOptions, type LoadCifarOptions, parseCifar, readCifar, loadCifar } from './cifar.js';
export { type Batch, type BatchOptions, type Batches, batches } from './batches.js';
export { type RandomCropOptions, randomCrop } from './random-crop.js';
export { type RandomFlipOptions, randomFlip } from './random-flip.js';
export { type AugmentContext, type Augmentation, type CifarAugmentOptions, cifarAugment } from './augment.js';

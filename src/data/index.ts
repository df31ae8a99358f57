/**
 * Data loaders: IDX (MNIST, Fashion-MNIST).
 * @packageDocumentation
 */
export { type IdxArray, type IdxData, type ImageDataset, type LoadIdxOptions, parseIdx, readIdx, loadIdxDataset } from './idx.js';

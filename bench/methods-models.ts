/**
 * The method benchmark's data and networks: the data sets it reads, the two model families (MLPs, CNNs), and DARHT's
 * candidate teachers.
 */
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fashionMnistFiles, loadCifar, loadIdxDataset, type ImageDataset } from 'ardkit/data';
import type { Model } from 'ardkit/core';
import { mnistDir } from '../examples/mnist.js';

/** The benchmark's two model families. */
export type Family = 'mlp' | 'cnn';

/** Where the data come from, as the command line gives it (see `loadData`). */
export interface DataOptions {
  readonly dataset: string;
  readonly trainImages: string;
  readonly trainLabels: string;
  readonly testImages: string;
  readonly testLabels: string;
  readonly cifarTrain: string;
  readonly cifarTest: string;
  /** `--eps` as given: `''` for the data's default. */
  readonly eps: string;
}

/** Test images a family's models are evaluated on (the first ones of the test file). */
export const testSizeOf = (sizes: { readonly testSize: number; readonly cnnTestSize: number }, family: Family): number => (family === 'cnn' ? sizes.cnnTestSize : sizes.testSize);

/** A run's data: training images, the test images of every family (cut per family later), and the radius. */
export interface Data {
  readonly name: string;
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  readonly shape: readonly number[];
  readonly eps: number;
}

/**
 * Loads the data the options name: CIFAR-10 binary batches, four IDX files, Fashion-MNIST (Debian's) or MNIST
 * (bundled); `trainSize` training images and the first `testSize` test images.
 */
export async function loadData(opts: DataOptions, trainSize: number, testSize: number): Promise<Data> {
  const custom = opts.trainImages !== '';
  const cifar = opts.cifarTrain !== '';
  const epsDefault = cifar ? 8 / 255 : 0.1;
  const eps = opts.eps === '' ? epsDefault : Number(opts.eps);
  if (!(eps > 0 && eps < 1)) throw new RangeError(`--eps must be in (0, 1) (got ${opts.eps})`);
  if (cifar) {
    const train = await loadCifar(opts.cifarTrain.split(','), { variant: 10, limit: trainSize });
    const test = await loadCifar(opts.cifarTest, { variant: 10, limit: testSize });
    return { name: 'CIFAR-10', train, test, shape: [32, 32, 3], eps };
  }
  let files: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
  let name: string;
  if (custom) {
    files = { trainImages: opts.trainImages, trainLabels: opts.trainLabels, testImages: opts.testImages, testLabels: opts.testLabels };
    name = path.basename(opts.trainImages);
  } else if (opts.dataset === 'fashion-mnist') {
    const tr = fashionMnistFiles('train');
    const te = fashionMnistFiles('test');
    files = { trainImages: tr.images, trainLabels: tr.labels, testImages: te.images, testLabels: te.labels };
    name = 'Fashion-MNIST';
  } else if (opts.dataset === 'mnist') {
    const d = mnistDir();
    files = {
      trainImages: path.join(d, 'train-images-idx3-ubyte'),
      trainLabels: path.join(d, 'train-labels-idx1-ubyte'),
      testImages: path.join(d, 't10k-images-idx3-ubyte'),
      testLabels: path.join(d, 't10k-labels-idx1-ubyte')
    };
    name = 'MNIST';
  } else {
    throw new RangeError(`--dataset must be mnist or fashion-mnist, or give the four IDX files (got ${JSON.stringify(opts.dataset)})`);
  }
  const train = await loadIdxDataset(files.trainImages, files.trainLabels, { limit: trainSize });
  // Test images are the file's last ones, never seen by any choice made here.
  const test = await loadIdxDataset(files.testImages, files.testLabels, { limit: testSize });
  return { name, train, test, shape: train.x.shape.slice(1), eps };
}

let uid = 0;
/** A name no other network of this process has: `<name>_<n>`. */
export const uniqueName = (name: string): string => `${name}_${String(uid++)}`;
const he = (seed: number): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed });

/** A dense network with ReLU layers; the last hidden layer is the features. */
function mlpNet(shape: readonly number[], hidden: readonly number[], seed: number, name: string): tfl.LayersModel {
  const id = uniqueName(name);
  const layers: tfl.layers.Layer[] = [tfl.layers.flatten({ inputShape: [...shape] })];
  hidden.forEach((units, i) => {
    layers.push(tfl.layers.dense({ units, activation: 'relu', kernelInitializer: he(seed * 100 + i), name: i === hidden.length - 1 ? `${id}_features` : `${id}_h${String(i)}` }));
  });
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: he(seed * 100 + 99), name: `${id}_logits` }));
  return tfl.sequential({ layers, name: id });
}

/** A CNN: conv blocks (3×3, ReLU, 2×2 max-pool), a dense feature layer (or none), logits. */
function cnnNet(shape: readonly number[], filters: readonly number[], dense: number, seed: number, name: string): tfl.LayersModel {
  const id = uniqueName(name);
  const layers: tfl.layers.Layer[] = [];
  filters.forEach((f, i) => {
    layers.push(
      tfl.layers.conv2d({
        ...(i === 0 ? { inputShape: [...shape] } : {}),
        filters: f,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: he(seed * 100 + i),
        name: `${id}_conv${String(i)}`
      })
    );
    layers.push(tfl.layers.maxPooling2d({ poolSize: 2 }));
  });
  layers.push(tfl.layers.flatten({ name: dense === 0 ? `${id}_features` : `${id}_flat` }));
  if (dense > 0) layers.push(tfl.layers.dense({ units: dense, activation: 'relu', kernelInitializer: he(seed * 100 + 50), name: `${id}_features` }));
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: he(seed * 100 + 99), name: `${id}_logits` }));
  return tfl.sequential({ layers, name: id });
}

/** A family's networks. */
export interface FamilySpec {
  readonly teacher: (seed: number) => tfl.LayersModel;
  readonly student: (seed: number) => tfl.LayersModel;
  /** The student's backbone without its last layer, for DARHT's head. */
  readonly backbone: (seed: number) => { input: tfl.SymbolicTensor; features: tfl.SymbolicTensor };
  readonly description: string;
}

/** The networks of `family` for inputs of `shape`. */
export function familySpec(family: Family, shape: readonly number[]): FamilySpec {
  if (family === 'mlp') {
    return {
      description: 'MLPs: teacher 784-256-256-10, student 784-64-10',
      teacher: (s) => mlpNet(shape, [256, 256], s, 'teacher'),
      student: (s) => mlpNet(shape, [64], s, 'student'),
      backbone: (s) => {
        const input = tfl.input({ shape: [...shape] });
        const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
        return { input, features: tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: he(s * 100) }).apply(flat) as tfl.SymbolicTensor };
      }
    };
  }
  return {
    description: 'CNNs: teacher conv16-conv32-dense128, student conv8-conv16 (under 1/8 of its parameters)',
    teacher: (s) => cnnNet(shape, [16, 32], 128, s, 'teacher'),
    student: (s) => cnnNet(shape, [8, 16], 0, s, 'student'),
    backbone: (s) => {
      const input = tfl.input({ shape: [...shape] });
      let h = input;
      [8, 16].forEach((f, i) => {
        h = tfl.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: he(s * 100 + i) }).apply(h) as tfl.SymbolicTensor;
        h = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tfl.SymbolicTensor;
      });
      return { input, features: tfl.layers.flatten().apply(h) as tfl.SymbolicTensor };
    }
  };
}

/** DARHT's candidate teachers besides each family's main one: other architectures, shared by the families. */
export function sharedCandidates(shape: readonly number[]): ReadonlyArray<readonly [string, () => tfl.LayersModel]> {
  return [
    ['wide MLP 512', () => mlpNet(shape, [512], 4000, 'wide')],
    ['deep MLP 128×3', () => mlpNet(shape, [128, 128, 128], 4001, 'deep')],
    ['CNN 8-16', () => cnnNet(shape, [8, 16], 0, 4002, 'cnnc')]
  ];
}

/** The teachers' (and DARHT candidates') epochs: 10 for dense networks, 6 for convolutional ones. */
export const teacherEpochsOf = (net: tfl.LayersModel): number => (net.layers.some((l) => l.getClassName() === 'Conv2D') ? 6 : 10);
/** Relative cost of a family's models (CNNs cost more per image). */
export const scale = (family: Family): number => (family === 'cnn' ? 2 : 1);
export const countParams = (net: tfl.LayersModel): number => net.countParams();
/** `net` in inference mode, as a model. */
export const asModel = (net: tfl.LayersModel): Model => (x) => net.apply(x, { training: false }) as tf.Tensor2D;

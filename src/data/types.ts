import type * as tf from '@tensorflow/tfjs-core';

/**
 * An image classification set as tensors, as the loaders return it: `x` `[N, H, W, C]` float32 in [0, 1]
 * (C = 1 for MNIST and Fashion-MNIST, 3 for CIFAR), `y` `[N]` int32 class indices. The caller disposes both.
 */
export interface ImageDataset {
  /** Images `[N, H, W, C]` (channels last), float32 in [0, 1]. */
  readonly x: tf.Tensor4D;
  /** Labels `[N]`, int32. */
  readonly y: tf.Tensor1D;
}

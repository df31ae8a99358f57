/**
 * The scripted evaluation problem several test files share: six examples whose logits are input features, so every
 * prediction (and what an attack changes) is known by construction. Example 5 is misclassified.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../src/core/model.js';

/** The class scores of the six examples (rows), used as logits. */
export const SCRIPTED_SCORES: readonly (readonly number[])[] = [
  [0.9, 0.1, 0.0],
  [0.1, 0.9, 0.0],
  [0.0, 0.1, 0.9],
  [0.9, 0.0, 0.1],
  [0.1, 0.8, 0.1],
  [0.9, 0.05, 0.05]
];

/** Their labels: example 5 (label 2, top score class 0) is misclassified. */
export const SCRIPTED_LABELS: readonly number[] = [0, 1, 2, 0, 1, 2];

/** A model whose logits are the 3 input features starting at `offset`. */
export function readsFeatures(offset: number): Model {
  return (x) => tf.slice(x, [0, offset], [x.shape[0] ?? 0, 3]) as tf.Tensor2D;
}

/**
 * Saving and loading tfjs models on the local file system in Node, without `@tensorflow/tfjs-node`, in tfjs' own
 * on-disk format (`model.json` and its weight files, sharded or not), and `fit`'s checkpoint store (also exported
 * from `ardkit/train`). Node only: the file system is reached through
 * `node:fs`, imported when a model is saved or loaded, so this entry point is not re-exported from `ardkit`.
 * Nothing here runs on import: registering `file://` URLs is an explicit call ({@link registerFileSystem}).
 * @packageDocumentation
 */
export { fileSystem } from './file-system.js';
export { registerFileSystem } from './register-file-system.js';
export {
  type Checkpoint,
  type CheckpointRecovery,
  type LoadCheckpointOptions,
  type NamedTensor,
  type SaveHooks,
  type SkippedCheckpoint,
  loadLatestCheckpoint,
  saveCheckpoint
} from './checkpoint-store.js';
export { type LoadOnnxOptions, type OnnxModel, type OnnxOpsets, ONNX_OPSETS, loadOnnx } from './onnx/load.js';
export { onnxToLayers } from './onnx/to-layers.js';

import { installFileUrlHint } from './file-url-hint.js';

// What importing ardkit does: a `file://` URL that no tfjs handler takes then fails saying to call registerFileSystem().
installFileUrlHint();

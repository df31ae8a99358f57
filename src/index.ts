/**
 * ardkit: adversarial attacks and robust-distillation losses for TensorFlow.js.
 *
 * Every function is also available from its folder's entry point (`ardkit/attacks`, `ardkit/losses`, …),
 * and the package is free of side effects but one, so bundlers keep only what you import: importing it registers a
 * tfjs router that answers a `file://` URL no handler takes with an error saying to call `registerFileSystem()`. `ardkit/models` is not
 * re-exported here: it imports `@tensorflow/tfjs-layers`, an optional peer dependency. Nor is `ardkit/io`: it saves
 * and loads models through `node:fs`, so it is Node only, and the root stays safe for browsers.
 * @packageDocumentation
 */
export * from './core/index.js';
export * from './attacks/index.js';
export * from './losses/index.js';
export * from './eval/index.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './backends/index.js';

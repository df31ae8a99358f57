/**
 * Small model builders for the examples, the tests and the benchmark. This entry point imports
 * `@tensorflow/tfjs-layers` (an optional peer dependency); no other ardkit entry point does.
 * @packageDocumentation
 */
export { type SmallCnnOptions, smallCnn } from './small-cnn.js';

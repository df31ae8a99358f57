/**
 * Model builders: small models for the examples, the tests and the benchmark (`smallCnn`), DARHT's student–teacher
 * head and `studentFromLayers`. This entry point imports `@tensorflow/tfjs-layers` (an optional peer dependency);
 * no other ardkit entry point does.
 * @packageDocumentation
 */
export { type SmallCnnOptions, smallCnn } from './small-cnn.js';
export { type StudentTeacherHead, type StudentTeacherHeadOptions, type StudentTeacherOutputs, studentTeacherHead } from './student-teacher-head.js';
export { type StudentFromLayersOptions, studentFromLayers } from './student-from-layers.js';

/**
 * Model builders: small models for examples and tests, and DARHT's student–teacher head. This entry point imports
 * `@tensorflow/tfjs-layers` (an optional peer dependency of ardkit).
 * @packageDocumentation
 */
export { type StudentTeacherHead, type StudentTeacherHeadOptions, type StudentTeacherOutputs, studentTeacherHead } from './student-teacher-head.js';
export { type StudentFromLayersOptions, studentFromLayers } from './student-from-layers.js';

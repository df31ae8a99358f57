/**
 * Loss terms as pure functions over logits, probabilities and representations, each with per-example values
 * (`reduction: 'none'`) and its formula and paper in its documentation: the base losses (cross-entropy, KL, the CW
 * margin, APGD's DLR) and every robust-distillation term.
 * @packageDocumentation
 */
export { type CrossEntropyOptions, crossEntropy } from './cross-entropy.js';
export { type KlDivergenceOptions, klDivergence } from './kl-divergence.js';
export { type CwMarginOptions, cwMarginLoss } from './cw-margin.js';
export { type DlrOptions, dlrLoss, targetedDlrLoss } from './dlr.js';
export { type KdOptions, kdLoss } from './kd.js';
export { type TradesInputs, type TradesOptions, tradesLoss } from './trades.js';
export { type MartInputs, type MartOptions, martLoss } from './mart.js';
export { type ArdInputs, type ArdOptions, ardLoss } from './ard.js';
export { type RsladInputs, type RsladOptions, rsladLoss } from './rslad.js';
export { type IadInputs, type IadOptions, iadLoss } from './iad.js';
export { type AdaadInputs, type AdaadOptions, adaadLoss } from './adaad.js';
export { type MtardInputs, type MtardLossOptions, type MtardState, type MtardWeightsOptions, mtardLoss, mtardWeights } from './mtard.js';
export { type RepresentationMetric, type RepresentationDistanceOptions, representationDistance } from './representation.js';
export { type ContrastiveOptions, contrastiveRelationLoss } from './contrastive.js';
export {
  type CompensatedTargetsOptions,
  type CompensationOptions,
  type Compensation,
  compensatedTargets,
  createCompensation
} from './compensation.js';
export { type TeacherFeatureMapOptions, teacherFeatureMapLoss } from './teacher-feature-map.js';

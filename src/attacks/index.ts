/**
 * Adversarial attacks: FGSM, PGD (L∞/L2, any loss, targeted), CW L∞ (PGD on the CW margin) and CW L2 (Carlini &
 * Wagner's minimal-perturbation attack), the TRADES-KL attack, APGD
 * (CE, DLR, targeted), FAB and FAB-T (minimum-norm), MI-FGSM, DeepFool (minimal perturbation, L2/L∞), target
 * selection for targeted attacks, the black-box Square attack (L∞, L2), the members of AutoAttack (`autoAttackSuite`; `autoAttack` and
 * `worstCase` are in `ardkit/eval`), the sequential combinator `multiAttack`, EoT for
 * stochastic models, and the step and projection primitives they share.
 * @packageDocumentation
 */
export { type Norm, NORMS } from './norms.js';
export { type RandomStart, RANDOM_STARTS, type PerturbationOptions } from './options.js';
export { type AttackLoss, type LossFn, type Attack, type AttackFunction, type AttackCall, type AttackOutput, type ThreatModel } from './types.js';
// eslint-disable-next-line @typescript-eslint/no-deprecated -- the former names stay exported until their removal
export { type AttackValue, isAttack, isAttackValue } from './attack.js';
export { type MultiAttack, type MultiAttackProgress, type MultiAttackResult, type MultiAttackRunOptions, multiAttack } from './multi-attack.js';
export { signStep, l2Step } from './steps.js';
export { projectLinf, projectL2 } from './projections.js';
export { type InputObjective, projectedGradientAscent } from './projected-gradient-ascent.js';
export { type TargetSelection } from './targets.js';
export { type FgsmOptions, fgsm, fgsmAttack } from './fgsm.js';
export { type MiFgsmOptions, miFgsm, miFgsmAttack } from './mi-fgsm.js';
export { type PgdOptions, pgd, pgdAttack } from './pgd.js';
export { type CwLinfOptions, cwLinf, cwLinfAttack } from './cw.js';
// eslint-disable-next-line @typescript-eslint/no-deprecated -- the deprecated names stay exported until their removal
export { type CwOptions, cw, cwAttack } from './cw.js';
export { type CwL2Options, cwL2, cwL2Attack } from './cw-l2.js';
// eslint-disable-next-line @typescript-eslint/no-deprecated -- tradesAttack's former signature (no labels) stays until its removal
export { type TradesAttackOptions, tradesAttack, tradesKlAttack } from './trades-attack.js';
export { type ApgdLoss, APGD_LOSSES, type ApgdBaseOptions, type ApgdOptions, type ApgdTargetedOptions, apgd, apgdTargeted, apgdAttack, apgdTargetedAttack } from './apgd.js';
// eslint-disable-next-line @typescript-eslint/no-deprecated -- SquareResult stays exported until its removal
export { type SquareOptions, type SquareResult, square, squareAttack } from './square.js';
export { type DeepFoolOptions, deepFool, deepFoolAttack } from './deep-fool.js';
export { type FabBaseOptions, type FabOptions, type FabTargetedOptions, fab, fabTargeted, fabAttack, fabTargetedAttack } from './fab.js';
export {
  type AutoAttackVersion,
  AUTO_ATTACK_VERSIONS,
  type AutoAttackSuiteOptions,
  autoAttackSuite
} from './auto-attack.js';
export { eot } from './eot.js';

/**
 * Loss terms as pure functions over logits, with per-example values and explicit reductions: cross-entropy,
 * KL divergence, the CW margin and the (targeted) DLR loss of APGD.
 * @packageDocumentation
 */
export { type CrossEntropyOptions, crossEntropy } from './cross-entropy.js';
export { type KlDivergenceOptions, klDivergence } from './kl-divergence.js';
export { type CwMarginOptions, cwMarginLoss } from './cw-margin.js';
export { type DlrOptions, dlrLoss, targetedDlrLoss } from './dlr.js';

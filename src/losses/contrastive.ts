import * as tf from '@tensorflow/tfjs-core';
import { checkTensor } from '../core/validate.js';
import { formatValue, rangeError, typeError, named, argumentError } from '../core/errors.js';
import { parseOptions, positive, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';

/** Options of {@link contrastiveRelationLoss}. */
export interface ContrastiveOptions {
  /**
   * Temperature τ_c of the cosine similarities. The CRDND paper's value could not be read; 0.1 is an
   * assumption (common for InfoNCE on normalised embeddings).
   * @defaultValue 0.1
   */
  readonly temperature?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/** Per-example InfoNCE over the batch, unchecked. */
export function infoNcePerExample(student: tf.Tensor2D, teacher: tf.Tensor2D, temperature: number): tf.Tensor1D {
  return tf.tidy(() => {
    const normalise = (t: tf.Tensor2D): tf.Tensor2D => tf.div(t, tf.sqrt(tf.add(tf.sum(tf.square(t), 1, true), 1e-12)));
    const similarities = tf.div(tf.matMul(normalise(student), normalise(teacher), false, true), temperature);
    // −log softmax over j of sim(s_i, t_j)/τ, taken at j = i.
    const logProbs = tf.logSoftmax(similarities);
    const batch = student.shape[0];
    return tf.neg(tf.sum(tf.mul(logProbs, tf.eye(batch)), 1)) as tf.Tensor1D;
  });
}

/**
 * The contrastive relationship term of CRDND (Wang et al., ICASSP 2023, arXiv 2302.08764), an InfoNCE across the
 * batch: `−(1/B)·Σ_i log( exp(cos(s_i, t_i)/τ_c) / Σ_j exp(cos(s_i, t_j)/τ_c) )`, `s_i` the student embedding of
 * `x'_i`, `t_j` the teacher embedding of `x_j`. Each student embedding is pulled to its own teacher embedding and
 * pushed from the others'. The paper's full text was not readable: this form is ardkit's documented assumption.
 *
 * @param studentEmbeddings - `[B, D]` student embeddings (logits by default in CRDND).
 * @param teacherEmbeddings - `[B, D]` teacher embeddings, same shape (project first when sizes differ).
 * @param options - see {@link ContrastiveOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for shapes that differ or are not `[B, D]`, τ ≤ 0 or NaN; TypeError for non-float tensors.
 * @example
 * const nce = contrastiveRelationLoss(student(xAdv), teacher(x), { temperature: 0.1 });
 */
export function contrastiveRelationLoss<O extends Readonly<ContrastiveOptions> = DefaultReduction>(
  studentEmbeddings: tf.Tensor2D,
  teacherEmbeddings: tf.Tensor2D,
  options: O = {} as O): Reduced<O> {
  return named('contrastiveRelationLoss', () => {
    const config = parseOptions(options, CONTRASTIVE_FIELDS);
    const s = checkTensor('studentEmbeddings', studentEmbeddings, { exact: 2 });
    const t = checkTensor('teacherEmbeddings', teacherEmbeddings, { exact: 2 });
    if (s.dtype !== 'float32') typeError('studentEmbeddings', 'be a float32 tensor', s);
    if (t.dtype !== 'float32') typeError('teacherEmbeddings', 'be a float32 tensor', t);
    if (s.shape[0] !== t.shape[0] || s.shape[1] !== t.shape[1]) {
      throw argumentError(RangeError, `studentEmbeddings and teacherEmbeddings must have the same shape [B, D] (got ${formatValue(s.shape)} and ${formatValue(t.shape)})`
      );
    }
    if (s.shape[0] === 0) rangeError('studentEmbeddings', 'hold at least one example', s);
    return contrastiveRelationLossCore(s as tf.Tensor2D, t as tf.Tensor2D, config) as Reduced<O>;
  });
}

/** {@link ContrastiveOptions} resolved: every default filled in, every value checked. */
export type ContrastiveConfig = Resolved<ContrastiveOptions>;

/** How each of {@link ContrastiveOptions} is checked and defaulted; `crdnd` takes τ_c from here. Internal. */
export const CONTRASTIVE_FIELDS: OptionFields<ContrastiveOptions> = {
  temperature: /* @__PURE__ */ positive(0.1),
  reduction: REDUCTION_FIELD
};

/** {@link contrastiveRelationLoss} on float embeddings of one shape `[B, D]` and a resolved config, unchecked. Internal. */
export function contrastiveRelationLossCore(studentEmbeddings: tf.Tensor2D, teacherEmbeddings: tf.Tensor2D, config: ContrastiveConfig): tf.Tensor {
  return tf.tidy(() => applyReduction(infoNcePerExample(studentEmbeddings, teacherEmbeddings, config.temperature), config.reduction));
}

/** Float64 reference implementations of METHODS.md formulas, in plain JS numbers, independent of tfjs. */
import { logSoftmax64, softmax64 } from '../helpers.js';

export const scaleRow = (z: number[], tau: number): number[] => z.map((v) => v / tau);
export const ce64 = (z: number[], y: number): number => -(logSoftmax64(z)[y] ?? NaN);
/** KL(σ(p/τp) ‖ σ(q/τq)). */
export const kl64 = (p: number[], q: number[], tp = 1, tq = 1): number => {
  const lp = logSoftmax64(scaleRow(p, tp));
  const lq = logSoftmax64(scaleRow(q, tq));
  return lp.reduce((s, l, c) => s + Math.exp(l) * (l - (lq[c] ?? 0)), 0);
};
/** KL(q ‖ σ(z)) for given probabilities q. */
export const klProbs64 = (q: number[], z: number[]): number => {
  const lz = logSoftmax64(z);
  return q.reduce((s, qc, c) => s + (qc > 0 ? qc * (Math.log(qc) - (lz[c] ?? 0)) : 0), 0);
};
/** log Σ exp over the given entries. */
export const lse64 = (v: number[]): number => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
};
/** −log(1 − max_{k≠y} σ(z)_k), using 1 − p_k* = Σ_{j≠k*} p_j. */
export const boost64 = (z: number[], y: number): number => {
  let k = -1;
  z.forEach((v, c) => {
    if (c !== y && (k < 0 || v > (z[k] ?? -Infinity))) k = c;
  });
  return lse64(z) - lse64(z.filter((_, c) => c !== k));
};
/** The authors' bounded boost, −log(1.0001 − max_{k≠y} σ(z)_k + 1e−12). */
export const boundedBoost64 = (z: number[], y: number): number => {
  const p = softmax64(z);
  const best = Math.max(...p.filter((_, c) => c !== y));
  return -Math.log(1.0001 - best + 1e-12);
};
export const prob64 = (z: number[], y: number): number => softmax64(z)[y] ?? NaN;
export const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * (b[i] ?? 0), 0);
export const norm = (a: number[]): number => Math.sqrt(dot(a, a));
export const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

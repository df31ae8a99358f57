/** Shapes of the benchmark's results (bench/results.json). */

/** The tfjs configurations the benchmark compares. */
export const CONFIGS = ['cpu', 'wasm', 'wasm+ardkit', 'wasm+ardkit+threads', 'tensorflow'] as const;
export type Config = (typeof CONFIGS)[number];

/** A throughput: images per second from the median of `reps` timed calls. */
export interface Rate {
  imagesPerSecond: number;
  medianSeconds: number;
  reps: number;
}

/** ardkit's `pgd` and the hand-written loop, on the same backend. */
export interface Pair {
  ardkit: Rate;
  hand?: Rate;
}

export interface MemoryResult {
  pgdSteps: number;
  numTensorsBefore: number;
  numTensorsAfter: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** (after − before) / before, measured after a warm-up. */
  rssGrowth: number;
  /** RSS after every 100 PGD steps, to tell a steady leak from a one-time step. */
  rssEvery100StepsMiB: number[];
}

export interface ConfigResult {
  config: Config;
  backend: string;
  batch: number;
  pgdStep?: Pair;
  pgd10?: Pair;
  advTrainStep?: Rate;
  advTrainError?: string;
  profileMs?: Record<string, number>;
  memory?: MemoryResult;
}

/** What bench/torch_bench.py prints. */
export interface TorchResult {
  torch: string;
  threads: number;
  batch: number;
  pgdStep: Rate;
  pgd10: Rate;
  advTrainStep: Rate;
  pgdStepOneThread: Rate;
}

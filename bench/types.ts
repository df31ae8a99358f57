/** Shapes of the benchmark's results (bench/results.json). */
import type { WebGpuAdapterDescription } from 'ardkit/backends';
import type { ComparisonResult } from './compare.js';

/**
 * The tfjs configurations the benchmark compares: `wasm` is tfjs' own (single-threaded in Node, no conv
 * gradient kernels); `wasm+ardkit-1thread` adds ardkit's training kernels; `wasm+ardkit` is what
 * `useBestBackend()` gives, the training kernels on ardkit's threaded wasm with one thread per core; `tensorflow` is
 * tfjs-node-gpu or tfjs-node; `webgpu` is tfjs-backend-webgpu on Dawn (npm `webgpu`, `registerNodeWebGpu`), on
 * SwiftShader's Vulkan driver where there is no GPU.
 */
export const CONFIGS = ['cpu', 'wasm', 'wasm+ardkit-1thread', 'wasm+ardkit', 'tensorflow', 'webgpu'] as const;
export type Config = (typeof CONFIGS)[number];

/** A throughput: images per second from the median of `reps` timed calls. */
export interface Rate {
  imagesPerSecond: number;
  medianSeconds: number;
  reps: number;
  /** Seconds of each timed call, in order (calls of compared functions alternate). */
  seconds: number[];
}

/** ardkit's `pgd` and the hand-written loop, on the same backend. */
export interface Pair {
  ardkit: Rate;
  hand?: Rate;
  /**
   * ardkit's speed relative to the hand-written loop: the median over the alternating calls of
   * hand time / ardkit time, each ratio taken from two neighbouring calls, so a change of machine load between
   * calls cancels out (unlike a ratio of two medians).
   */
  relativeSpeed?: number;
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
  /** XNNPACK threads of the wasm backend (`getThreadsCount()`); absent on other backends. */
  threads?: number;
  batch: number;
  /** The forward pass alone (logits of the batch, no gradient): the kernels' ceiling, for context. */
  forward?: Rate;
  pgdStep?: Pair;
  pgd10?: Pair;
  advTrainStep?: Rate;
  advTrainError?: string;
  profileMs?: Record<string, number>;
  memory?: MemoryResult;
  /** The WebGPU adapter (webgpu only). */
  adapter?: WebGpuAdapterDescription;
  /** tfjs flags the configuration set (webgpu: `WEBGPU_CPU_FORWARD: false`). */
  flags?: Record<string, boolean>;
  /** The package that registered the `tensorflow` backend (tfjs-node-gpu or tfjs-node). */
  package?: string;
  /** The backend comparison of the example networks (bench/compare.ts), where run. */
  comparison?: ComparisonResult;
  /** Only the comparison ran (webgpu on SwiftShader is too slow for the batch-128 measurements). */
  comparisonOnly?: boolean;
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
  /** The forward pass alone, without autograd (`torch.no_grad()`). */
  forward: Rate;
}

/** The CIFAR ResNet-18 section's network and attack (bench/cifar.ts; bench/torch_bench.py `--cifar` uses the same). */
export const CIFAR_INPUT_SHAPE: [number, number, number] = [32, 32, 3];
export const CIFAR_CLASSES = 10;
/** The CIFAR attack of the robust-training literature: ε = 8/255, step 2/255. */
export const CIFAR_EPS = 8 / 255;
export const CIFAR_STEP_SIZE = 2 / 255;

/** The measurements of the CIFAR ResNet-18 section, the same in ardkit (bench/cifar.ts) and PyTorch (bench/torch_bench.py `--cifar`). */
export interface CifarSteps {
  batch: number;
  /** Trainable parameters of the network (11 173 962 with 10 classes, in both). */
  params: number;
  /** The forward pass alone in inference mode, no gradient (PyTorch: `torch.no_grad()`), for context. */
  forward: Rate;
  /**
   * One L∞ PGD step on the network in inference mode: forward, input gradient, sign step, projection (ardkit: `pgd`
   * with `steps: 1`, its random start and value checks included; PyTorch: the same loop as bench/torch_bench.py's).
   */
  pgdStep: Rate;
  /**
   * One adversarial-training step: a PGD-`trainAttackSteps` attack on the network in inference mode, then one SGD update
   * of the cross-entropy on the adversarial batch in training mode (batch statistics), as `fit` with `pgdAt` does.
   */
  advTrainStep: Rate;
}

/** What bench/cifar.ts prints: ardkit on the wasm backend with its kernels and threads, as `useBestBackend()` sets it up. */
export interface CifarArdkitResult extends CifarSteps {
  backend: string;
  /** XNNPACK threads (`getThreadsCount()`): PyTorch is given as many. */
  threads: number;
  /** Tensors left after the timed calls, minus those before them (0: nothing leaked). */
  tensorsLeaked: number;
  /** Where one PGD step's time goes (tf.profile, ms per kernel, the 12 largest), measured after the timed calls. */
  profileMs?: Record<string, number>;
}

/** What bench/torch_bench.py `--cifar` prints. */
export interface CifarTorchResult extends CifarSteps {
  torch: string;
  threads: number;
}

/** The CIFAR ResNet-18 section of a run: ardkit and PyTorch on the same threads, one after the other. */
export interface CifarResult {
  /** The command that measured it (a `--cifar-only` run merges its section into an earlier full run's results). */
  command: string;
  startedAt: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  inputShape: [number, number, number];
  classes: number;
  batch: number;
  eps: number;
  stepSize: number;
  trainAttackSteps: number;
  /** Timed calls of each measurement (the median counts) and untimed warm-up calls. */
  reps: { pgdStep: number; advTrainStep: number; warmup: number };
  ardkit?: CifarArdkitResult;
  ardkitError?: string;
  pytorch?: CifarTorchResult;
  pytorchSkipped?: string;
}

/** What bench/readbacks.ts prints: host readbacks on the cpu backend (one build, batch 128). */
export interface ReadbackResult {
  /** The ardkit checkout whose dist/ was counted. */
  root: string;
  batch: number;
  /** `pgd` (10 steps) the first time a model is attacked (its output probed for probabilities). */
  pgd10FirstCallOfModel: number;
  /** `pgd` (10 steps) on a model attacked before, as every later row. */
  pgd10PerCall: number;
  pgd50PerCall: number;
  apgd100PerCall: number;
  /** `evaluate` with one attack (PGD-10), per batch. */
  evaluatePerBatch: number;
  /** `fit` with `pgdAt` on tensors, one epoch, per batch (the data checks of the call included). */
  fitPerBatch: number;
  /** The same, per batch of the epochs after the first. */
  fitPerLaterBatch: number;
  /** With `logEvery: 4` (null where the version has no such option). */
  fitLogEvery4PerLaterBatch: number | null;
  /** With the batches from an async iterable. */
  fitIterablePerLaterBatch: number;
}

/** One build's figures in headless Chromium (bench/browser.ts). */
export interface BrowserBuildResult {
  label: string;
  dir: string;
  backends: Array<{
    backend: string;
    available: boolean;
    detail: string;
    /** Milliseconds of every timed one-step PGD call, over all the build's pages. */
    pgdStepMs: number[];
    pgd10Ms: number[];
    /** Readbacks of one PGD-10 call before its result is read (null when the backend did not run). */
    pgd10Readbacks: number | null;
  }>;
}

/** What bench/browser.ts prints. */
export interface BrowserResult {
  chromium: string;
  userAgent: string;
  batch: number;
  builds: BrowserBuildResult[];
}

/** The four networks of the examples whose PGD-AT epoch the "examples" section times (bench/examples.ts, torch_bench.py `--examples`). */
export const EXAMPLE_NETWORKS = ['mlp 784-64-10', 'mlp 784-256-256-10', 'cnn conv8-conv16 (student)', 'cnn conv16-conv32-dense128 (teacher)'] as const;
export type ExampleNetwork = (typeof EXAMPLE_NETWORKS)[number];

/** The attack of the examples section's `pgdAt`: PGD-5 at ε = 0.3, step 0.075, uniform random start (as torch_bench.py's). */
export const EXAMPLE_ATTACK = { eps: 0.3, steps: 5, stepSize: 0.075 } as const;

/** Timings of one side's epochs. */
export interface EpochTimes {
  imagesPerSecond: number;
  medianSeconds: number;
  seconds: number[];
}

/** One network of the examples section: ardkit's epochs, PyTorch's alternating with them, and the paired ratio. */
export interface ExampleNetworkResult {
  name: string;
  ardkit: EpochTimes;
  pytorch?: EpochTimes;
  /** Median over the pairs of PyTorch's epoch time / ardkit's: ardkit's speed relative to PyTorch's. */
  speedRatio?: number;
  /** Tensors left after the epochs. */
  tensorsLeaked: number;
}

/** What bench/examples.ts prints. */
export interface ExamplesPairedResult {
  backend: string;
  threads: number;
  images: number;
  batch: number;
  reps: number;
  torch?: string;
  torchThreads?: number;
  networks: ExampleNetworkResult[];
}

/** The examples section of a run. */
export interface ExamplesResult {
  startedAt: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  result?: ExamplesPairedResult;
  error?: string;
  pytorchSkipped?: string;
}

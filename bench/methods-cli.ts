/** The method benchmark's command line (`npm run bench:methods -- --help`), parsed into the settings of a run. */
import { BACKEND_OPTIONS, parseOptions, positive } from '../examples/cli.js';
import type { MethodsCache } from './methods-cache.js';
import type { DataOptions, Family } from './methods-models.js';
import type { Progress } from './methods-progress.js';
import { METHOD_NAMES, type Method } from './methods-students.js';

const OPTIONS = {
  ...BACKEND_OPTIONS,
  dataset: { type: 'string', description: 'mnist (bundled), fashion-mnist (Debian dataset-fashion-mnist), or custom with the file options', default: 'mnist' },
  'train-images': { type: 'string', description: 'IDX training images (gzipped or not)', default: '' },
  'train-labels': { type: 'string', description: 'IDX training labels', default: '' },
  'test-images': { type: 'string', description: 'IDX test images', default: '' },
  'test-labels': { type: 'string', description: 'IDX test labels', default: '' },
  'cifar-train': { type: 'string', description: 'CIFAR-10 binary training batches, comma-separated', default: '' },
  'cifar-test': { type: 'string', description: 'CIFAR-10 binary test batch', default: '' },
  seeds: { type: 'string', description: 'student seeds (0, 1, …)', default: '2' },
  eps: { type: 'string', description: 'L∞ radius of training and evaluation (default 0.1; 8/255 for CIFAR)', default: '' },
  families: { type: 'string', description: 'mlp, cnn or both', default: 'mlp,cnn' },
  methods: { type: 'string', description: 'comma-separated subset of the methods (default: all)', default: '' },
  jobs: { type: 'string', description: 'worker processes training and evaluating in parallel, each on one wasm thread (results depend on the thread count, so --jobs 1 also uses one thread unless --threads says otherwise)', default: '2' },
  worker: { type: 'string', description: 'internal: run as worker k/n of a parallel run', default: '' },
  quick: { type: 'boolean', description: 'a smaller run: 1 seed, MLPs, fewer images, no AutoAttack on teachers', default: false },
  'train-size': { type: 'string', description: 'training images (default 10000; --quick 4000)', default: '' },
  'test-size': { type: 'string', description: 'test images evaluated for the MLPs and the shared DARHT candidates (default 200; --quick 100)', default: '' },
  'cnn-test-size': { type: 'string', description: 'test images evaluated for the CNNs (default 100: their AutoAttack costs about 4 times the MLPs\' per image)', default: '100' },
  epochs: { type: 'string', description: 'student epochs (default 2)', default: '' },
  cache: { type: 'string', description: 'checkpoint and result cache', default: 'bench/.cache/methods' },
  models: { type: 'string', description: "folder of the trained students, in tfjs' format (<folder>/<cache key>/model.json)", default: 'examples/output/methods' },
  json: { type: 'string', description: 'results file (default bench/methods.json; --quick bench/methods-quick.json)', default: '' },
  markdown: { type: 'string', description: 'report file (default docs/methods.md; --quick docs/methods-quick.md)', default: '' }
} as const;

/** The settings of one run of the method benchmark. */
export interface Settings {
  readonly backend: string;
  readonly threads: string;
  readonly data: DataOptions;
  readonly quick: boolean;
  readonly seeds: number;
  readonly trainSize: number;
  /** Test images of the MLPs and the shared DARHT candidates. */
  readonly testSize: number;
  readonly cnnTestSize: number;
  readonly epochs: number;
  readonly families: readonly Family[];
  readonly methods: readonly Method[];
  readonly jsonPath: string;
  readonly markdownPath: string;
  readonly jobCount: number;
  /** This process's place among the workers of a parallel run; undefined in the parent (or with --jobs 1). */
  readonly worker: { readonly index: number; readonly count: number } | undefined;
  readonly cache: string;
  readonly models: string;
}

/**
 * Parses the command line (`process.argv`); prints the help and exits on `--help`, exits with a message on an invalid
 * number, and throws RangeError on an invalid `--worker` or an unknown method.
 */
export function parseCommandLine(): Settings {
  const opts = parseOptions('Usage: npm run bench:methods -- [options]', OPTIONS);
  const quick = opts.quick;
  const seeds = positive('seeds', quick && opts.seeds === '2' ? '1' : opts.seeds, true);
  const trainSize = positive('train-size', opts['train-size'] || (quick ? '4000' : '10000'), true);
  const testSize = positive('test-size', opts['test-size'] || (quick ? '100' : '200'), true);
  const cnnTestSize = positive('cnn-test-size', opts['cnn-test-size'], true);
  const epochs = positive('epochs', opts.epochs || '2', true);
  const families = (quick && opts.families === 'mlp,cnn' ? 'mlp' : opts.families).split(',').filter((f) => f !== '') as Family[];
  const jsonPath = opts.json || (quick ? 'bench/methods-quick.json' : 'bench/methods.json');
  const markdownPath = opts.markdown || (quick ? 'docs/methods-quick.md' : 'docs/methods.md');
  const jobCount = positive('jobs', opts.jobs, true);
  const workerMatch = /^(\d+)\/(\d+)$/.exec(opts.worker);
  if (opts.worker !== '' && workerMatch === null) throw new RangeError(`--worker must be k/n (got ${JSON.stringify(opts.worker)})`);
  const worker = workerMatch === null ? undefined : { index: Number(workerMatch[1]), count: Number(workerMatch[2]) };
  const methods: readonly Method[] = opts.methods === '' ? METHOD_NAMES : (opts.methods.split(',') as Method[]);
  for (const m of methods) if (!METHOD_NAMES.includes(m)) throw new RangeError(`--methods: unknown method ${JSON.stringify(m)} (known: ${METHOD_NAMES.join(', ')})`);
  return {
    backend: opts.backend,
    threads: opts.threads,
    data: {
      dataset: opts.dataset,
      trainImages: opts['train-images'],
      trainLabels: opts['train-labels'],
      testImages: opts['test-images'],
      testLabels: opts['test-labels'],
      cifarTrain: opts['cifar-train'],
      cifarTest: opts['cifar-test'],
      eps: opts.eps
    },
    quick,
    seeds,
    trainSize,
    testSize,
    cnnTestSize,
    epochs,
    families,
    methods,
    jsonPath,
    markdownPath,
    jobCount,
    worker,
    cache: opts.cache,
    models: opts.models
  };
}

/** One run of the benchmark: its settings, its cache and its progress bar. */
export interface Run {
  readonly settings: Settings;
  readonly cache: MethodsCache;
  readonly progress: Progress;
}

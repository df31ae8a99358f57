/**
 * The walk of `ard`'s options (issue "One shape for the house", part "Parse once"): counted with spies on every
 * function `core/validate.ts`, `core/options.ts` and `losses/validate.ts` export. An *entry* into core's validation
 * is a call of one of them from a module outside `src/core/` (the checks a core function makes in turn, such as
 * `parseOptions` calling `checkKnownKeys`, are inside core and are not entries). The objective's hooks are called by
 * hand, as `fit` calls them for one batch, so that only the objective's own work is counted (fit's checks of the data
 * are its own, and not the options').
 *
 * Measured: `ard(options)` enters core's validation twice, `parseOptions` (every key, τ, α, klReduction, attackMode)
 * and `resolveFields` of the attack settings (`resolvePerturbation` of `attacks/options.ts`: ε, the norm, the box, the
 * seed, steps, the step size, the start, all fields of one declaration, so a setting given adds no entry); one batch
 * enters it with no option check, and nothing calls into `losses/validate.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as coreValidate from '../../src/core/validate.js';
import * as coreOptions from '../../src/core/options.js';
import * as lossValidate from '../../src/losses/validate.js';
import { createRandom } from '../../src/core/random.js';
import { ardLoss } from '../../src/losses/ard.js';
import { ard, type BatchContext, type Objective } from '../../src/train/index.js';
import { studentModel } from '../../src/train/student.js';
import { useBackend } from '../helpers.js';
import { blobs, linearStudent, linearTeachers, NO_STATE } from './fixtures.js';

/** One call of a spied check: where it lives, its name, and the source file of its caller. */
interface Call {
  readonly module: 'core/validate' | 'core/options' | 'losses/validate';
  readonly name: string;
  readonly caller: string;
}

/** The option checks among the spied functions; the rest check tensors (inputs, logits, labels). */
const OPTION_CHECKS = new Set([
  'parseOptions',
  'checkKnownKeys',
  'checkNonNegative',
  'checkPositive',
  'checkFinite',
  'checkInteger',
  'checkOneOf',
  'checkBoolean',
  'checkBounds'
]);

/** The first frame of the stack outside jest, node_modules and this file: the caller of the spied function. */
function callerFile(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  for (const frame of frames) {
    if (frame.includes('node_modules') || frame.includes('option-walk.test') || frame.includes('node:internal')) continue;
    const m = /\(?([^()\s]+\.ts):\d+:\d+\)?$/.exec(frame.trim());
    if (m?.[1] !== undefined) return m[1].replace(/^.*\/src\//, 'src/');
  }
  return 'unknown';
}

/** Spies on every function `module` exports, recording each call with its caller. */
function spyAll(mod: Record<string, unknown>, module: Call['module'], calls: Call[]): jest.SpyInstance[] {
  return Object.keys(mod)
    .filter((name) => typeof mod[name] === 'function')
    .map((name) => {
      const original = mod[name] as (...args: unknown[]) => unknown;
      return jest.spyOn(mod as Record<string, (...args: unknown[]) => unknown>, name).mockImplementation((...args: unknown[]) => {
        calls.push({ module, name, caller: callerFile() });
        return original(...args);
      });
    });
}

/** Calls from outside `src/core/` into core's validation. */
const entries = (calls: readonly Call[]): Call[] => calls.filter((c) => c.module !== 'losses/validate' && !c.caller.startsWith('src/core/'));

beforeAll(async () => {
  await useBackend('cpu');
});

describe("the walk of ard's options", () => {
  let fx: ReturnType<typeof linearTeachers>;
  let calls: Call[];
  let spies: jest.SpyInstance[];
  beforeAll(() => {
    fx = linearTeachers();
  });
  afterAll(() => {
    fx.dispose();
  });
  beforeEach(() => {
    calls = [];
    spies = [
      ...spyAll(coreValidate, 'core/validate', calls),
      ...spyAll(coreOptions, 'core/options', calls),
      ...spyAll(lossValidate, 'losses/validate', calls)
    ];
  });
  afterEach(() => {
    spies.forEach((s) => { s.mockRestore(); });
  });

  /** One batch as fit runs it: `prepare` outside the tape, `loss` inside a tidy, the results released. */
  function oneBatch(objective: Objective, s: ReturnType<typeof linearStudent>): void {
    const data = blobs(8, 3, 1);
    const ctx: BatchContext = {
      epoch: 0,
      epochs: 1,
      batch: 0,
      progress: 0,
      batchesPerEpoch: 1,
      rng: createRandom(3),
      student: s.student,
      studentModel: studentModel(s.student),
      learningRate: 0.01,
      baseLearningRate: 0.01
    };
    tf.tidy(() => {
      objective.check?.(s.student, 3, tf.slice(data.x, 0, 1));
      const prepared: unknown = objective.prepare(data.x, data.y, ctx, NO_STATE);
      const terms = objective.loss(prepared as never, data.x, data.y, ctx, NO_STATE);
      expect(terms.total.rank).toBe(0);
    });
    s.net.dispose();
    tf.dispose([data.x, data.y]);
  }

  it('ard(options) enters core validation twice: one parse of its own and its loss options, one of its attack settings', () => {
    const objective = ard({ teacher: fx.teacher, eps: 0.1, temperature: 30, alpha: 0.9, klReduction: 'classMean', attackMode: 'inference' });
    const inCore = entries(calls);
    expect(inCore.map((c) => `${c.caller} → ${c.name}`)).toEqual([
      'src/train/objectives/common.ts → parseOptions',
      'src/attacks/options.ts → resolveFields'
    ]);
    expect(calls.filter((c) => c.module === 'losses/validate')).toEqual([]);
    const student = linearStudent(5);
    calls.length = 0;

    oneBatch(objective, student);
    // What one batch does enter: the attack's checks of its inputs (the model, x, the logits), no option check.
    const perBatch = entries(calls);
    expect(perBatch.filter((c) => OPTION_CHECKS.has(c.name))).toEqual([]);
    expect(perBatch.filter((c) => !c.caller.startsWith('src/attacks/'))).toEqual([]);
    if (process.env.ARDKIT_WALK === '1') console.log(perBatch.map((c) => `${c.caller} → ${c.name}`).join('\n'));
    expect(calls.filter((c) => c.module === 'losses/validate')).toEqual([]);
  });

  it('the attack settings given add no entry: ard({ eps, steps, stepSize, … }) still enters core validation twice', () => {
    const objective = ard({ teacher: fx.teacher, eps: 0.1, steps: 2, stepSize: 0.05, norm: 'l2', randomStart: 'normal', normalStd: 0.01, bounds: [0, 1] });
    expect(entries(calls).map((c) => `${c.caller} → ${c.name}`)).toEqual([
      'src/train/objectives/common.ts → parseOptions',
      'src/attacks/options.ts → resolveFields'
    ]);
    expect(objective.name).toBe('ard');
  });

  it('ardLoss, the public loss, parses its options in one entry and checks its inputs through losses/validate.ts', () => {
    const z = tf.zeros<tf.Rank.R2>([2, 3]);
    const y = tf.tensor1d([0, 1], 'int32');
    tf.dispose(ardLoss({ studentAdv: z, teacherClean: z, studentClean: z, labels: y }, { alpha: 0.5, temperature: 4 }));
    expect(calls.filter((c) => c.caller === 'src/losses/ard.ts').map((c) => c.name)).toEqual(['parseOptions', 'checkLossInputs', 'requireInput', 'requireInput']);
    tf.dispose([z, y]);
  });
});

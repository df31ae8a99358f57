/**
 * Property-based tests (fast-check) of `fit`, `batches` and `parseIdx`: random data sizes (0 included), dtypes,
 * labels and option values. Each call either succeeds with its invariants (fit's history has one entry per epoch
 * with finite losses; batches cover every example once per epoch; parsed IDX arrays hold the header's count) or
 * rejects with a RangeError/TypeError naming the function, and never leaks a tensor. Seeded.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { fit, natural, pgdAt } from '../../src/train/index.js';
import { batches, parseIdx } from '../../src/data/index.js';
import { useBackend } from '../helpers.js';
import { DIM, mlp } from '../train/fixtures.js';

const SEED = 20261202;

beforeAll(async () => {
  await useBackend('cpu');
});

/** Checks a rejection: RangeError/TypeError naming `fn`. */
function expectClear(fn: string, error: unknown): void {
  if (!(error instanceof RangeError || error instanceof TypeError)) throw new Error(`${fn} threw ${String(error)}`, { cause: error });
  if (!error.message.startsWith(`${fn}: `)) throw new Error(`${fn}'s error names another function: ${error.message}`, { cause: error });
}

describe('fit: a history or a clear error, never a leak', () => {
  it('random data sizes, labels and options', async () => {
    const net = mlp(3, 1);
    let ok = 0;
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          n: fc.integer({ min: 0, max: 20 }),
          badLabel: fc.integer({ min: 0, max: 7 }),
          xScale: fc.constantFrom(1, 1, 1, 1, 1, 3),
          adversarial: fc.boolean(),
          options: fc.record(
            {
              epochs: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 2 }), weight: 8 }, { arbitrary: fc.constantFrom(0, 1.5, -1), weight: 1 }),
              batchSize: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 8 }), weight: 8 }, { arbitrary: fc.constantFrom(0, 2.5), weight: 1 }),
              seed: fc.oneof({ arbitrary: fc.integer(), weight: 8 }, { arbitrary: fc.constant(Number.NaN), weight: 1 }),
              learningRate: fc.oneof({ arbitrary: fc.double({ min: 1e-4, max: 0.1, noNaN: true }), weight: 8 }, { arbitrary: fc.constantFrom(0, -1), weight: 1 }),
              weightDecay: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.constant(-1), weight: 1 }),
              shuffle: fc.oneof({ arbitrary: fc.boolean(), weight: 8 }, { arbitrary: fc.constant('yes'), weight: 1 })
            },
            { requiredKeys: [] }
          )
        }),
        async ({ n, badLabel, xScale, adversarial, options }) => {
          const x = tf.tensor2d(Array.from({ length: n * DIM }, (_, i) => ((i * 0.37) % 1) * xScale), [n, DIM]);
          const y = tf.tensor1d(Array.from({ length: n }, (_, i) => (badLabel === 0 && i === n - 1 ? 3 : i % 3)), 'int32');
          const before = tf.memory().numTensors;
          try {
            const history = await fit(net, { x, y }, adversarial ? pgdAt({ eps: 0.1, steps: 1 }) : natural(), options as never);
            expect(history.epochs).toHaveLength((options as { epochs?: number }).epochs ?? 1);
            for (const e of history.epochs) expect(Number.isFinite(e.loss)).toBe(true);
            ok += 1;
          } catch (error) {
            expectClear('fit', error);
            errors += 1;
          }
          tf.dispose([x, y]);
          expect(tf.memory().numTensors).toBe(before - 2);
        }
      ),
      { seed: SEED, numRuns: 120 }
    );
    expect(ok).toBeGreaterThanOrEqual(20);
    expect(errors).toBeGreaterThanOrEqual(6);
    net.dispose();
  }, 120_000);
});

describe('batches: every example once per epoch, or a clear error, never a leak', () => {
  it('random sizes and options', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 17 }),
        fc.record(
          {
            batchSize: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 6 }), weight: 8 }, { arbitrary: fc.constantFrom(0, -2, 1.5), weight: 1 }),
            shuffle: fc.boolean(),
            dropRemainder: fc.boolean(),
            seed: fc.integer()
          },
          { requiredKeys: [] }
        ),
        fc.integer({ min: -1, max: 1 }),
        async (n, options, lengthShift) => {
          const x = tf.tensor2d(Array.from({ length: n * 2 }, (_, i) => i), [n, 2]);
          const y = tf.tensor1d(Array.from({ length: Math.max(0, n + lengthShift) }, (_, i) => i), 'int32');
          const before = tf.memory().numTensors;
          try {
            const b = batches(x, y, options);
            const seen: number[] = [];
            for await (const batch of b) {
              seen.push(...Array.from(batch.y.dataSync()));
              expect(batch.x.shape[0]).toBe(batch.y.shape[0]);
              tf.dispose([batch.x, batch.y]);
            }
            const size = options.batchSize ?? 32;
            const expected = options.dropRemainder === true ? Math.floor(n / size) * size : n;
            expect(seen).toHaveLength(expected);
            expect(new Set(seen).size).toBe(expected);
          } catch (error) {
            expectClear('batches', error);
          }
          expect(tf.memory().numTensors).toBe(before);
          tf.dispose([x, y]);
        }
      ),
      { seed: SEED, numRuns: 200 }
    );
  });
});

describe("parseIdx: the header's count of values, or a clear error", () => {
  it('random and truncated byte arrays', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          // A valid header (unsigned bytes, 1 or 2 dimensions) with a body that may be short or long.
          fc.record({ dims: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 2 }), extra: fc.integer({ min: -3, max: 3 }) }).map(({ dims, extra }) => {
            const header = [0, 0, 0x08, dims.length, ...dims.flatMap((d) => [0, 0, 0, d])];
            const count = Math.max(0, dims.reduce((a, b) => a * b, 1) + extra);
            return Uint8Array.from([...header, ...Array.from({ length: count }, (_, i) => i % 256)]);
          })
        ),
        (bytes) => {
          try {
            const r = parseIdx(bytes);
            expect(r.data.length).toBe(r.shape.reduce((a, b) => a * b, 1));
          } catch (error) {
            expectClear('parseIdx', error);
          }
        }
      ),
      { seed: SEED, numRuns: 300 }
    );
  });
});

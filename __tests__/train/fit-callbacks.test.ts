/**
 * fit's callbacks: the public `callbacks` option (events in order with their figures, awaited, after fit's own work so
 * that an epoch's end carries its validation), stopping early through `signal`, bad callbacks named, nothing leaked
 * when a callback throws; and validation evaluates `objective.deploy(student)` where the objective defines it (moved
 * from the method fixes of release 0.x).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fromLayersModel, type Model } from '../../src/core/index.js';
import { evaluate } from '../../src/eval/index.js';
import { fit, loadLatestCheckpoint, natural, type BatchInfo, type EpochInfo, type FitBatch, type FitCallback, type FitHistory, type Objective } from '../../src/train/index.js';
import { CallbackList, type BatchLog, type LoopCallback } from '../../src/train/callbacks.js';
import { EpochProgress } from '../../src/train/fit-callbacks.js';
import { expectRejectsNoLeak, useBackend } from '../helpers.js';
import { blobs, mlp, weightsOf } from './fixtures.js';

const K = 3;

describe('fit callbacks', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  describe('validation', () => {
    let data: { x: tf.Tensor2D; y: tf.Tensor1D };
    beforeAll(() => {
      data = blobs(96, K, 1);
    });
    afterAll(() => {
      tf.dispose([data.x, data.y]);
    });

    it("evaluates a custom objective's deploy(student), not the raw student", async () => {
      // The deployed model always predicts class 0: one third of the (balanced) labels.
      const alwaysZero: Model = (x) => tf.tidy(() => tf.mul<tf.Tensor2D>(tf.oneHot(tf.zeros([x.shape[0] ?? 1], 'int32'), K), 10));
      const handed: tf.Tensor2D[] = [];
      const objective: Objective = {
        ...natural(),
        name: 'naturalDeployedAsZero',
        deploy: (student) => {
          handed.push(tf.tidy(() => student(tf.slice(data.x, 0, 4))));
          return alwaysZero;
        }
      };
      const net = mlp(K, 3);
      const before = tf.memory().numTensors;
      const history = await fit(net, data, objective, { epochs: 8, batchSize: 32, seed: 2, learningRate: 0.1, validation: { x: data.x, y: data.y } });
      expect(tf.memory().numTensors).toBe(before + handed.length);
      const raw = fromLayersModel(net);
      const rawClean = (await evaluate(raw, data.x, data.y)).clean;
      const deployedClean = (await evaluate(alwaysZero, data.x, data.y)).clean;
      expect(deployedClean).toBeCloseTo(1 / 3, 6);
      expect(rawClean).toBeGreaterThan(0.6);
      const validated = history.epochs.map((e) => e.validation?.clean);
      expect(validated).toHaveLength(8);
      for (const v of validated) expect(v).toBe(deployedClean);
      // deploy was handed the student itself (its inference-mode logits), once per validation.
      expect(handed).toHaveLength(8);
      const expected = tf.tidy(() => raw(tf.slice(data.x, 0, 4)));
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(handed[handed.length - 1]!, expected))).dataSync()[0])).toBeLessThan(1e-6);
      tf.dispose([...handed, expected]);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });
  });

  it('CallbackList calls every event on each callback in turn, waiting for each', async () => {
    const calls: string[] = [];
    const make = (name: string): LoopCallback => ({
      onTrainBegin: () => { calls.push(`${name}:trainBegin`); },
      onEpochBegin: async (e) => { await Promise.resolve(); calls.push(`${name}:epochBegin ${String(e)}`); },
      onBatchEnd: (log) => { calls.push(`${name}:batch ${String(log.batch)}`); },
      onEpochEnd: (e, logs) => { calls.push(`${name}:epochEnd ${String(e)} ${String(logs.info.loss)}`); },
      onTrainEnd: (h) => { calls.push(`${name}:trainEnd ${String(h.epochs.length)}`); }
    });
    const list = new CallbackList([make('a'), {}, make('b')]);
    const log: BatchLog = { epoch: 0, batch: 0, size: 2, learningRate: 0.1, values: { total: 1, terms: {}, correct: undefined }, skipped: false };
    await list.onTrainBegin();
    await list.onEpochBegin(0);
    await list.onBatchEnd(log);
    await list.onEpochEnd(0, { info: { epoch: 0, loss: 1, terms: {}, accuracy: undefined, learningRate: 0.1, batches: 1, skipped: 0, seconds: 0 }, complete: true });
    await list.onTrainEnd({ epochs: [], objectiveValues: {} });
    expect(calls).toEqual([
      'a:trainBegin', 'b:trainBegin', 'a:epochBegin 0', 'b:epochBegin 0', 'a:batch 0', 'b:batch 0', 'a:epochEnd 0 1', 'b:epochEnd 0 1', 'a:trainEnd 0', 'b:trainEnd 0'
    ]);
  });

  it('EpochProgress sums the updated batches, counts the skipped ones and keeps the last learning rate', () => {
    const progress = new EpochProgress(0.5);
    progress.onEpochBegin();
    const batch = (b: number, total: number, correct: number | undefined, skipped: boolean, learningRate: number): BatchLog =>
      ({ epoch: 2, batch: b, size: 4, learningRate, values: { total, terms: { ce: total / 2 }, correct }, skipped });
    progress.onBatchEnd(batch(0, 1, 2, false, 0.4));
    progress.onBatchEnd(batch(1, 100, 0, true, 0.3));
    progress.onBatchEnd(batch(2, 3, 4, false, 0.2));
    const info = progress.summary(2);
    expect({ ...info, seconds: 0 }).toEqual({ epoch: 2, loss: 2, terms: { ce: 1 }, accuracy: 6 / 8, learningRate: 0.2, batches: 3, skipped: 1, seconds: 0 });
    // A new epoch starts from nothing: no batch, the base rate, no loss.
    progress.onEpochBegin();
    const empty = progress.summary(3);
    expect([empty.loss, empty.learningRate, empty.batches, empty.accuracy]).toEqual([NaN, 0.5, 0, undefined]);
  });

  describe('the callbacks option', () => {
    let data: { x: tf.Tensor2D; y: tf.Tensor1D };
    let tmp: string;
    beforeAll(() => {
      data = blobs(64, K, 4);
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-callbacks-'));
    });
    afterAll(() => {
      tf.dispose([data.x, data.y]);
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** A callback that records every event under `name` in `calls`, and keeps the reports it was given. */
    function recorder(name: string, calls: string[]): { callback: FitCallback; batches: BatchInfo[]; epochs: EpochInfo[]; ends: FitHistory[] } {
      const r = { batches: [] as BatchInfo[], epochs: [] as EpochInfo[], ends: [] as FitHistory[] };
      const callback: FitCallback = {
        onTrainBegin: () => { calls.push(`${name} trainBegin`); },
        onEpochBegin: (epoch) => { calls.push(`${name} epochBegin ${String(epoch)}`); },
        onBatchEnd: (batch, info) => {
          r.batches.push(info);
          calls.push(`${name} batchEnd ${String(info.epoch)}.${String(batch)}`);
        },
        onEpochEnd: (epoch, info) => {
          r.epochs.push(info);
          calls.push(`${name} epochEnd ${String(epoch)}`);
        },
        onTrainEnd: (history) => {
          r.ends.push(history);
          calls.push(`${name} trainEnd`);
        }
      };
      return { callback, ...r };
    }

    /** The events of a run of `batches[e]` batches in epoch e, for each callback name in turn. */
    function expectedEvents(names: readonly string[], batches: readonly number[], options: { optionNames?: readonly string[] } = {}): string[] {
      const all = (event: string, extra: readonly string[] = []): string[] => [...names, ...extra].map((n) => `${n} ${event}`);
      const opt = options.optionNames ?? [];
      return [
        ...all('trainBegin'),
        ...batches.flatMap((n, e) => [
          ...all(`epochBegin ${String(e)}`),
          ...Array.from({ length: n }, (_, b) => all(`batchEnd ${String(e)}.${String(b)}`, opt)).flat(),
          ...all(`epochEnd ${String(e)}`, opt)
        ]),
        ...all('trainEnd')
      ];
    }

    it('calls each event on every callback in the order given, then the onBatchEnd/onEpochEnd options, with the public reports', async () => {
      const net = mlp(K, 5);
      const calls: string[] = [];
      const a = recorder('a', calls);
      const b = recorder('b', calls);
      const optionBatches: BatchInfo[] = [];
      const history = await fit(net, data, natural(), {
        epochs: 2,
        batchSize: 32,
        seed: 1,
        learningRate: 0.1,
        callbacks: [a.callback, b.callback],
        onBatchEnd: (info) => {
          optionBatches.push(info);
          calls.push(`option batchEnd ${String(info.epoch)}.${String(info.batch)}`);
        },
        onEpochEnd: (info) => { calls.push(`option epochEnd ${String(info.epoch)}`); }
      });
      expect(calls).toEqual(expectedEvents(['a', 'b'], [2, 2], { optionNames: ['option'] }));
      // One report per batch, the same one for every callback and the option; the epoch's summary is the history's.
      expect(a.batches).toHaveLength(4);
      expect(b.batches).toEqual(a.batches);
      expect(optionBatches).toEqual(a.batches);
      expect(a.batches.map((i) => [i.epoch, i.batch])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1]]);
      for (const info of a.batches) {
        expect(Object.keys(info).sort()).toEqual(['accuracy', 'batch', 'batches', 'epoch', 'learningRate', 'loss', 'skipped', 'terms']);
        expect([info.batches, info.learningRate, info.skipped]).toEqual([2, 0.1, false]);
        expect(info.terms).toEqual({ ce: info.loss });
        expect(Number.isFinite(info.loss)).toBe(true);
        expect(info.accuracy).toBeGreaterThanOrEqual(0);
        expect(info.accuracy).toBeLessThanOrEqual(1);
      }
      expect(a.epochs).toHaveLength(2);
      a.epochs.forEach((info, e) => {
        expect(info).toBe(history.epochs[e]);
        const own = a.batches.filter((i) => i.epoch === e);
        expect(info.loss).toBeCloseTo((own[0]!.loss + own[1]!.loss) / 2, 6);
        expect(info.batches).toBe(2);
      });
      expect(a.ends).toEqual([history]);
      expect(a.ends[0]).toBe(history);
      net.dispose();
    });

    it("awaits each async event before the next callback's and the next batch, and calls a class instance's methods on it", async () => {
      const log: string[] = [];
      class Slow implements FitCallback {
        constructor(private readonly tag: string) {}
        async onBatchEnd(batch: number, info: BatchInfo): Promise<void> {
          await this.wait(`batchEnd ${String(info.epoch)}.${String(batch)}`);
        }
        async onEpochEnd(epoch: number): Promise<void> {
          await this.wait(`epochEnd ${String(epoch)}`);
        }
        async onTrainEnd(): Promise<void> {
          await this.wait('trainEnd');
        }
        private async wait(event: string): Promise<void> {
          log.push(`${this.tag} ${event} start`);
          await new Promise((resolve) => setTimeout(resolve, 3));
          log.push(`${this.tag} ${event} end`);
        }
      }
      const next: FitCallback = {
        onEpochBegin: (epoch) => { log.push(`next epochBegin ${String(epoch)}`); },
        onBatchEnd: (batch, info) => { log.push(`next batchEnd ${String(info.epoch)}.${String(batch)}`); },
        onEpochEnd: (epoch) => { log.push(`next epochEnd ${String(epoch)}`); },
        onTrainEnd: () => { log.push('next trainEnd'); }
      };
      const net = mlp(K, 7);
      await fit(net, data, natural(), { epochs: 2, batchSize: 32, seed: 1, callbacks: [new Slow('slow'), next] });
      const slowThenNext = (event: string): string[] => [`slow ${event} start`, `slow ${event} end`, `next ${event}`];
      expect(log).toEqual([
        ...[0, 1].flatMap((e) => [
          `next epochBegin ${String(e)}`,
          ...slowThenNext(`batchEnd ${String(e)}.0`),
          ...slowThenNext(`batchEnd ${String(e)}.1`),
          ...slowThenNext(`epochEnd ${String(e)}`)
        ]),
        ...slowThenNext('trainEnd')
      ]);
      net.dispose();
    });

    it("onEpochEnd sees the epoch's validation figures: fit validates before the user's callbacks run", async () => {
      const net = mlp(K, 8);
      const seen: Array<EpochInfo['validation']> = [];
      const history = await fit(net, data, natural(), {
        epochs: 3,
        batchSize: 32,
        seed: 2,
        learningRate: 0.1,
        validation: { x: data.x, y: data.y, every: 2 },
        callbacks: [{ onEpochEnd: (_epoch, info) => { seen.push(info.validation); } }]
      });
      // Every 2 epochs and after the last.
      expect(seen.map((v) => v !== undefined)).toEqual([false, true, true]);
      expect(seen).toEqual(history.epochs.map((e) => e.validation));
      const clean = (await evaluate(fromLayersModel(net), data.x, data.y)).clean;
      expect(seen[2]?.clean).toBe(clean);
      net.dispose();
    });

    it('reads each callback once, when fit is called: events are bound to their object then, and later changes have no effect', async () => {
      let reads = 0;
      let atTrainBegin = -1;
      const calls: string[] = [];
      const target: FitCallback & { log: string[] } = {
        log: calls,
        onTrainBegin() {
          atTrainBegin = reads;
        },
        onEpochEnd(this: { log: string[] }, epoch: number) {
          this.log.push(`epochEnd ${String(epoch)}`);
        }
      };
      const callback = new Proxy(target, { get: (t, key, receiver) => { reads++; return Reflect.get(t, key, receiver) as unknown; } });
      const net = mlp(K, 9);
      await fit(net, data, natural(), {
        epochs: 2,
        batchSize: 64,
        callbacks: [callback],
        onEpochEnd: () => { (target as { onEpochEnd?: unknown }).onEpochEnd = () => { calls.push('replaced'); }; }
      });
      // Only `this.log` is read after training began (the event reads it through its `this`, the callback).
      expect(reads - atTrainBegin).toBe(2);
      expect(calls).toEqual(['epochEnd 0', 'epochEnd 1']);
      net.dispose();
    });

    describe('stopping early with an AbortSignal', () => {
      it('a callback that aborts mid-epoch stops fit after that batch: the history so far, nothing leaked, the checkpoint of the last whole epoch', async () => {
        const dir = path.join(tmp, 'abort-mid-epoch');
        const options = { batchSize: 16, seed: 3, learningRate: 0.1, validation: { x: data.x, y: data.y } };
        const net = mlp(K, 6);
        const before = tf.memory().numTensors;
        const stop = new AbortController();
        const calls: string[] = [];
        const r = recorder('r', calls);
        const history = await fit(net, data, natural(), {
          ...options,
          epochs: 4,
          checkpoint: { dir },
          signal: stop.signal,
          callbacks: [{ onBatchEnd: (batch, info) => { if (info.epoch === 1 && batch === 1) stop.abort(); } }, r.callback]
        });
        expect(tf.memory().numTensors).toBe(before);
        // Epoch 0 whole (4 batches), epoch 1 up to its batch 1, its end, the end of training.
        expect(calls).toEqual(expectedEvents(['r'], [4, 2]));
        expect(r.ends[0]).toBe(history);
        expect(history.epochs.map((e) => [e.epoch, e.batches])).toEqual([[0, 4], [1, 2]]);
        expect(history.epochs[1]!.loss).toBeCloseTo((r.batches[4]!.loss + r.batches[5]!.loss) / 2, 6);
        // The epoch cut short is neither validated nor checkpointed.
        expect(history.epochs[0]!.validation).toBeDefined();
        expect(history.epochs[1]!.validation).toBeUndefined();
        const latest = await loadLatestCheckpoint(dir);
        expect(latest?.epoch).toBe(1);
        tf.dispose([...(latest?.weights ?? []), ...(latest?.optimizer ?? []).map((o) => o.tensor), ...Object.values(latest?.objectiveTensors ?? {})]);
        expect(fs.existsSync(path.join(dir, '.ardkit-lock'))).toBe(false);
        // Resuming from it ends where an uninterrupted run ends.
        const whole = mlp(K, 6);
        await fit(whole, data, natural(), { ...options, epochs: 4 });
        const resumed = mlp(K, 6);
        const resumedHistory = await fit(resumed, data, natural(), { ...options, epochs: 4, checkpoint: { dir }, resume: true });
        expect(resumedHistory.epochs.map((e) => e.batches)).toEqual([4, 4, 4, 4]);
        expect(weightsOf(resumed.weights.map((w) => w.read()))).toEqual(weightsOf(whole.weights.map((w) => w.read())));
        for (const n of [net, whole, resumed]) n.dispose();
      });

      it('with logEvery > 1 and batches from an iterable: the batches applied are all reported, the one that arrived after the abort is released', async () => {
        const net = mlp(K, 10);
        const before = tf.memory().numTensors;
        const stop = new AbortController();
        async function* batches(): AsyncGenerator<FitBatch> {
          for (let i = 0; i < 8; i++) {
            await Promise.resolve();
            yield tf.tidy(() => ({ x: tf.slice(data.x, i * 8, 8), y: tf.slice(data.y, i * 8, 8) }));
          }
        }
        const seen: string[] = [];
        const history = await fit(net, { [Symbol.asyncIterator]: batches }, natural(), {
          epochs: 2,
          logEvery: 3,
          signal: stop.signal,
          callbacks: [{
            onBatchEnd: (batch, info) => {
              seen.push(`${String(info.epoch)}.${String(batch)}`);
              // Batch 0 is read back with its group of 3, after batch 2: training stops before batch 3.
              if (batch === 0) stop.abort();
            }
          }]
        });
        expect(seen).toEqual(['0.0', '0.1', '0.2']);
        expect(history.epochs.map((e) => e.batches)).toEqual([3]);
        expect(tf.memory().numTensors).toBe(before);
        net.dispose();
      });

      it('a signal aborted at an epoch\'s end stops fit before the next epoch; one aborted before fit trains nothing', async () => {
        const net = mlp(K, 11);
        const before = tf.memory().numTensors;
        const stop = new AbortController();
        const calls: string[] = [];
        const r = recorder('r', calls);
        const history = await fit(net, data, natural(), {
          epochs: 3,
          batchSize: 32,
          signal: stop.signal,
          callbacks: [{ onEpochEnd: () => { stop.abort(); } }, r.callback]
        });
        expect(calls).toEqual(expectedEvents(['r'], [2]));
        expect(history.epochs.map((e) => e.batches)).toEqual([2]);
        const weights = weightsOf(net.weights.map((w) => w.read()));
        calls.length = 0;
        const none = await fit(net, data, natural(), { epochs: 3, signal: AbortSignal.abort(), callbacks: [recorder('r', calls).callback] });
        expect(calls).toEqual(['r trainBegin', 'r trainEnd']);
        expect(none.epochs).toEqual([]);
        expect(weightsOf(net.weights.map((w) => w.read()))).toEqual(weights);
        expect(tf.memory().numTensors).toBe(before);
        net.dispose();
      });
    });

    describe('bad callbacks and signals are named before anything runs', () => {
      const EVENTS = 'onTrainBegin, onEpochBegin, onBatchEnd, onEpochEnd, onTrainEnd';
      const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      it.each<[string, Record<string, unknown>, ErrorConstructor, string]>([
        ['callbacks not an array', { callbacks: { onEpochEnd: () => {} } }, TypeError, 'fit: callbacks must be an array of callbacks (objects with onEpochEnd, onBatchEnd, …) (got an object)'],
        ['an entry that is not an object', { callbacks: [{}, 3] }, TypeError, `fit: callbacks[1] must be an object whose events (${EVENTS}) are functions (got 3)`],
        ['a null entry', { callbacks: [null] }, TypeError, `fit: callbacks[0] must be an object whose events (${EVENTS}) are functions (got null)`],
        ['an event that is not a function', { callbacks: [{ onEpochEnd: () => {} }, { onEpochEnd: 'log' }] }, TypeError, 'fit: callbacks[1].onEpochEnd must be a function (got "log")'],
        ["an event fit does not have (tfjs-layers' onBatchBegin)", { callbacks: [{ onBatchBegin: () => {} }] }, RangeError, `fit: callbacks[0] must only have the events ${EVENTS} (got "onBatchBegin")`],
        ['signal not an AbortSignal', { signal: { aborted: 'no' } }, TypeError, 'fit: signal must be an AbortSignal (got an object)'],
        ['signal a boolean', { signal: true }, TypeError, 'fit: signal must be an AbortSignal (got true)'],
        ['the AbortController instead of its signal', { signal: new AbortController() }, TypeError, "fit: signal must be an AbortSignal (the controller's signal, not the AbortController) (got an object)"]
      ])('%s', async (_name, options, type, message) => {
        const net = mlp(K, 12);
        const began = jest.fn();
        await expectRejectsNoLeak(() => fit(net, data, natural(), { callbacks: [{ onTrainBegin: began }], ...options }), new RegExp(`^${escape(message)}$`), type);
        expect(began).not.toHaveBeenCalled();
        net.dispose();
      });
    });

    describe('a callback that throws', () => {
      const boom = new Error('boom');
      it.each<[string, FitCallback, Record<string, unknown>]>([
        ['onTrainBegin', { onTrainBegin: () => { throw boom; } }, {}],
        ['onEpochBegin', { onEpochBegin: (e) => { if (e === 1) throw boom; } }, {}],
        ['onBatchEnd (each batch read back)', { onBatchEnd: (b) => { if (b === 1) throw boom; } }, {}],
        ['onBatchEnd (async, batches read back in groups)', { onBatchEnd: async (b) => { await Promise.resolve(); if (b === 2) throw boom; } }, { logEvery: 2 }],
        ['onEpochEnd (after validation and a checkpoint)', { onEpochEnd: () => { throw boom; } }, { validation: 'data', checkpoint: 'dir' }],
        ['onTrainEnd', { onTrainEnd: async () => { await Promise.resolve(); throw boom; } }, { checkpoint: 'dir' }]
      ])('%s: fit rejects with its error and releases everything it made', async (name, callback, extra) => {
        const dir = path.join(tmp, `throws-${name.replace(/\W/g, '')}`);
        const net = mlp(K, 13);
        const before = tf.memory().numTensors;
        const options = {
          epochs: 2,
          batchSize: 16,
          callbacks: [callback],
          ...(extra.logEvery === undefined ? {} : { logEvery: extra.logEvery as number }),
          ...(extra.validation === undefined ? {} : { validation: { x: data.x, y: data.y } }),
          ...(extra.checkpoint === undefined ? {} : { checkpoint: { dir } })
        };
        const error = await fit(net, data, natural(), options).then(() => undefined, (e: unknown) => e);
        expect(error).toBe(boom);
        expect(tf.memory().numTensors).toBe(before);
        expect(fs.existsSync(path.join(dir, '.ardkit-lock'))).toBe(false);
        net.dispose();
      });
    });
  });
});

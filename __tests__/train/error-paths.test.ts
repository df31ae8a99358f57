/**
 * Bad input at every door: each case below slipped through before (a leak on an error path, an error from deep
 * inside tfjs, an error that did not name the file or the index). Each test fails without its fix.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { apgd, fgsm, pgd, square, tradesAttack } from '../../src/attacks/index.js';
import { evaluate, robustnessCurve, autoAttack } from '../../src/eval/index.js';
import { fromLayersModel, type Model } from '../../src/core/index.js';
import { fit, loadLatestCheckpoint, natural, pgdAt } from '../../src/train/index.js';
import { expectRejectsNoLeak, expectThrowsNoLeak, useBackend } from '../helpers.js';
import { blobs, mlp } from './fixtures.js';

const K = 3;

describe('error paths', () => {
  let data: { x: tf.Tensor2D; y: tf.Tensor1D };
  let tmp: string;
  beforeAll(async () => {
    await useBackend('cpu');
    data = blobs(48, K, 2);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-errors-'));
  });
  afterAll(() => {
    tf.dispose([data.x, data.y]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("fit checks the seed and the optimizer before it makes anything (its own optimizer's scalars leaked)", async () => {
    const net = mlp(K, 1);
    await expectRejectsNoLeak(() => fit(net, data, natural(), { seed: NaN }), /^fit: seed must be a finite number \(got NaN\)/);
    // A string used to fail inside tfjs with "optimizer.applyGradients is not a function", leaking the gradients.
    await expectRejectsNoLeak(() => fit(net, data, natural(), { optimizer: 'adam' as never }), /^fit: optimizer must be a tfjs optimizer .*\(got "adam"\)/, TypeError);
    net.dispose();
  });

  it('fit releases its optimizer when resuming fails: a corrupt latest.json (named), a checkpoint of another network', async () => {
    const dir = path.join(tmp, 'corrupt');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'latest.json'), '{"checkpoint": "epoch-0001"');
    const net = mlp(K, 2);
    const file = path.join(dir, 'latest.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await expectRejectsNoLeak(() => fit(net, data, natural(), { checkpoint: { dir }, resume: true }), new RegExp(`^loadLatestCheckpoint: ${file} must hold valid JSON`));
    await expectRejectsNoLeak(() => loadLatestCheckpoint(dir), new RegExp(`^loadLatestCheckpoint: ${file} must hold valid JSON`));
    // A checkpoint folder that latest.json names but that is missing.
    fs.writeFileSync(path.join(dir, 'latest.json'), '{"checkpoint": "epoch-0009"}');
    await expectRejectsNoLeak(() => loadLatestCheckpoint(dir), /^loadLatestCheckpoint: .*epoch-0009\/checkpoint\.json must exist \(named by .*latest\.json\)/);

    const other = path.join(tmp, 'other');
    await fit(net, data, natural(), { checkpoint: { dir: other }, epochs: 1 });
    const bigger = mlp(K, 3, 24);
    await expectRejectsNoLeak(() => fit(bigger, data, natural(), { checkpoint: { dir: other }, resume: true, epochs: 2 }), /^fit: resume must find variable 0 of shape/);
    net.dispose();
    bigger.dispose();
  });

  it('fit releases its probe sample when the student returns rank-1 logits', async () => {
    const v = tf.variable(tf.ones([12]));
    const rank1 = { forward: (x: tf.Tensor) => ({ logits: tf.mul(tf.sum(x, 1), tf.sum(v)) as unknown as tf.Tensor2D }), trainableVariables: [v], variables: [v] };
    await expectRejectsNoLeak(() => fit(rank1, data, natural()), /^fit: student must return logits \[B, C\] for a batch of B/);
    v.dispose();
  });

  it('fit and evaluate name the first example that holds NaN, also when the data arrives in batches', async () => {
    const values = data.x.arraySync();
    values[29]![4] = NaN;
    const bad = tf.tensor2d(values);
    const net = mlp(K, 4);
    await expectRejectsNoLeak(() => fit(net, { x: bad, y: data.y }, natural()), /^fit: data.x must hold finite numbers \(got "NaN or ±Infinity in example 29"\)/);
    await expectRejectsNoLeak(
      () => fit(net, data, natural(), { validation: { x: bad, y: data.y } }),
      /^fit: validation.x must hold finite numbers \(got "NaN or ±Infinity in example 29"\)/
    );
    // In batches of 16, example 29 is the 14th of the second batch: the index counts from the start of the pass.
    async function* batches(): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
      for (let i = 0; i < 3; i++) {
        await Promise.resolve();
        yield { x: tf.slice(bad, i * 16, 16), y: tf.slice(data.y, i * 16, 16) };
      }
    }
    await expectRejectsNoLeak(() => fit(net, { [Symbol.asyncIterator]: batches }, natural()), /^fit: data.x must hold finite numbers \(got "NaN or ±Infinity in example 29"\)/);
    const model: Model = (x) => net.apply(x) as tf.Tensor2D;
    await expectRejectsNoLeak(() => evaluate(model, bad, data.y), /^evaluate: x must hold finite numbers \(got "NaN or ±Infinity in example 29"\)/);
    // Labels out of range name their index too.
    const labels = data.y.arraySync();
    labels[40] = 5;
    const badLabels = tf.tensor1d(labels, 'int32');
    await expectRejectsNoLeak(() => fit(net, { x: data.x, y: badLabels }, pgdAt({ eps: 0.1 })), /^fit: data.y must hold class indices < 3 \(the number of classes\) \(got "5 at index 40"\)/);
    tf.dispose([bad, badLabels]);
    net.dispose();
  });

  it('fit checks every epoch of batches from an iterable, with logEvery too, before the bad batch is used', async () => {
    // The second pass yields a bad batch (a label beyond the classes, or NaN inputs): checked on the device and read
    // back with the loss, so no readback of its own, and reported by its index in the pass.
    const labels = data.y.arraySync();
    labels[20] = 7;
    const badY = tf.tensor1d(labels, 'int32');
    const values = data.x.arraySync();
    values[37]![1] = NaN;
    const badX = tf.tensor2d(values);
    const outside = tf.add(data.x, 2);
    const changing = (x2: tf.Tensor, y2: tf.Tensor1D): AsyncIterable<{ x: tf.Tensor; y: tf.Tensor1D }> => {
      let pass = 0;
      return {
        async *[Symbol.asyncIterator]() {
          // Pass 0 is fit's peek at the first batch, pass 1 the first epoch.
          const [x, y] = pass++ < 2 ? [data.x, data.y] : [x2, y2];
          for (let i = 0; i < 3; i++) {
            await Promise.resolve();
            yield { x: tf.slice(x, i * 16, 16), y: tf.slice(y, i * 16, 16) };
          }
        }
      };
    };
    for (const logEvery of [1, 2, 5]) {
      // With logEvery > 1 the updates of the bad batch's group are applied before the read: a fresh net each time.
      const cases: Array<[tf.Tensor, tf.Tensor1D, RegExp]> = [
        [data.x, badY, /^fit: data.y must hold class indices < 3 \(the number of classes\) \(got "7 at index 20"\)/],
        [badX, data.y, /^fit: data.x must hold finite numbers \(got "NaN or ±Infinity in example 37"\)/],
        [outside, data.y, /^fit: data.x must lie inside bounds \[0, 1\] \(got "example 0 has values outside"\)/]
      ];
      for (const [x2, y2, message] of cases) {
        const net = mlp(K, 4);
        await expectRejectsNoLeak(() => fit(net, changing(x2, y2), pgdAt({ eps: 0.1, steps: 2 }), { epochs: 2, logEvery }), message);
        net.dispose();
      }
    }
    const net = mlp(K, 4);
    // In the default mode the bad batch's update is never applied: the weights end as those of a run whose second
    // pass stops before the bad batch.
    const labelsAt = data.y.arraySync();
    labelsAt[40] = 9;
    const late = tf.tensor1d(labelsAt, 'int32');
    const start = net.getWeights().map((w) => w.clone());
    const stopped = mlp(K, 4);
    stopped.setWeights(start);
    let pass = 0;
    const shorter = {
      async *[Symbol.asyncIterator]() {
        const n = pass++ < 2 ? 3 : 2;
        for (let i = 0; i < n; i++) {
          await Promise.resolve();
          yield { x: tf.slice(data.x, i * 16, 16), y: tf.slice(data.y, i * 16, 16) };
        }
      }
    };
    await fit(stopped, shorter, natural(), { epochs: 2, seed: 3 });
    net.setWeights(start);
    await expectRejectsNoLeak(() => fit(net, changing(data.x, late), natural(), { epochs: 2, seed: 3 }), /got "9 at index 40"/);
    expect(net.getWeights().map((w) => w.arraySync())).toEqual(stopped.getWeights().map((w) => w.arraySync()));
    tf.dispose(start);
    stopped.dispose();
    tf.dispose([badY, badX, outside, late]);
    net.dispose();
  });

  it('attacks reject models with int32 outputs with an error naming the attack, not one from inside tfjs', () => {
    const w = tf.ones([12, K]);
    const intModel: Model = (x) => tf.tidy(() => tf.cast(tf.matMul(x as tf.Tensor2D, w), 'int32') as tf.Tensor2D);
    const rule = (fn: string): RegExp => new RegExp(`^${fn}: model must return float32 logits \\(got an int32 tensor of shape`);
    expectThrowsNoLeak(() => pgd(intModel, data.x, data.y, { eps: 0.1 }), rule('pgd'), TypeError);
    expectThrowsNoLeak(() => apgd(intModel, data.x, data.y, { eps: 0.1, steps: 4 }), rule('apgd'), TypeError);
    expectThrowsNoLeak(() => square(intModel, data.x, data.y, { eps: 0.1, queries: 4 }), rule('square'), TypeError);
    expectThrowsNoLeak(() => tradesAttack(intModel, data.x, data.y, { eps: 0.1 }), rule('tradesAttack'), TypeError);
    expectThrowsNoLeak(() => fgsm(intModel, data.x, data.y, { eps: 0.1 }), rule('fgsm'), TypeError);
    w.dispose();
  });

  it('attacks whose options are required reject missing or non-object options with a TypeError naming them', () => {
    const model: Model = (x) => tf.tidy(() => tf.matMul(x as tf.Tensor2D, tf.ones([12, K])));
    const call = fgsm as unknown as (...args: unknown[]) => tf.Tensor;
    expectThrowsNoLeak(() => call(model, data.x, data.y), /^fgsm: options must be an object \(got undefined\)/, TypeError);
    expectThrowsNoLeak(() => call(model, data.x, data.y, null), /^fgsm: options must be an object \(got null\)/, TypeError);
    const pgdCall = pgd as unknown as (...args: unknown[]) => tf.Tensor;
    expectThrowsNoLeak(() => pgdCall(model, data.x, data.y), /^pgd: options must be an object/, TypeError);
  });

  it('errors name the function the user called, not an inner one, and come before any work', async () => {
    const w3 = tf.tensor2d(Array.from({ length: 36 }, (_, i) => Math.sin(i)), [12, 3]);
    const threeClass: Model = (x) => tf.tidy(() => tf.matMul(x as tf.Tensor2D, w3));
    let calls = 0;
    const counted: Model = (x) => {
      calls += 1;
      return threeClass(x);
    };
    // APGD-T needs 4 classes: said before APGD-CE runs (one probe call of the model), naming autoAttack.
    await expectRejectsNoLeak(() => autoAttack(counted, data.x, data.y, { eps: 0.1 }), /^autoAttack: model must return logits for at least 4 classes/);
    expect(calls).toBe(1);
    const outside = tf.add(data.x, 2);
    await expectRejectsNoLeak(() => autoAttack(threeClass, outside, data.y, { eps: 0.1 }), /^autoAttack: x must lie inside bounds \[0, 1\]/);
    const badY = tf.tensor1d([0, 1], 'int32');
    await expectRejectsNoLeak(() => robustnessCurve(threeClass, data.x, badY, (eps) => (m, x, y) => pgd(m, x, y, { eps }), [0.1]), /^robustnessCurve: y must have shape \[48\]/);
    // fit with an adversarial objective names its own data, by example, instead of "pgd: x".
    const net = mlp(K, 5);
    await expectRejectsNoLeak(() => fit(net, { x: outside, y: data.y }, pgdAt({ eps: 0.1 })), /^fit: data.x must lie inside bounds \[0, 1\] \(got "example 0 has values outside"\)/);
    tf.dispose([w3, outside, badY]);
    net.dispose();
  });

  it('fromLayersModel releases what the model returned when it is not one tensor', () => {
    const twoOutputs = { apply: (x: tf.Tensor) => [tf.clone(x), tf.clone(x)] };
    const model = fromLayersModel(twoOutputs);
    expectThrowsNoLeak(() => model(data.x), /^fromLayersModel: model must return a single tensor of logits/, TypeError);
  });
});

describe('checkpoint checksums and the folder lock', () => {
  let data: { x: tf.Tensor2D; y: tf.Tensor1D };
  let tmp: string;
  beforeAll(async () => {
    await useBackend('cpu');
    data = blobs(48, K, 5);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-sums-'));
  });
  afterAll(() => {
    tf.dispose([data.x, data.y]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a flipped or truncated byte is an error naming the file; resume falls back to the previous kept checkpoint and says so', async () => {
    const dir = path.join(tmp, 'flip');
    const whole = mlp(K, 6);
    await fit(whole, data, natural(), { epochs: 3, seed: 1, checkpoint: { dir, keep: 2 } });
    const bin = path.join(dir, 'epoch-0003', 'tensors.bin');
    const bytes = fs.readFileSync(bin);
    const flipped = Buffer.from(bytes);
    flipped[17] = (flipped[17] ?? 0) ^ 0x10;
    fs.writeFileSync(bin, flipped);
    const escaped = bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await expectRejectsNoLeak(() => loadLatestCheckpoint(dir), new RegExp(`^loadLatestCheckpoint: ${escaped} must match the checksum in its manifest .*tensor weights/0 changed`));
    fs.writeFileSync(bin, bytes.subarray(0, 40));
    await expectRejectsNoLeak(() => loadLatestCheckpoint(dir), new RegExp(`^loadLatestCheckpoint: ${escaped} must match the checksum`));
    // The manifest is checked too: an edited number still parses, but no longer matches its checksum.
    const manifest = path.join(dir, 'epoch-0002', 'checkpoint.json');
    const text = fs.readFileSync(manifest, 'utf8');
    fs.writeFileSync(manifest, text.replace('"epoch":2', '"epoch":7'));
    const ckpt = await loadLatestCheckpoint(dir, { fallback: true }).catch((e: unknown) => e);
    expect((ckpt as Error).message).toMatch(/must match the checksum/);
    fs.writeFileSync(manifest, text);
    const recovered = await loadLatestCheckpoint(dir, { fallback: true });
    expect(recovered?.epoch).toBe(2);
    expect(recovered?.recovery?.skipped[0]?.folder).toMatch(/epoch-0003$/);
    tf.dispose([...(recovered?.weights ?? []), ...(recovered?.optimizer ?? []).map((o) => o.tensor)]);
    // fit resumes from epoch 2, warns, and ends where an uninterrupted run ends.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const resumed = mlp(K, 6);
    const reference = mlp(K, 6);
    await fit(reference, data, natural(), { epochs: 4, seed: 1 });
    await fit(resumed, data, natural(), { epochs: 4, seed: 1, checkpoint: { dir, keep: 2 }, resume: true });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^fit: resuming from .*epoch-0002, the newest readable checkpoint \(skipped .*epoch-0003: .*tensors.bin must match the checksum/));
    warn.mockRestore();
    expect(resumed.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(reference.getWeights().map((w) => Array.from(w.dataSync())));
    for (const n of [whole, resumed, reference]) n.dispose();
  });

  it('a second fit on a folder a live fit is writing refuses; a stale lock of a dead process is taken over', async () => {
    const dir = path.join(tmp, 'locked');
    const a = mlp(K, 7);
    const b = mlp(K, 8);
    let second: Promise<unknown> | undefined;
    await fit(a, data, natural(), {
      epochs: 2,
      checkpoint: { dir },
      onBatchEnd: () => {
        second ??= fit(b, data, natural(), { checkpoint: { dir } }).catch((e: unknown) => e);
      }
    });
    const refused = (await second) as Error;
    expect(refused).toBeInstanceOf(RangeError);
    expect(refused.message).toMatch(new RegExp(`^fit: checkpoint.dir must not be in use by another live fit \\(delete .*\\.ardkit-lock if that run is gone\\) \\(got "held by pid ${String(process.pid)} on .* since `));
    // Released when the run ends: the folder can be used again.
    expect(fs.existsSync(path.join(dir, '.ardkit-lock'))).toBe(false);
    // A lock left by a process that no longer exists (a run killed with SIGKILL).
    const { spawnSync } = await import('node:child_process');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.writeFileSync(path.join(dir, '.ardkit-lock'), JSON.stringify({ pid: Number(dead), hostname: os.hostname(), since: 'then' }));
    await fit(b, data, natural(), { epochs: 3, checkpoint: { dir }, resume: true });
    expect(fs.existsSync(path.join(dir, '.ardkit-lock'))).toBe(false);
    a.dispose();
    b.dispose();
  });
});

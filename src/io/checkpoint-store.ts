/**
 * The checkpoint store: checkpoints of `fit` as folders of a tensor file and a manifest, written atomically through
 * `writeFileAtomic` (atomic-write.ts) (the synced write model saving uses too), verified by checksums when read (Node only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { rangeError, named, argumentError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';

/** A tensor with a name, as optimizers save their state. */
export interface NamedTensor {
  /** The name. */
  readonly name: string;
  /** The value. */
  readonly tensor: tf.Tensor;
}

/** Everything a checkpoint holds. */
export interface Checkpoint {
  /** The number of epochs completed. */
  readonly epoch: number;
  /** The run's random state after that epoch. */
  readonly randomState: number;
  /** Student variables, in the student's `variables` order. */
  readonly weights: readonly tf.Tensor[];
  /** The optimizer's state (`optimizer.getWeights()`), in order. */
  readonly optimizer: readonly NamedTensor[];
  /** The objective's numbers. */
  readonly objectiveValues: Readonly<Record<string, number>>;
  /** The objective's tensors. */
  readonly objectiveTensors: Readonly<Record<string, tf.Tensor>>;
  /** Anything JSON-serialisable to keep (the history so far). */
  readonly extra: unknown;
  /**
   * Set by {@link loadLatestCheckpoint} when the latest checkpoint could not be read and an older kept one was
   * loaded instead: the folders skipped, newest first, and why.
   */
  readonly recovery?: CheckpointRecovery;
}

/** A checkpoint folder {@link loadLatestCheckpoint} could not read. */
export interface SkippedCheckpoint {
  /** The folder (or `latest.json`). */
  readonly folder: string;
  /** The error it gave. */
  readonly reason: string;
}

/** How {@link loadLatestCheckpoint} recovered from a corrupt latest checkpoint. */
export interface CheckpointRecovery {
  /** The folder it loaded instead. */
  readonly folder: string;
  /** The folders it skipped, newest first, and why. */
  readonly skipped: readonly SkippedCheckpoint[];
}

interface TensorEntry {
  readonly group: 'weights' | 'optimizer' | 'objective';
  readonly name: string;
  readonly dtype: tf.DataType;
  readonly shape: number[];
  readonly offset: number;
  readonly bytes: number;
  /** SHA-256 of the tensor's bytes (hex; version 2). */
  readonly sha256?: string;
}

interface Manifest {
  readonly format: 'ardkit-checkpoint';
  readonly version: 1 | 2;
  /** SHA-256 of the whole data file (hex; version 2). */
  readonly sha256?: string;
  readonly epoch: number;
  readonly randomState: number;
  readonly objectiveValues: Record<string, number>;
  readonly extra: unknown;
  readonly tensors: TensorEntry[];
}

const MANIFEST = 'checkpoint.json';
/** The manifest's own SHA-256, beside it, so a flipped byte in the JSON is caught too. */
const MANIFEST_SUM = 'checkpoint.json.sha256';
const DATA = 'tensors.bin';
const LATEST = 'latest.json';

/** Test hooks: simulate a crash at a chosen point of a save. */
export interface SaveHooks {
  /** Called after the tensors and manifest are written and synced, before the checkpoint is committed. */
  readonly beforeCommit?: () => void;
}

/**
 * Writes a checkpoint atomically: everything goes to a temporary folder that is synced and renamed into place
 * (`epoch-0001/`), and only then is `latest.json` replaced (written to a temporary file, synced, renamed). A crash
 * at any point leaves the previous latest checkpoint intact and readable. Older checkpoints beyond `keep` are removed.
 *
 * @param dir - the checkpoint folder (created if missing).
 * @param checkpoint - what to save; tensors are read, not disposed.
 * @param options - `keep` (default 2) checkpoints to keep; `hooks` for tests.
 * @returns the folder of the new checkpoint.
 * @throws Error naming the folder when it cannot be written.
 * @example
 * await saveCheckpoint('runs/rslad', { epoch: 3, randomState: rng.getState(), weights, optimizer: await opt.getWeights(), objectiveValues: {}, objectiveTensors: {}, extra: null });
 */
export async function saveCheckpoint(dir: string, checkpoint: Checkpoint, options: { readonly keep?: number; readonly hooks?: SaveHooks } = {}): Promise<string> {
  return named('saveCheckpoint', async () => {
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    await fs.mkdir(dir, { recursive: true });
    const groups: Array<[TensorEntry['group'], string, tf.Tensor]> = [
      ...checkpoint.weights.map((t, i): [TensorEntry['group'], string, tf.Tensor] => ['weights', String(i), t]),
      ...checkpoint.optimizer.map((w): [TensorEntry['group'], string, tf.Tensor] => ['optimizer', w.name, w.tensor]),
      ...Object.entries(checkpoint.objectiveTensors).map(([name, t]): [TensorEntry['group'], string, tf.Tensor] => ['objective', name, t])
    ];
    const chunks: Uint8Array[] = [];
    const entries: TensorEntry[] = [];
    let offset = 0;
    const { createHash } = await import('node:crypto');
    const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
    for (const [group, name, t] of groups) {
      const values = await t.data();
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
      entries.push({ group, name, dtype: t.dtype, shape: [...t.shape], offset, bytes: bytes.byteLength, sha256: sha256(bytes) });
      chunks.push(bytes);
      offset += bytes.byteLength;
    }
    const data = new Uint8Array(offset);
    let at = 0;
    for (const c of chunks) {
      data.set(c, at);
      at += c.byteLength;
    }
    const manifest: Manifest = {
      format: 'ardkit-checkpoint',
      version: 2,
      sha256: sha256(data),
      epoch: checkpoint.epoch,
      randomState: checkpoint.randomState,
      objectiveValues: { ...checkpoint.objectiveValues },
      extra: checkpoint.extra,
      tensors: entries
    };
    const name = `epoch-${String(checkpoint.epoch).padStart(4, '0')}`;
    const tmp = path.join(dir, `.tmp-${name}-${String(process.pid)}-${String(Date.now())}`);
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp);
    try {
      await writeFileAtomic(path.join(tmp, DATA), data);
      const manifestText = JSON.stringify(manifest);
      await writeFileAtomic(path.join(tmp, MANIFEST), manifestText);
      await writeFileAtomic(path.join(tmp, MANIFEST_SUM), sha256(manifestText));
      options.hooks?.beforeCommit?.();
      const final = path.join(dir, name);
      await fs.rm(final, { recursive: true, force: true });
      await fs.rename(tmp, final);
      await writeFileAtomic(path.join(dir, LATEST), JSON.stringify({ checkpoint: name }));
    } catch (error) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw new Error(`saveCheckpoint: cannot write a checkpoint to ${dir}: ${(error as Error).message}`, { cause: error });
    }
    const keep = options.keep ?? 2;
    const existing = (await fs.readdir(dir)).filter((f) => /^epoch-\d+$/.test(f)).sort();
    for (const old of existing.slice(0, Math.max(0, existing.length - keep))) {
      if (old !== name) await fs.rm(path.join(dir, old), { recursive: true, force: true });
    }
    return path.join(dir, name);
  });
}

/** Parses a checkpoint's JSON file; a file that does not parse is a RangeError naming it. */
function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw argumentError(RangeError, `${file} must hold valid JSON (got ${JSON.stringify(text.slice(0, 40))}: ${(error as Error).message})`, { cause: error });
  }
}

/** Options of {@link loadLatestCheckpoint}. */
export interface LoadCheckpointOptions {
  /**
   * When the latest checkpoint is corrupt (a checksum that does not match, a truncated file, JSON that does not
   * parse), load the newest older kept checkpoint instead and report it in `recovery`, rather than throw.
   * @defaultValue false
   */
  readonly fallback?: boolean;
}

/**
 * Loads the latest complete checkpoint of a folder, or `undefined` when there is none. Leftovers of an interrupted
 * save are ignored. Every tensor is checked against the SHA-256 its manifest records (checkpoints of version 2), and
 * the manifest against its own.
 *
 * @param dir - the checkpoint folder.
 * @param options - see {@link LoadCheckpointOptions}.
 * @returns the checkpoint (the caller disposes its tensors), or `undefined`.
 * @throws RangeError naming the file when the latest checkpoint is corrupt (without `fallback`, or when no kept
 * checkpoint can be read): JSON that does not parse, a missing manifest, a data file shorter than its manifest says,
 * bytes that do not match their checksum.
 * @example
 * const ckpt = await loadLatestCheckpoint('runs/rslad', { fallback: true });
 * if (ckpt?.recovery !== undefined) console.warn(`resumed from ${ckpt.recovery.folder}`);
 */
export async function loadLatestCheckpoint(dir: string, options: Readonly<LoadCheckpointOptions> = {}): Promise<Checkpoint | undefined> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  return named('loadLatestCheckpoint', async () => {
    let latest: string;
    try {
      latest = await fs.readFile(path.join(dir, LATEST), 'utf8');
    } catch {
      return undefined;
    }
    let named: string | undefined;
    let first: unknown;
    try {
      const pointer = parseJson(path.join(dir, LATEST), latest) as { checkpoint?: unknown } | null;
      if (typeof pointer !== 'object' || pointer === null || typeof pointer.checkpoint !== 'string') {
        rangeError(path.join(dir, LATEST), 'name a checkpoint folder', latest);
      }
      named = pointer.checkpoint;
      return await loadFolder(dir, named);
    } catch (error) {
      if (options.fallback !== true || !(error instanceof RangeError)) throw error;
      first = error;
    }
    // Older kept checkpoints, newest first (only those before the one latest.json names, when it names one).
    const older = (await fs.readdir(dir))
      .filter((f) => /^epoch-\d+$/.test(f) && (named === undefined || f < named))
      .sort()
      .reverse();
    const skipped: SkippedCheckpoint[] = [{ folder: path.join(dir, named ?? LATEST), reason: (first as Error).message }];
    for (const folder of older) {
      try {
        const checkpoint = await loadFolder(dir, folder);
        return { ...checkpoint, recovery: { folder: path.join(dir, folder), skipped } };
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        skipped.push({ folder: path.join(dir, folder), reason: error.message });
      }
    }
    throw first;
  });
}

/** Reads and verifies one checkpoint folder. */
async function loadFolder(dir: string, name: string): Promise<Checkpoint> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { createHash } = await import('node:crypto');
  const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
  const folder = path.join(dir, name);
  const manifestFile = path.join(folder, MANIFEST);
  let manifestText: string;
  try {
    manifestText = await fs.readFile(manifestFile, 'utf8');
  } catch (error) {
    throw argumentError(RangeError, `${manifestFile} must exist (named by ${path.join(dir, LATEST)}): ${(error as Error).message}`, { cause: error });
  }
  const manifestSum = await fs.readFile(path.join(folder, MANIFEST_SUM), 'utf8').catch(() => undefined);
  if (manifestSum !== undefined && manifestSum.trim() !== sha256(manifestText)) {
    rangeError(manifestFile, `match its checksum in ${MANIFEST_SUM} (sha256 ${manifestSum.trim().slice(0, 12)}…)`, `sha256 ${sha256(manifestText).slice(0, 12)}…`);
  }
  const manifest = parseJson(manifestFile, manifestText) as Manifest;
  if (manifest.format !== 'ardkit-checkpoint' || (manifest.version !== 1 && manifest.version !== 2)) {
    rangeError(manifestFile, 'be an ardkit checkpoint of version 1 or 2', `${JSON.stringify(manifest.format)} ${JSON.stringify(manifest.version)}`);
  }
  const dataFile = path.join(folder, DATA);
  const data = new Uint8Array(await fs.readFile(dataFile));
  if (manifest.version === 2 && manifest.sha256 !== undefined && sha256(data) !== manifest.sha256) {
    // Name the first tensor whose bytes changed, when the file still has its length.
    const bad = manifest.tensors.find((e) => e.offset + e.bytes <= data.byteLength && e.sha256 !== undefined && sha256(data.subarray(e.offset, e.offset + e.bytes)) !== e.sha256);
    const where = bad === undefined ? `${String(data.byteLength)} bytes` : `tensor ${bad.group}/${bad.name} changed`;
    rangeError(dataFile, `match the checksum in its manifest (sha256 ${manifest.sha256.slice(0, 12)}…)`, `${where}, sha256 ${sha256(data).slice(0, 12)}…`);
  }
  const weights: tf.Tensor[] = [];
  const optimizer: Array<{ name: string; tensor: tf.Tensor }> = [];
  const objectiveTensors: Record<string, tf.Tensor> = {};
  for (const e of manifest.tensors) {
    if (e.offset + e.bytes > data.byteLength) {
      tf.dispose([...weights, ...optimizer.map((o) => o.tensor), ...Object.values(objectiveTensors)]);
      rangeError(dataFile, `hold ${String(e.offset + e.bytes)} bytes`, `${String(data.byteLength)} bytes (truncated)`);
    }
    const raw = data.slice(e.offset, e.offset + e.bytes).buffer;
    const values = e.dtype === 'int32' ? new Int32Array(raw) : e.dtype === 'bool' ? new Uint8Array(raw) : new Float32Array(raw);
    const t = tf.tensor(values, e.shape, e.dtype);
    if (e.group === 'weights') weights.push(t);
    else if (e.group === 'optimizer') optimizer.push({ name: e.name, tensor: t });
    else objectiveTensors[e.name] = t;
  }
  return {
    epoch: manifest.epoch,
    randomState: manifest.randomState,
    weights,
    optimizer,
    objectiveValues: manifest.objectiveValues,
    objectiveTensors,
    extra: manifest.extra
  };
}

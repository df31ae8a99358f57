/**
 * The method benchmark's cache: results kept as JSON files in one folder (`--cache`), and, in a parallel run, claims
 * on pieces of work, files created atomically that hold the claiming worker's PID.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
// The checkpoint lock's test of a holder, from the source as bench/toy-evaluation.ts imports it (it is not public).
import { alive } from '../src/io/lock.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The file cache of one run, shared by its workers. */
export class MethodsCache {
  /** Seconds of every training and evaluation of the run, by cache key (cached work counts with its measured time). */
  readonly computed = new Map<string, number>();

  /**
   * @param dir - the cache folder.
   * @param inWorker - whether this process is a worker of a parallel run: then {@link shared} work is claimed.
   */
  constructor(readonly dir: string, readonly inWorker: boolean) {}

  /** The file that holds `key`. */
  file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  /** The value cached under `key`; undefined when there is none (or it cannot be read). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what the JSON holds
  read<T>(key: string): T | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file(key), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Caches `value` under `key`, atomically (written aside, then renamed). */
  write(key: string, value: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file(key)}.tmp-${String(process.pid)}`;
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, this.file(key));
  }

  /** Minutes of all the work {@link computed} holds. */
  computeMinutes(): number {
    return [...this.computed.values()].reduce((a, b) => a + b, 0) / 60;
  }

  /** Claims `key` for this worker; false when a live worker holds it. A claim of a dead process is taken over. */
  claim(key: string): boolean {
    fs.mkdirSync(this.dir, { recursive: true });
    const file = path.join(this.dir, `${key}.claim`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = Number(fs.readFileSync(file, 'utf8'));
      if (holder === process.pid) return true;
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) return false;
      fs.rmSync(file, { force: true });
    }
    return false;
  }

  /** Releases this worker's claim on `key`. */
  unclaim(key: string): void {
    fs.rmSync(path.join(this.dir, `${key}.claim`), { force: true });
  }

  /** Removes the claims an interrupted run left: their holders are gone, and the run starting owns the cache now. */
  clearClaims(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    for (const f of fs.readdirSync(this.dir)) if (f.endsWith('.claim')) fs.rmSync(path.join(this.dir, f), { force: true });
  }

  /**
   * Work another process needs (a teacher, the transfer matrix), done by one worker at a time: the first to claim it
   * does it, the others wait and then load what it left (loading goes through fit's checkpoint folder too, whose
   * lock admits one process at a time). `done` tells a waiting worker the result exists. Outside a parallel run the
   * work is simply done.
   */
  async shared(key: string, done: () => boolean, work: () => Promise<void>): Promise<void> {
    if (!this.inWorker) return work();
    while (!this.claim(key)) await sleep(done() ? 200 : 2000);
    try {
      await work();
    } finally {
      this.unclaim(key);
    }
  }
}

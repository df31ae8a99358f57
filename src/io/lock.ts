/** A lock file that keeps two `fit` runs from writing the same checkpoint folder (Node only). */
import { rangeError } from '../core/errors.js';
import { writeSynced } from './atomic-write.js';

/** The lock file's name inside a checkpoint folder. */
export const LOCK_FILE = '.ardkit-lock';

interface LockContent {
  readonly pid: number;
  readonly hostname: string;
  readonly since: string;
}

/**
 * Whether a process of this machine is alive: signal 0 tests without sending anything, and EPERM means alive but
 * someone else's. Internal (the method benchmark's work claims use it too).
 *
 * @throws never throws.
 * @example
 * if (!alive(holder)) takeOver();
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of a checkpoint folder: creates `<dir>/.ardkit-lock` holding this process's pid, host and start
 * time, atomically (`open(…, 'wx')`). A lock whose holder is a dead process on this host (a run killed with SIGKILL)
 * is stale and taken over.
 *
 * @param dir - the checkpoint folder (must exist).
 * @returns a function that releases the lock (it removes the file only while this process holds it).
 * @throws RangeError naming the holder's pid, host, start time and the lock file when a live run holds it.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const os = await import('node:os');
  const file = path.join(dir, LOCK_FILE);
  const mine: LockContent = { pid: process.pid, hostname: os.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeSynced(file, JSON.stringify(mine), { exclusive: true });
      return async () => {
        const now = await fs.readFile(file, 'utf8').catch(() => '');
        if (now === JSON.stringify(mine)) await fs.rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: Partial<LockContent> = {};
    try {
      holder = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockContent>;
    } catch {
      // Unreadable or half-written: its writer died between open and write, so it is stale.
    }
    const sameHost = holder.hostname === undefined || holder.hostname === mine.hostname;
    if (typeof holder.pid === 'number' && (!sameHost || alive(holder.pid))) {
      rangeError(
        'checkpoint.dir',
        `not be in use by another live fit (delete ${file} if that run is gone)`,
        `held by pid ${String(holder.pid)} on ${holder.hostname ?? 'this host'} since ${holder.since ?? 'an unknown time'}`
      );
    }
    // Stale: the holder is gone. Take it over.
    await fs.rm(file, { force: true });
  }
  return rangeError('checkpoint.dir', 'have a lock file that can be taken', file);
}

/**
 * The one synced-write path of `ardkit/io` (Node only): model saving, checkpoints and the checkpoint lock all write
 * through {@link writeSynced}. The `node:` modules are imported inside the functions, so `ardkit/io` stays importable
 * where they do not exist.
 */

/**
 * Writes `data` to `file` and syncs it to disk before returning: the bytes are on disk, not only in the page cache,
 * when a later rename or a lock holder's check relies on them.
 *
 * @param file - the file to write; its folder must exist.
 * @param data - the bytes or text to write.
 * @param options - `exclusive`: create the file, failing with the file system's `EEXIST` error when it exists (a lock).
 * @throws the file system's error when the file cannot be written.
 */
export async function writeSynced(file: string, data: Uint8Array | string, options: { readonly exclusive?: boolean } = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const handle = await fs.open(file, options.exclusive === true ? 'wx' : 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `file` atomically (Node only): to a temporary file in the same folder (so the rename never crosses
 * file systems), synced to disk by {@link writeSynced}, then renamed over `file`. A reader sees the old file or the new
 * one, never half of one; a failed write removes its temporary file.
 *
 * @param file - the file to create or replace; its folder must exist.
 * @param data - the bytes or text to write.
 * @throws the file system's error when the file cannot be written or renamed.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { randomBytes } = await import('node:crypto');
  // Hidden, and unique per process and call: two saves at once never write the same temporary file.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${String(process.pid)}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeSynced(tmp, data, { exclusive: true });
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Writes `data` to `file` atomically (Node only): to a temporary file in the same folder (so the rename never crosses
 * file systems), synced to disk, then renamed over `file`. A reader sees the old file or the new one, never half of
 * one; a failed write removes its temporary file. The `node:` modules are imported inside the function, so
 * `ardkit/io` stays importable where they do not exist.
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
    const handle = await fs.open(tmp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

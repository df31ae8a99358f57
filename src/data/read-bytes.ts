import { argumentError } from '../core/errors.js';
/**
 * Reads a file's bytes in Node, gunzipping it when it starts with the gzip magic `1f 8b`. The `node:`
 * modules are imported inside the function, so `ardkit/data` stays importable in a browser.
 *
 * @param path - the file path.
 * @returns the (gunzipped) contents.
 * @throws Error naming the function the user called and the file when it cannot be read or gunzipped.
 * @example
 * const bytes = await readBytes('readCifar', 'data_batch_1.bin');
 */
export async function readBytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    throw argumentError(Error, `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const { gunzipSync } = await import('node:zlib');
    try {
      bytes = new Uint8Array(gunzipSync(bytes));
    } catch (error) {
      throw argumentError(Error, `${path} looks gzipped but cannot be gunzipped: ${(error as Error).message}`, { cause: error });
    }
  }
  return bytes;
}

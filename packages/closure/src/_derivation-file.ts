import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ClosureError, DerivationError } from './errors.js';

/** The bytes of a derivation file, and whether its owner may execute it (a NAR records that). */
export interface DerivationFile {
  readonly bytes: Buffer;
  readonly executable: boolean;
}

/**
 * Reads the store file `path` (from the chroot store `storeRoot`, if given), refusing anything but a
 * regular file and a file over `maxBytes` before reading a byte of it.
 */
export async function readDerivationFile(path: string, storeRoot: string | undefined, maxBytes: number): Promise<DerivationFile> {
  const onDisk = storeRoot ? join(storeRoot, path) : path;
  try {
    const handle = await open(onDisk, 'r');
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new DerivationError('MALFORMED', path, undefined, 'not a regular file');
      if (stat.size > maxBytes) throw new DerivationError('TOO_LARGE', path, undefined, `${stat.size} bytes, more than the limit of ${maxBytes} for a derivation`);
      // Read at most one byte more than stat said: a file that grows meanwhile is refused, not slurped.
      const buffer = Buffer.allocUnsafe(stat.size + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length === buffer.length) throw new DerivationError('MALFORMED', path, undefined, 'the file grew while it was read');
      }
      return { bytes: buffer.subarray(0, length), executable: (stat.mode & 0o100) !== 0 };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ClosureError) throw error;
    const where = onDisk === path ? '' : ` (${onDisk})`;
    throw new DerivationError('NOT_FOUND', path, undefined, `cannot read the derivation${where}: ${(error as Error).message}`, { cause: error });
  }
}

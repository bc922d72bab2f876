import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CacheError } from './errors.js';

/**
 * The bytes of an entry file: never follows a symlink, never blocks on a FIFO, never reads more than
 * an entry can be. A hit's mtime is set to now, so prune removes what has not been used.
 */
export async function readEntryFile(file: string, maxBytes: number): Promise<Buffer | 'missing' | 'unsound'> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unsound';
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > maxBytes) return 'unsound';
    const bytes = Buffer.alloc(stat.size);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    const now = new Date();
    await handle.utimes(now, now).catch(() => {});
    return bytes.subarray(0, bytesRead);
  } catch {
    return 'unsound';
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Writes an entry file whole or not at all: to a temporary name beside it (which prune knows), then
 * renamed over it, so concurrent strata processes never see half an entry. Throws CacheError
 * `WRITE_FAILED` naming the file (`what` says which cache) and leaves no temporary file.
 */
export async function writeEntryFile(file: string, bytes: Uint8Array, what: string): Promise<void> {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(temp, bytes, { flag: 'wx', mode: 0o600 });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw new CacheError('WRITE_FAILED', `${what}: cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
}

import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Produces a file atomically: `write` fills a temporary file next to `target`, which is renamed
 * over `target` only when `write` resolves. On any error or abort the temporary file is removed
 * and `target` is left as it was.
 * @example await writeAtomically('out.tar', (temp) => pipeline(archive, createWriteStream(temp, { flags: 'wx' })));
 */
export async function writeAtomically<T>(target: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    const result = await write(temp);
    await rename(temp, target);
    return result;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

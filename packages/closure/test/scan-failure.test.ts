import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { ClosureError, scanClosure } from '../src/index.js';

/** Bytes this process has read with read(2) so far (/proc/self/io rchar). */
async function bytesRead(): Promise<number> {
  return Number(/rchar: (\d+)/.exec(await readFile('/proc/self/io', 'utf8'))![1]);
}

describe('scanClosure after a failure', () => {
  it('stops reading the other paths once one path fails', async () => {
    const dir = await makeTempDir();
    try {
      const big = '/nix/store/11111111111111111111111111111111-big';
      const bad = '/nix/store/22222222222222222222222222222222-has-a-fifo';
      const root = '/nix/store/33333333333333333333333333333333-root';
      await mkdir(join(dir.path, big), { recursive: true });
      await mkdir(join(dir.path, bad), { recursive: true });
      await mkdir(join(dir.path, root), { recursive: true });
      // 2 GiB of holes: quick to make, slow to read.
      const handle = await open(join(dir.path, big, 'data'), 'w');
      await handle.truncate(2 ** 31);
      await handle.close();
      await run('mkfifo', [join(dir.path, bad, 'fifo')]);
      await writeFile(join(dir.path, root, 'refs'), `${big}\n${bad}\n`);
      const failure = scanClosure([root], { storeRoot: dir.path });
      await expect(failure).rejects.toBeInstanceOf(ClosureError);
      await expect(failure).rejects.toThrow(`${dir.path}${bad}/fifo is neither a file, a directory nor a symlink`);
      const atFailure = await bytesRead();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // The failed call must not go on reading the 2 GiB file in the background.
      expect(await bytesRead()).toBeLessThan(atFailure + 16 * 2 ** 20);
    } finally {
      await dir.remove();
    }
  });
});

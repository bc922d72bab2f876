import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCustomisationLayer } from './build.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-build-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('buildCustomisationLayer contents', () => {
  it('names what a local contents item is when it is not a directory', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await writeFile(join(dir, 'file'), 'x');
    for (const [item, kind] of [[fifo, 'a named pipe'], ['/dev/null', 'a device'], [join(dir, 'file'), 'a file']]) {
      await expect(buildCustomisationLayer([item!], {}, { closureOf: async () => [] })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
        message: `contents: ${item} is ${kind}; a contents item is a store path (or a link into the store) or a local directory`,
      });
    }
  });
});

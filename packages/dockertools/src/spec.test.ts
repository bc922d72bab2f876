import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { streamLayeredImage } from './layered.js';
import { readSpecFile } from './spec.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-spec-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('spec and pipeline files', () => {
  it('refuse a directory, a device or a file beyond the limit, naming it', async () => {
    await expect(readSpecFile(dir)).rejects.toMatchObject({ code: 'INVALID_SPEC', message: `${dir}: cannot read: is a directory, not a file` });
    // /dev/zero never ends: it used to be read until Node's string limit (512 MiB of memory).
    await expect(readSpecFile('/dev/zero')).rejects.toMatchObject({ code: 'INVALID_SPEC', message: '/dev/zero: cannot read: is a device, not a file' });
    const huge = join(dir, 'huge.json');
    execFileSync('truncate', ['-s', '20M', huge]); // sparse: no disk used
    await expect(readSpecFile(huge)).rejects.toMatchObject({ code: 'INVALID_SPEC', message: `${huge}: cannot read: 20 MiB, more than the 16 MiB allowed` });
  });

  it('read a spec from a pipe (process substitution)', async () => {
    const fifo = join(dir, 'spec.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = writeFile(fifo, JSON.stringify({ name: 'from-a-pipe' }));
    expect(await readSpecFile(fifo)).toEqual({ name: 'from-a-pipe' });
    await writer;
  });

  it('refuse a layeringPipeline file that is a device, naming the option', async () => {
    await expect(streamLayeredImage({ name: 'x', layeringPipeline: '/dev/zero' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: 'layeringPipeline /dev/zero: is a device, not a file',
    });
  });
});

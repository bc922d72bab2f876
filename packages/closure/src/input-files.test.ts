import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readReferencesGraph } from './graph-file.js';
import { readRegistration } from './registration.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-closure-input-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('graph and registration files', () => {
  it('refuse a directory or a device instead of reading it, naming the file', async () => {
    await expect(readReferencesGraph(dir)).rejects.toMatchObject({ code: 'MALFORMED', message: `closure: graph file ${dir}: is a directory, not a file` });
    // /dev/zero never ends: it used to be read until Node's string limit (512 MiB of memory).
    await expect(readRegistration('/dev/zero')).rejects.toMatchObject({ code: 'MALFORMED', message: 'closure: registration file /dev/zero: is a device, not a file' });
  });

  it('refuse a file beyond the size limit before reading it', async () => {
    const huge = join(dir, 'huge.json');
    execFileSync('truncate', ['-s', '300M', huge]); // sparse: no disk used
    await expect(readReferencesGraph(huge)).rejects.toMatchObject({
      code: 'MALFORMED',
      message: `closure: graph file ${huge}: 300 MiB, more than the 128 MiB allowed`,
    });
  });
});

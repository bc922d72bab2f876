import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { spaceGuard } from './_tar-source.js';

describe('spaceGuard', () => {
  const through = (chosen: boolean) =>
    pipeline(
      Readable.from([Buffer.alloc(1 << 20), Buffer.alloc(1 << 20)]),
      spaceGuard('base.tar.gz', '/scratch', 1.5 * 2 ** 20, chosen),
      new Writable({ write: (_chunk, _encoding, callback) => callback() }),
    );

  it('stops a copy that outgrows the free space, naming the file, the directory and the knob the caller has', async () => {
    await expect(through(false)).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: 'base.tar.gz: decompresses to more than the 0.0 GiB free in /scratch (set TMPDIR to a larger file system)',
    });
    await expect(through(true)).rejects.toMatchObject({ message: expect.stringMatching(/\(give a tmpDir on a larger file system\)$/) });
  });

  it('passes a copy that fits', async () => {
    await expect(pipeline(Readable.from([Buffer.alloc(1000)]), spaceGuard('f', '/d', 1000, false), new Writable({ write: (_c, _e, cb) => cb() }))).resolves.toBeUndefined();
  });
});

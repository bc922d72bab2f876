import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeBlobFile } from './_blob-file.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir('strata-blob-file-');
});
afterEach(() => tmp.remove());

describe('writeBlobFile', () => {
  it('hands each lent chunk back once, after it is written, and writes every byte', async () => {
    const chunks = Array.from({ length: 40 }, () => randomBytes(300_000));
    const expected = Buffer.concat(chunks);
    const released = new Map<Buffer, number>();
    const lent = chunks.map((chunk) =>
      Object.defineProperty(chunk, Symbol.for('strata.release'), {
        value: () => {
          released.set(chunk, (released.get(chunk) ?? 0) + 1);
          chunk.fill(0); // what a producer does with it next: a release before the write would show as zeros
        },
      }),
    );
    const file = join(tmp.path, 'blob');
    // Plain chunks pass as they are.
    await writeBlobFile(Readable.from([...lent, Buffer.from('tail')]), file);
    expect((await readFile(file)).equals(Buffer.concat([expected, Buffer.from('tail')]))).toBe(true);
    expect(released.size).toBe(chunks.length);
    expect([...released.values()].every((n) => n === 1)).toBe(true);
  });

  it('never writes over an existing file', async () => {
    const file = join(tmp.path, 'there');
    await writeFile(file, 'keep');
    await expect(writeBlobFile(Readable.from([Buffer.from('new')]), file)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(file, 'utf8')).toBe('keep');
  });
});

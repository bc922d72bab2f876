import { randomBytes } from 'node:crypto';
import { fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diskDirectory, WriteBehind } from './_disk.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir('strata-disk-');
});
afterEach(() => tmp.remove());

const chunked = (bytes: Buffer, size: number) => Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));

describe('diskDirectory', () => {
  it('goes on while files are written behind it, and has every byte in place once flushed', async () => {
    const disk = diskDirectory(tmp.path);
    // 40 MiB: more than may be in flight, so the walk waits for room on the way.
    const big = randomBytes(40 << 20);
    const small = Array.from({ length: 50 }, (_, i) => randomBytes(1000 + i * 997));
    await disk.writeFile('/big', 0o644, chunked(big, 1 << 20));
    for (const [i, bytes] of small.entries()) await disk.writeFile(`/f${i}`, 0o600, chunked(bytes, 300));
    await disk.flush();
    expect(readFileSync(join(tmp.path, 'big')).equals(big)).toBe(true);
    for (const [i, bytes] of small.entries()) expect(readFileSync(join(tmp.path, `f${i}`)).equals(bytes)).toBe(true);
  });

  it('fails the file whose body fails, and closes it', async () => {
    const disk = diskDirectory(tmp.path);
    const body = new Readable({ read() {} });
    const written = disk.writeFile('/broken', 0o644, body);
    body.push(Buffer.from('part'));
    body.destroy(new Error('cut off'));
    await expect(written).rejects.toThrow('cut off');
    await disk.flush();
  });
});

describe('WriteBehind', () => {
  it('reports the first failed write on flush and on every later file, and closes the descriptor', async () => {
    const file = join(tmp.path, 'read-only');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    const behind = new WriteBehind();
    await behind.take(fd, Readable.from([Buffer.from('x')]), undefined);
    await expect(behind.flush()).rejects.toMatchObject({ code: 'EBADF' });
    expect(() => fstatSync(fd)).toThrow(/EBADF/);
    expect(() => behind.check()).toThrow(/EBADF/);
  });

  it('stops taking a body when the signal aborts', async () => {
    const behind = new WriteBehind();
    const fd = openSync(join(tmp.path, 'aborted'), 'w');
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    const taken = behind.take(fd, body, controller.signal);
    body.push(Buffer.from('first'));
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('stop'));
    body.push(Buffer.from('second'));
    await expect(taken).rejects.toThrow('stop');
    await behind.flush();
    expect(() => fstatSync(fd)).toThrow(/EBADF/);
  });
});

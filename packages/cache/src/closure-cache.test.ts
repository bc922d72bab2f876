import { chmod, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheError, ClosureCache, LayerCache } from './index.js';

const k = (c: string) => c.repeat(64);
const body = Buffer.from('{"format":1,"paths":[]}');

let tmp: TempDir;
let cache: ClosureCache;
beforeEach(async () => {
  tmp = await makeTempDir('strata-closure-cache-');
  cache = new ClosureCache({ directory: join(tmp.path, 'cache') });
});
afterEach(() => tmp.remove());

const fileOf = (key: string) => join(tmp.path, 'cache', 'closures-1', key.slice(0, 2), `${key}.json`);

describe('ClosureCache', () => {
  it('answers what was put, under exactly that key, in a private file', async () => {
    expect(await cache.get(k('a'))).toBeUndefined();
    await cache.put(k('a'), body);
    expect(Buffer.from((await cache.get(k('a')))!)).toEqual(body);
    expect(await cache.get(k('b'))).toBeUndefined();
    expect((await stat(fileOf(k('a')))).mode & 0o777).toBe(0o600);
    expect((await stat(join(tmp.path, 'cache', 'closures-1'))).mode & 0o777).toBe(0o700);
    await cache.delete(k('a'));
    expect(await cache.get(k('a'))).toBeUndefined();
  });

  it('treats a truncated or edited file, or one copied under another key, as a miss and removes it', async () => {
    await cache.put(k('a'), body);
    const good = await readFile(fileOf(k('a')));
    const bad = [good.subarray(0, good.length - 1), Buffer.from(good.toString('latin1').replace('paths', 'patha'), 'latin1'), Buffer.from('junk'), Buffer.alloc(0)];
    for (const bytes of bad) {
      await writeFile(fileOf(k('a')), bytes);
      expect(await cache.get(k('a'))).toBeUndefined();
      await expect(stat(fileOf(k('a')))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    await mkdir(join(tmp.path, 'cache', 'closures-1', 'bb'), { recursive: true });
    await writeFile(fileOf(k('b')), good);
    expect(await cache.get(k('b'))).toBeUndefined();
  });

  it('refuses keys that are not hex digests, and never follows a symlink planted as an entry', async () => {
    await cache.put('../../escape', body);
    expect(await cache.get('../../escape')).toBeUndefined();
    expect(await readdir(tmp.path)).toEqual([]);
    await writeFile(join(tmp.path, 'secret'), 'secret');
    await mkdir(join(tmp.path, 'cache', 'closures-1', 'cc'), { recursive: true });
    await symlink(join(tmp.path, 'secret'), fileOf(k('c')));
    expect(await cache.get(k('c'))).toBeUndefined();
    expect(await readFile(join(tmp.path, 'secret'), 'utf8')).toBe('secret');
  });

  it('neither writes nor reads an entry over its size limit', async () => {
    const small = new ClosureCache({ directory: join(tmp.path, 'cache'), maxEntryBytes: 16 });
    await small.put(k('a'), body);
    await expect(stat(fileOf(k('a')))).rejects.toMatchObject({ code: 'ENOENT' });
    await cache.put(k('a'), Buffer.alloc(4096, 'x'));
    expect(await small.get(k('a'))).toBeUndefined();
  });

  it('says which file it could not write, and leaves no temporary file behind', async () => {
    await mkdir(join(tmp.path, 'cache', 'closures-1', 'aa'), { recursive: true });
    await chmod(join(tmp.path, 'cache', 'closures-1', 'aa'), 0o500);
    try {
      // root writes anyway; the point there is only that nothing is left behind.
      const error = await cache.put(k('a'), body).catch((e: unknown) => e);
      if (error !== undefined) {
        expect(error).toBeInstanceOf(CacheError);
        expect((error as CacheError).code).toBe('WRITE_FAILED');
        expect((error as Error).message).toContain(fileOf(k('a')));
      }
      expect((await readdir(join(tmp.path, 'cache', 'closures-1', 'aa'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    } finally {
      await chmod(join(tmp.path, 'cache', 'closures-1', 'aa'), 0o700);
    }
  });

  it('is pruned with the layer cache, by last use', async () => {
    const now = Date.now();
    await cache.put(k('a'), body);
    await cache.put(k('b'), body);
    const old = new Date(now - 40 * 24 * 3600 * 1000);
    await utimes(fileOf(k('a')), old, old);
    await writeFile(join(tmp.path, 'cache', 'unrelated.txt'), 'keep me');
    expect(await new LayerCache({ directory: join(tmp.path, 'cache') }).prune({ now })).toMatchObject({ removed: 1, kept: 1 });
    await expect(stat(fileOf(k('a')))).rejects.toMatchObject({ code: 'ENOENT' });
    // A hit counts as a use.
    await utimes(fileOf(k('b')), old, old);
    expect(await cache.get(k('b'))).toBeDefined();
    expect(await cache.prune({ now: Date.now() })).toMatchObject({ removed: 0, kept: 1 });
    expect(await cache.prune({ all: true })).toMatchObject({ removed: 1, kept: 0 });
    expect(await readFile(join(tmp.path, 'cache', 'unrelated.txt'), 'utf8')).toBe('keep me');
  });
});

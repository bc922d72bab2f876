import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheError, defaultCacheDirectory, LayerCache, type LayerCacheEntry } from './index.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const key = { layer: 'store-1:sha256:abc', compression: 'gzip-6 zlib-1.3.1 x64' };
const entry: LayerCacheEntry = { diffId: d('1'), digest: d('2'), size: 1234 };

let tmp: TempDir;
let cache: LayerCache;
beforeEach(async () => {
  tmp = await makeTempDir('strata-cache-');
  cache = new LayerCache({ directory: join(tmp.path, 'cache') });
});
afterEach(() => tmp.remove());

async function entryFile(): Promise<string> {
  const base = join(tmp.path, 'cache', 'layers-1');
  const [shard] = await readdir(base);
  const [name] = await readdir(join(base, shard!));
  return join(base, shard!, name!);
}

describe('defaultCacheDirectory', () => {
  it('is $XDG_CACHE_HOME/strata, or ~/.cache/strata when it is unset or relative', () => {
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: '/var/cache/u' }, () => '/home/u')).toBe('/var/cache/u/strata');
    expect(defaultCacheDirectory({}, () => '/home/u')).toBe('/home/u/.cache/strata');
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: 'rel/dir' }, () => '/home/u')).toBe('/home/u/.cache/strata');
  });
});

describe('LayerCache', () => {
  it('answers what was put, for exactly that key, in a private directory', async () => {
    expect(await cache.get(key)).toBeUndefined();
    await cache.put(key, entry);
    expect(await cache.get(key)).toEqual(entry);
    expect(await cache.get({ ...key, compression: 'gzip-9 zlib-1.3.1 x64' })).toBeUndefined();
    expect(await cache.get({ ...key, layer: 'store-1:sha256:abd' })).toBeUndefined();
    expect((await stat(join(tmp.path, 'cache', 'layers-1'))).mode & 0o777).toBe(0o700);
    expect((await stat(await entryFile())).mode & 0o777).toBe(0o600);
  });

  it('treats a truncated, edited or foreign entry as a miss and removes it', async () => {
    const variants: ((text: string) => string)[] = [
      (t) => t.slice(0, 40),
      (t) => t.replace(d('2').slice(7), '3'.repeat(64)), // another digest, checksum left as it was
      (t) => t.replace('1234', '1235'),
      () => '\u0000\u0001garbage',
      () => 'null',
      () => JSON.stringify({ format: 'strata-layer-cache-1', ...key, ...entry, check: d('4'), extra: 1 }),
    ];
    for (const change of variants) {
      await cache.put(key, entry);
      const file = await entryFile();
      await writeFile(file, change(await readFile(file, 'utf8')));
      expect(await cache.get(key)).toBeUndefined();
      await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('does not answer for one key with an entry copied from another', async () => {
    const other = { ...key, layer: 'diffid:sha256:other' };
    await cache.put(other, entry);
    const source = await entryFile();
    const wanted = new LayerCache({ directory: join(tmp.path, 'cache2') });
    await wanted.put(key, { ...entry, size: 1 });
    const target = (await readdir(join(tmp.path, 'cache2', 'layers-1'), { recursive: true })).find((n) => n.endsWith('.json'))!;
    await writeFile(join(tmp.path, 'cache2', 'layers-1', target), await readFile(source));
    expect(await wanted.get(key)).toBeUndefined();
  });

  it('never follows a symlink, blocks on a FIFO, or reads a huge file planted as an entry', async () => {
    await cache.put(key, entry);
    const file = await entryFile();
    // Each plant would be a hit if it were read as a plain file: a sound entry elsewhere, or padded.
    const elsewhere = join(tmp.path, 'elsewhere.json');
    const sound = await readFile(file);
    await writeFile(elsewhere, sound);
    for (const plant of [
      () => symlink(elsewhere, file),
      () => writeFile(file, Buffer.concat([sound, Buffer.alloc(1 << 20, 0x20)])),
      async () => execFileSync('mkfifo', [file]),
      () => mkdir(file),
    ]) {
      execFileSync('rm', ['-rf', file]);
      await plant();
      expect(await cache.get(key)).toBeUndefined();
    }
    expect(await readFile(elsewhere)).toEqual(sound);
  });

  it('says which file it could not write, and leaves no temporary file behind', async () => {
    await writeFile(join(tmp.path, 'file'), 'a file where the cache directory should be');
    const broken = new LayerCache({ directory: join(tmp.path, 'file') });
    const error = await broken.put(key, entry).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheError);
    expect((error as CacheError).code).toBe('WRITE_FAILED');
    expect((error as CacheError).message).toContain(join(tmp.path, 'file', 'layers-1'));
    await cache.put(key, entry);
    const shard = join(await entryFile(), '..');
    await chmod(shard, 0o500);
    try {
      if (process.getuid?.() !== 0) await expect(cache.put(key, { ...entry, size: 1 })).rejects.toMatchObject({ code: 'WRITE_FAILED' });
    } finally {
      await chmod(shard, 0o700);
    }
    expect((await readdir(shard)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses malformed keys and entries, naming the field', async () => {
    await expect(cache.put({ ...key, layer: '' }, entry)).rejects.toThrow(/key\.layer/);
    await expect(cache.put(key, { ...entry, digest: 'md5:x' })).rejects.toThrow(/entry\.digest/);
    await expect(cache.put(key, { ...entry, size: -1 })).rejects.toThrow(/entry\.size/);
  });

  it('keeps every entry sound when several processes write the same keys at once', async () => {
    const directory = join(tmp.path, 'cache');
    const script = `
      const { LayerCache } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
      const cache = new LayerCache({ directory: ${JSON.stringify(directory)} });
      const d = (c) => 'sha256:' + c.repeat(64);
      for (let i = 0; i < 200; i++) {
        await cache.put({ layer: 'k' + (i % 5), compression: 'gzip' }, { diffId: d('1'), digest: d(String(i % 5)), size: i % 5 });
      }`;
    const runs = Array.from({ length: 4 }, () => new Promise<number | null>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' }).on('close', resolve)));
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0]);
    for (let k = 0; k < 5; k++) expect(await cache.get({ layer: `k${k}`, compression: 'gzip' })).toEqual({ diffId: d('1'), digest: d(String(k)), size: k });
    const files = await readdir(join(directory, 'layers-1'), { recursive: true });
    expect(files.filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('LayerCache.prune', () => {
  it('removes entries unused for the given time, old temporary files, and older formats; --all removes every entry', async () => {
    const now = Date.now();
    await cache.put(key, entry);
    await cache.put({ ...key, layer: 'old' }, entry);
    const files = (await readdir(join(tmp.path, 'cache', 'layers-1'), { recursive: true })).filter((n) => n.endsWith('.json')).map((n) => join(tmp.path, 'cache', 'layers-1', n));
    const old = new Date(now - 40 * 24 * 3600 * 1000);
    const oldFile = files[0]!;
    await utimes(oldFile, old, old);
    const fresh = files.find((f) => f !== oldFile)!;
    const stray = `${fresh}.123-deadbeef.tmp`;
    await writeFile(stray, 'half');
    await utimes(stray, old, old);
    await mkdir(join(tmp.path, 'cache', 'layers-0', 'ab'), { recursive: true });
    await writeFile(join(tmp.path, 'cache', 'layers-0', 'ab', `${'a'.repeat(64)}.json`), '{}');
    await writeFile(join(tmp.path, 'cache', 'unrelated.txt'), 'keep me');
    expect(await cache.prune({ now })).toMatchObject({ removed: 3, kept: 1 });
    await expect(stat(oldFile)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(fresh)).isFile()).toBe(true);
    await expect(stat(join(tmp.path, 'cache', 'layers-0'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await cache.prune({ all: true })).toMatchObject({ removed: 1, kept: 0 });
    expect(await readFile(join(tmp.path, 'cache', 'unrelated.txt'), 'utf8')).toBe('keep me');
    expect(await cache.prune({ all: true })).toEqual({ removed: 0, kept: 0, bytes: 0 });
  });

  it('does nothing, and does not fail, when the cache directory does not exist', async () => {
    expect(await new LayerCache({ directory: join(tmp.path, 'none') }).prune({ all: true })).toEqual({ removed: 0, kept: 0, bytes: 0 });
  });
});

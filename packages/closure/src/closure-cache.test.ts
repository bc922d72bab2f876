import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ClosureCacheStore, closureCacheKey, decodeClosureEntry, encodeClosureEntry } from './closure-cache.js';
import { collectClosure } from './discover.js';
import type { ExecFunction } from './live-nix.js';

const S = '/nix/store';
const app = `${S}/${'a'.repeat(32)}-app`;
const lib = `${S}/${'b'.repeat(32)}-lib`;
const libc = `${S}/${'c'.repeat(32)}-libc`;
const HASH = 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';

/** The answer of `nix path-info --json --recursive app`, as newer nix prints it. */
const pathInfo = JSON.stringify({
  [app]: { narHash: HASH, narSize: 100, references: [lib, app] },
  [lib]: { narHash: HASH, narSize: 200, references: [libc] },
  [libc]: { narHash: HASH, narSize: 300, references: [], deriver: `${S}/${'d'.repeat(32)}-libc.drv` },
});

/** A ClosureCacheStore in memory, counting what it is asked. */
class MemoryStore implements ClosureCacheStore {
  readonly entries = new Map<string, Uint8Array>();
  puts = 0;
  deletes = 0;
  async get(key: string) {
    return this.entries.get(key);
  }
  async put(key: string, bytes: Uint8Array) {
    this.puts++;
    this.entries.set(key, bytes);
  }
  async delete(key: string) {
    this.deletes++;
    this.entries.delete(key);
  }
}

let dir: TempDir;
let calls: number;
let exec: ExecFunction;

beforeEach(async () => {
  dir = await makeTempDir();
  for (const p of [app, lib, libc]) await mkdir(join(dir.path, p), { recursive: true });
  await mkdir(join(dir.path, 'nix/var/nix/db'), { recursive: true });
  await writeFile(join(dir.path, 'nix/var/nix/db/db.sqlite'), 'db');
  calls = 0;
  exec = async () => {
    calls++;
    return pathInfo;
  };
});

afterEach(async () => {
  await dir.remove();
});

const collect = (cache: ClosureCacheStore, more: Partial<Parameters<typeof collectClosure>[1]> = {}) =>
  collectClosure([app], { source: 'nix', storeRoot: dir.path, exec, cache, ...more });

describe('the closure cache', () => {
  it('answers a second query of the same roots without asking Nix, with the same records', async () => {
    const cache = new MemoryStore();
    const first = await collect(cache);
    expect(calls).toBe(1);
    expect(cache.puts).toBe(1);
    const second = await collect(cache);
    expect(calls).toBe(1);
    expect(second).toEqual(first);
    expect(second.map((p) => p.path)).toEqual([app, lib, libc]);
    expect(second[2]!.deriver).toBe(`${S}/${'d'.repeat(32)}-libc.drv`);
  });

  it('asks Nix again when a path of the closure was deleted and made again', async () => {
    const cache = new MemoryStore();
    await collect(cache);
    await rm(join(dir.path, libc), { recursive: true });
    await mkdir(join(dir.path, libc));
    await collect(cache);
    expect(calls).toBe(2);
    expect(cache.deletes).toBe(1);
    // ... and records the new instance, which then answers.
    await collect(cache);
    expect(calls).toBe(2);
  });

  it('asks Nix again when a path of the closure is gone', async () => {
    const cache = new MemoryStore();
    await collect(cache);
    await rm(join(dir.path, lib), { recursive: true });
    // Nix (the fake) still describes it; what matters is that the entry was not believed.
    await collect(cache);
    expect(calls).toBe(2);
  });

  it('keeps nothing when the Nix database changed while Nix was asked', async () => {
    const cache = new MemoryStore();
    const racing: ExecFunction = async () => {
      calls++;
      await writeFile(join(dir.path, 'nix/var/nix/db/db.sqlite'), 'db, after a path was registered');
      return pathInfo;
    };
    await collect(cache, { exec: racing });
    expect(cache.puts).toBe(0);
  });

  it('keeps nothing when it cannot see the Nix database', async () => {
    await rm(join(dir.path, 'nix/var'), { recursive: true });
    const cache = new MemoryStore();
    await collect(cache);
    expect(cache.puts).toBe(0);
    expect(calls).toBe(1);
  });

  it('is keyed by the roots, the store and the source', async () => {
    const cache = new MemoryStore();
    await collect(cache);
    await collectClosure([lib], { source: 'nix', storeRoot: dir.path, exec, cache });
    expect(calls).toBe(2);
    expect(closureCacheKey('nix', '', [app, lib])).toBe(closureCacheKey('nix', '', [lib, app]));
    expect(closureCacheKey('nix', '', [app])).not.toBe(closureCacheKey('nix-store', '', [app]));
    expect(closureCacheKey('nix', '', [app])).not.toBe(closureCacheKey('nix', '/chroot', [app]));
    expect(closureCacheKey('nix', '', [app], {})).not.toBe(closureCacheKey('nix', '', [app], { NIX_REMOTE: 'ssh://builder' }));
  });

  it('is not used for sources that read files', async () => {
    const cache = new MemoryStore();
    const graph = join(dir.path, 'graph.json');
    await writeFile(graph, JSON.stringify([{ path: libc, narSize: 1, narHash: HASH, references: [] }]));
    await collectClosure([libc], { graphFile: graph, storeRoot: dir.path, cache });
    expect(cache.puts).toBe(0);
  });

  it('survives a store that fails: a failed get is a miss, a failed put is ignored', async () => {
    const failing: ClosureCacheStore = {
      get: () => Promise.reject(new Error('EIO')),
      put: () => Promise.reject(new Error('EROFS')),
    };
    expect((await collect(failing)).length).toBe(3);
    expect(calls).toBe(1);
  });
});

describe('closure cache entries', () => {
  const key = closureCacheKey('nix', '', [app]);
  const closure = [
    { path: app, narSize: 100, narHash: HASH, references: [app, lib] },
    { path: lib, narSize: 200, narHash: HASH, references: [libc] },
    { path: libc, narSize: 300, narHash: HASH, references: [] },
  ];
  const edit = (bytes: Uint8Array, change: (entry: { key: string; roots: string[]; paths: { path: string; references: string[]; narSize: number }[] }) => void) => {
    const entry = JSON.parse(Buffer.from(bytes).toString('utf8'));
    change(entry);
    return Buffer.from(JSON.stringify(entry));
  };

  it('round-trip, and refuse every entry that is not the whole closure of its roots', async () => {
    const bytes = (await encodeClosureEntry(key, [app], closure, dir.path))!;
    expect(await decodeClosureEntry(bytes, key, [app], dir.path)).toEqual(closure);
    const refused = [
      Buffer.from('not json'),
      bytes.subarray(0, bytes.length - 5),
      edit(bytes, (e) => {
        e.key = closureCacheKey('nix', '', [lib]);
      }),
      edit(bytes, (e) => {
        e.roots = [lib];
      }),
      // A reference the entry does not describe.
      edit(bytes, (e) => {
        e.paths[1]!.references = [libc, `${S}/${'e'.repeat(32)}-evil`];
      }),
      // A path the roots do not reach.
      edit(bytes, (e) => {
        e.paths[0]!.references = [app];
      }),
      // Not a store path.
      edit(bytes, (e) => {
        e.paths[2]!.path = '/etc/passwd';
      }),
      edit(bytes, (e) => {
        e.paths[0]!.narSize = -1;
      }),
      edit(bytes, (e) => {
        (e as unknown as Record<string, unknown>).extra = 1;
      }),
    ];
    for (const bad of refused) expect(await decodeClosureEntry(bad, key, [app], dir.path)).toBeUndefined();
    expect(await decodeClosureEntry(bytes, key, [lib], dir.path)).toBeUndefined();
  });

  it('are not made when a path cannot be stamped', async () => {
    await rm(join(dir.path, lib), { recursive: true });
    expect(await encodeClosureEntry(key, [app], closure, dir.path)).toBeUndefined();
  });
});

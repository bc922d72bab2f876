import { createHash } from 'node:crypto';
import { chmod, link, mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerError } from './errors.js';
import { packLayer } from './pack.js';
import { scanLayer } from './scan.js';
import { writeTar } from './tar.js';
import { makePinStore, PIN_DIGEST, PIN_PATH } from '../test/_pin-store.js';

const LONG = `${'deep/'.repeat(12)}${'n'.repeat(120)}.txt`;
const STORE_A = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0';
const STORE_B = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-link';

let tmp: TempDir;
let root: string;

/** A chroot store with every awkward case: long and non-ASCII names, hardlinks, symlinks, setuid, empty files. */
async function makeStore(dir: string): Promise<void> {
  const a = join(dir, STORE_A);
  await mkdir(join(a, 'bin'), { recursive: true });
  await mkdir(join(a, 'lib/sub'), { recursive: true });
  await mkdir(join(a, LONG, '..'), { recursive: true });
  await writeFile(join(a, 'bin/tool'), '#!/bin/sh\necho tool\n');
  await chmod(join(a, 'bin/tool'), 0o4755);
  await writeFile(join(a, 'lib/empty'), '');
  await writeFile(join(a, 'lib/data.bin'), Buffer.alloc(5000, 7));
  await link(join(a, 'lib/data.bin'), join(a, 'lib/data-hardlink.bin'));
  await writeFile(join(a, 'lib/sub/ünïcødé-名前.txt'), 'unicode\n');
  await writeFile(join(a, LONG), 'long\n');
  await writeFile(join(a, 'lib-b'), 'sorts after lib/ by component\n');
  await symlink('../lib', join(a, 'bin/lib-dir-link'));
  await symlink(`/nix/store/${'x'.repeat(150)}-very-long-target`, join(a, 'bin/long-link'));
  await chmod(join(a, 'lib/sub'), 0o2755);
  await mkdir(join(dir, '/nix/store'), { recursive: true });
  await symlink(STORE_A, join(dir, STORE_B));
}

interface Member {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
}

/** What Python's tarfile reads back from an archive. */
async function readWithPython(file: string): Promise<Member[]> {
  const script = `
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        kind = 'file' if m.isreg() else 'directory' if m.isdir() else 'symlink' if m.issym() else 'other'
        out.append(dict(name=m.name, type=kind, mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname, mtime=m.mtime, size=m.size, linkname=m.linkname))
print(json.dumps(out))
`;
  const { stdout } = await run('python3', ['-c', script, file]);
  return JSON.parse(stdout) as Member[];
}

/** A store path with 40 MiB in two files, large enough for the worker-thread hash. */
async function makeLargeStore(): Promise<{ dir: string; path: string }> {
  const dir = join(tmp.path, 'large');
  const path = '/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-large';
  await mkdir(join(dir, path), { recursive: true });
  const content = Buffer.alloc(40 << 20);
  for (let i = 0; i < content.length; i += 4096) content.writeUInt32LE(i, i);
  await writeFile(join(dir, path, 'a'), content.subarray(0, 25 << 20));
  await writeFile(join(dir, path, 'b'), content.subarray(3, (15 << 20) + 7));
  return { dir, path };
}

beforeAll(async () => {
  tmp = await makeTempDir('strata-layer-');
  root = join(tmp.path, 'root');
  await makeStore(root);
});
afterAll(() => tmp.remove());

describe('packLayer', () => {
  it('writes exactly the size scanLayer predicted, and the digest of those bytes', async () => {
    const plan = await scanLayer([STORE_A, STORE_B], { storeRoot: root });
    const layer = packLayer(plan);
    expect(layer.size).toBe(plan.size);
    const bytes = await buffer(layer);
    expect(bytes.length).toBe(plan.size);
    expect(await layer.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('hashes a large layer on a worker thread to the same digest', async () => {
    const { dir, path } = await makeLargeStore();
    const layer = packLayer(await scanLayer([path], { storeRoot: dir }), { hashThread: true });
    const bytes = await buffer(layer);
    expect(bytes.length).toBe(layer.size);
    expect(await layer.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('loses nothing under backpressure from a slow consumer', async () => {
    // Many files of odd sizes read in 100 KiB pieces: small header/padding chunks meet a full buffer.
    const dir = join(tmp.path, 'odd');
    const path = '/nix/store/ffffffffffffffffffffffffffffffff-odd';
    await mkdir(join(dir, path), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(dir, path, `f${i}`), Buffer.alloc(i * 37 * 1024 + 333, i));
    const layer = packLayer(await scanLayer([path], { storeRoot: dir }), { readSize: 100 << 10, hashThread: true });
    const hash = createHash('sha256');
    let total = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        total += chunk.length;
        setImmediate(callback);
      },
    });
    await pipeline(layer, slow);
    expect(total).toBe(layer.size);
    expect(await layer.digest).toBe(`sha256:${hash.digest('hex')}`);
  });

  // Pinned so that changes to how layers are read and written (for speed) provably keep every byte.
  it('writes the same bytes as it always has, for files of every size around a boundary', async () => {
    const dir = join(tmp.path, 'pin');
    await makePinStore(dir);
    const layer = packLayer(await scanLayer([PIN_PATH], { storeRoot: dir, mtime: 1 }));
    const bytes = await buffer(layer);
    expect(bytes.length).toBe(layer.size);
    const hex = createHash('sha256').update(bytes).digest('hex');
    expect(await layer.digest).toBe(`sha256:${hex}`);
    expect(`sha256:${hex}`).toBe(PIN_DIGEST);
  });

  it('writes the same bytes as it always has inside an outer archive, as docker-archives hold layers', async () => {
    const dir = join(tmp.path, 'pin-outer');
    await makePinStore(dir);
    const plans = [await scanLayer([PIN_PATH], { storeRoot: dir, mtime: 1 }), await scanLayer([PIN_PATH], { storeRoot: dir, mtime: 7, uid: 5, uname: 'u'.repeat(40) })];
    const owner = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1 };
    const layers = plans.map((plan) => packLayer(plan));
    const outer = writeTar(
      [
        ...plans.map((plan, i) => ({ ...owner, name: `layers/00${i + 1}.tar`, size: plan.size, body: () => layers[i]! })),
        { ...owner, name: 'manifest.json', size: 2, body: Buffer.from('[]') },
      ],
      { digest: false },
    );
    const bytes = await buffer(outer);
    expect(bytes.length).toBe(outer.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe('0d317e5d453ec9c515910c9d092a402d5ef3fcfc1a7e388954d70626ba7e302d');
    expect(await layers[0]!.digest).toBe(PIN_DIGEST);
  });

  it('stops with the abort reason inside an outer archive, raising nothing unheard', async () => {
    const dir = join(tmp.path, 'pin-abort');
    await makePinStore(dir);
    const plan = await scanLayer([PIN_PATH], { storeRoot: dir });
    const controller = new AbortController();
    const { signal } = controller;
    const owner = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1 };
    const layer = packLayer(plan, { signal });
    const outer = writeTar([{ ...owner, name: 'layer.tar', size: plan.size, body: () => layer }], { digest: false, signal });
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        controller.abort(new Error('stop now'));
        setImmediate(callback);
      },
    });
    await expect(pipeline(outer, sink)).rejects.toThrow('stop now');
    await expect(layer.digest).rejects.toThrow();
  });

  it('is byte-for-byte deterministic', async () => {
    const one = await buffer(packLayer(await scanLayer([STORE_A], { storeRoot: root })));
    const two = await buffer(packLayer(await scanLayer([STORE_A], { storeRoot: root })));
    expect(one.equals(two)).toBe(true);
  });

  it('reads back in python tarfile with the names, types, modes and owners nixpkgs writes', async () => {
    const plan = await scanLayer([STORE_B, STORE_A], { storeRoot: root, mtime: 1234, uid: 7, gid: 8, uname: 'u', gname: 'g' });
    const file = join(tmp.path, 'layer.tar');
    await writeFile(file, await buffer(packLayer(plan)));
    const members = await readWithPython(file);
    const byName = new Map(members.map((m) => [m.name, m]));
    // Store paths keep the order given (nixpkgs walks a layer's list in order).
    expect(members.slice(0, 3).map((m) => m.name)).toEqual(['/nix', '/nix/store', STORE_B]);
    expect(byName.get('/nix')).toMatchObject({ type: 'directory', mode: 0o755, uid: 7, gid: 8, uname: 'u', gname: 'g', mtime: 1234 });
    expect(byName.get(`${STORE_A}/bin/tool`)).toMatchObject({ type: 'file', mode: 0o4755, size: 20 });
    expect(byName.get(`${STORE_A}/lib/sub`)).toMatchObject({ type: 'directory', mode: 0o2755 });
    expect(byName.get(`${STORE_A}/lib/empty`)).toMatchObject({ type: 'file', size: 0 });
    expect(byName.get(`${STORE_A}/lib/data-hardlink.bin`)).toMatchObject({ type: 'file', size: 5000 });
    expect(byName.get(`${STORE_A}/lib/sub/ünïcødé-名前.txt`)).toMatchObject({ type: 'file', size: 8 });
    expect(byName.get(`${STORE_A}/${LONG}`)).toMatchObject({ type: 'file', size: 5 });
    expect(byName.get(`${STORE_A}/bin/lib-dir-link`)).toMatchObject({ type: 'symlink', linkname: '../lib' });
    expect(byName.get(`${STORE_A}/bin/long-link`)?.linkname).toMatch(/-very-long-target$/);
    expect(byName.get(STORE_B)).toMatchObject({ type: 'symlink', linkname: STORE_A });
    // nothing below a symlinked directory, and every entry carries the owner and mtime
    expect(members.some((m) => m.name.startsWith(`${STORE_A}/bin/lib-dir-link/`))).toBe(false);
    expect(members.every((m) => m.uid === 7 && m.gid === 8 && m.mtime === 1234 && m.uname === 'u')).toBe(true);
    // sorted by path component: lib, its children, then lib-b
    const names = members.map((m) => m.name);
    expect(names.indexOf(`${STORE_A}/lib/sub`)).toBeLessThan(names.indexOf(`${STORE_A}/lib-b`));
    expect(names.length).toBe(plan.entries.length);
  });

  it('lists the same entries and contents in GNU tar', async () => {
    const plan = await scanLayer([STORE_A], { storeRoot: root });
    const file = join(tmp.path, 'gnu.tar');
    await writeFile(file, await buffer(packLayer(plan)));
    const { stdout } = await run('tar', ['-tf', file]);
    expect(stdout.split('\n').filter(Boolean)).toEqual(plan.entries.map((e) => e.name));
    const { stdout: data } = await run('tar', ['-xOf', file, `${STORE_A}/lib/data-hardlink.bin`]);
    expect(data).toBe('\x07'.repeat(5000));
  });

  it('writes large ids and long owner names as PAX records, with the size still exact', async () => {
    const plan = await scanLayer([STORE_A], { storeRoot: root, uid: 2_000_000, gid: 300_000, uname: 'a'.repeat(40), gname: 'gröup' });
    const bytes = await buffer(packLayer(plan));
    expect(bytes.length).toBe(plan.size);
    const file = join(tmp.path, 'ids.tar');
    await writeFile(file, bytes);
    const [first] = await readWithPython(file);
    expect(first).toMatchObject({ uid: 2_000_000, gid: 300_000, uname: 'a'.repeat(40), gname: 'gröup' });
  });

  it('writes an mtime past 2038 as PAX records, with the size still exact, and refuses one no header holds', async () => {
    for (const mtime of [2 ** 31, 8 ** 11 - 1]) {
      const plan = await scanLayer([STORE_A], { storeRoot: root, mtime });
      const bytes = await buffer(packLayer(plan));
      expect(bytes.length).toBe(plan.size);
      const file = join(tmp.path, `mtime-${mtime}.tar`);
      await writeFile(file, bytes);
      const members = await readWithPython(file);
      expect(members.length).toBeGreaterThan(5);
      for (const member of members) expect(member.mtime, member.name).toBe(mtime);
    }
    await expect(scanLayer([STORE_A], { storeRoot: root, uid: 2 ** 32 - 1 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('uid 4294967295') });
  });

  it('applies per-path ownership overrides', async () => {
    const plan = await scanLayer([STORE_A], {
      storeRoot: root,
      overrides: { [`${STORE_A}/bin/tool`]: { uid: 1000, gid: 100, uname: 'alice', mode: 0o700 }, '/nix/store': { mode: 0o1775 } },
    });
    const file = join(tmp.path, 'over.tar');
    await writeFile(file, await buffer(packLayer(plan)));
    const byName = new Map((await readWithPython(file)).map((m) => [m.name, m]));
    expect(byName.get(`${STORE_A}/bin/tool`)).toMatchObject({ uid: 1000, gid: 100, uname: 'alice', gname: 'root', mode: 0o700 });
    expect(byName.get('/nix/store')).toMatchObject({ mode: 0o1775, uid: 0 });
    expect(byName.get(`${STORE_A}/bin`)).toMatchObject({ uid: 0, uname: 'root' });
  });

  it('fails naming the file when it shrank after scanning', async () => {
    const dir = join(tmp.path, 'shrink');
    const path = '/nix/store/cccccccccccccccccccccccccccccccc-shrink';
    await mkdir(join(dir, path), { recursive: true });
    await writeFile(join(dir, path, 'f'), Buffer.alloc(3000, 1));
    const plan = await scanLayer([path], { storeRoot: dir });
    await truncate(join(dir, path, 'f'), 10);
    const error = await buffer(packLayer(plan)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayerError);
    expect((error as LayerError).code).toBe('CHANGED');
    expect((error as LayerError).message).toContain(`${path}/f`);
  });

  it('stops with the abort reason when its signal aborts', async () => {
    const controller = new AbortController();
    const layer = packLayer(await scanLayer([STORE_A], { storeRoot: root }), { signal: controller.signal });
    controller.abort(new Error('stop now'));
    await expect(buffer(layer)).rejects.toThrow('stop now');
  });
});

describe('scanLayer', () => {
  it('rejects a missing store path with NOT_FOUND naming it', async () => {
    const missing = '/nix/store/dddddddddddddddddddddddddddddddd-gone';
    const error = await scanLayer([missing], { storeRoot: root }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayerError);
    expect((error as LayerError).code).toBe('NOT_FOUND');
    expect((error as LayerError).message).toContain(missing);
  });

  it('rejects a path outside the store directory', async () => {
    await expect(scanLayer(['/etc/passwd'])).rejects.toMatchObject({ code: 'NOT_IN_STORE' });
    await expect(scanLayer(['/nix/store/abc-x/bin'])).rejects.toMatchObject({ code: 'NOT_IN_STORE' });
  });

  it('puts /nix/ and /nix/store/ first with mode 0755 even for an empty layer', async () => {
    const plan = await scanLayer([]);
    expect(plan.entries.map((e) => [e.name, e.mode, e.type])).toEqual([
      ['/nix/', 0o755, 'directory'],
      ['/nix/store/', 0o755, 'directory'],
    ]);
    expect(plan.size).toBe(4 * 512);
    expect((await buffer(packLayer(plan))).length).toBe(4 * 512);
  });
});

describe('readTar', () => {
  it('rejects with the source error raised before the first member, e.g. a missing file', async () => {
    const { readTar } = await import('./read.js');
    const { createReadStream } = await import('node:fs');
    const reading = (async () => {
      for await (const _ of readTar(createReadStream(join(tmp.path, 'missing.tar')))) {
        // no members
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('lists the members writeTar wrote, with content offsets', async () => {
    const { readTar } = await import('./read.js');
    const { Readable } = await import('node:stream');
    const plan = await scanLayer([STORE_A], { storeRoot: root });
    const bytes = await buffer(packLayer(plan));
    const seen: { name: string; size: number; head: string }[] = [];
    for await (const m of readTar(Readable.from([bytes]))) {
      seen.push({ name: m.name, size: m.size, head: bytes.subarray(m.offset, m.offset + m.size).toString('latin1') });
      if (m.name.endsWith('bin/tool')) expect((await buffer(m.body)).toString()).toBe('#!/bin/sh\necho tool\n');
    }
    expect(seen.map((s) => s.name)).toEqual(plan.entries.map((e) => e.name));
    expect(seen.find((s) => s.name.endsWith('lib/sub/ünïcødé-名前.txt'))?.head).toBe('unicode\n');
  });
});

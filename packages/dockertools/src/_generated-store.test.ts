import { chmod, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { dumpNarInfo } from '@strata/closure';
import { packLayer, readTar, scanLayer } from '@strata/layer';
import { generateScriptBin, generateTextFile } from '@strata/nix-shell';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GeneratedStore, scanStoreLayer, writeGeneratedStore } from './_generated-store.js';

const REAL = '/nix/store/0c7bqbjxqmxj2w9m4c4l8qa7wq1s0x7c-real-1.0';

describe('generated store objects', () => {
  let chroot: string;
  let store: GeneratedStore;
  const text = generateTextFile('nix-shell-rc', `echo ${REAL}\n`, [REAL]);
  const script = generateScriptBin('buildDerivation', `#!${REAL}/bin/sh\nexec true\n`, [REAL]);

  beforeEach(async () => {
    chroot = await mkdtemp(join(tmpdir(), 'strata-chroot-'));
    await mkdir(join(chroot, REAL, 'bin'), { recursive: true });
    await writeFile(join(chroot, REAL, 'bin/sh'), 'not really a shell');
    // Modes as the expectations say, whatever the umask.
    for (const [path, mode] of [[REAL, 0o755], [`${REAL}/bin`, 0o755], [`${REAL}/bin/sh`, 0o644]] as const) await chmod(join(chroot, path), mode);
    store = await writeGeneratedStore([script, text], [...script.files, ...text.files]);
  });
  afterEach(async () => {
    await store.dispose();
    await rm(chroot, { recursive: true, force: true });
  });

  it('are written with the NAR hash and size their store paths were computed from', async () => {
    for (const g of [text, script]) {
      const nar = await dumpNarInfo(join(store.root, g.path));
      expect({ narHash: nar.narHash, narSize: nar.narSize }, g.path).toEqual({ narHash: g.narHash, narSize: g.narSize });
    }
  });

  it('are planned from their directory, in the planner order, with store modes, among real paths', async () => {
    const options = { storeRoot: chroot, mtime: 1 };
    const plan = await scanStoreLayer([text.path, REAL, script.path], options, store);
    expect(plan.paths).toEqual([text.path, REAL, script.path]);
    expect(plan.entries.map((e) => [e.name, e.type, e.mode.toString(8)])).toEqual([
      ['/nix/', 'directory', '755'],
      ['/nix/store/', 'directory', '755'],
      [text.path, 'file', '444'],
      [`${REAL}/`, 'directory', '755'],
      [`${REAL}/bin/`, 'directory', '755'],
      [`${REAL}/bin/sh`, 'file', '644'],
      [`${script.path}/`, 'directory', '555'],
      [`${script.path}/bin/`, 'directory', '555'],
      [`${script.path}/bin/buildDerivation`, 'file', '555'],
    ]);
    expect(plan.entries.find((e) => e.name === text.path)?.source).toBe(join(store.root, text.path));
    expect(plan.entries.find((e) => e.name === `${REAL}/bin/sh`)?.source).toBe(join(chroot, REAL, 'bin/sh'));
    // The size known before reading is the size packed, and the files' bytes are the generated ones.
    const bytes = await buffer(packLayer(plan));
    expect(bytes.length).toBe(plan.size);
    const members = new Map<string, string>();
    for await (const m of readTar(Readable.from([bytes]))) members.set(m.name, (await buffer(m.body)).toString('utf8'));
    expect(members.get(text.path)).toBe(text.files[0]!.content);
    expect(members.get(`${script.path}/bin/buildDerivation`)).toBe(script.files[0]!.content);
  });

  it('leave a layer of real paths exactly as scanLayer plans it', async () => {
    const options = { storeRoot: chroot, mtime: 1 };
    expect(await scanStoreLayer([REAL], options, store)).toEqual(await scanLayer([REAL], options));
  });

  it('are removed with their directory', async () => {
    await store.dispose();
    await expect(lstat(store.root)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

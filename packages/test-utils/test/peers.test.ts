import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildHelloClosure,
  hasPeers,
  makeTempDir,
  nixPathInfo,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  startRegistry,
  type TempDir,
  unpackImage,
} from '../src/index.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A docker-archive made with GNU tar, independent of strata, to prove the harness itself works. */
async function handMadeArchive(dir: string): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin/busybox'));
  await symlink('busybox', join(root, 'bin/sh'));
  await writeFile(join(root, 'marker'), 'harness\n');
  const layerPath = join(dir, 'layer.tar');
  await run('tar', ['-C', root, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1', '-cf', layerPath, '.']);
  const layer = await readFile(layerPath);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh', '-c', 'echo harness-ok; cat /marker'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] },
    }),
  );
  const out = join(dir, 'archive');
  await mkdir(join(out, 'l'), { recursive: true });
  await copyFile(layerPath, join(out, 'l/layer.tar'));
  await writeFile(join(out, `${sha256(config)}.json`), config);
  await writeFile(
    join(out, 'manifest.json'),
    JSON.stringify([{ Config: `${sha256(config)}.json`, RepoTags: ['strata-harness:test'], Layers: ['l/layer.tar'] }]),
  );
  const archive = join(dir, 'image.tar');
  await run('tar', ['-C', out, '-cf', archive, '.']);
  return archive;
}

describe.runIf(hasPeers('nix-build', 'nix'))('buildHelloClosure', () => {
  it('builds a runnable busybox closure with real references', async () => {
    const c = await buildHelloClosure();
    const { stdout } = await run(join(c.hello, 'bin/hello'), []);
    expect(stdout).toBe(`Hello, world!\nfrom ${c.hello}\n`);
    const info = await nixPathInfo([c.hello]);
    expect(info.map((i) => i.path).sort()).toEqual([c.busybox, c.greeting, c.hello].sort());
    const hello = info.find((i) => i.path === c.hello)!;
    expect(hello.references).toEqual([c.busybox, c.greeting, c.hello].sort());
  });
});

describe.runIf(hasPeers('docker-registry'))('startRegistry', () => {
  it('serves the v2 API on loopback and stops', async () => {
    const reg = await startRegistry();
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(200);
    await reg.stop();
    await expect(fetch(`${reg.url}/v2/`)).rejects.toThrow();
  });
});

describe.runIf(hasPeers('podman', 'runc', 'skopeo', 'umoci'))('podman and umoci', () => {
  let dir: TempDir;
  let archive: string;
  beforeAll(async () => {
    dir = await makeTempDir();
    archive = await handMadeArchive(dir.path);
  });
  afterAll(async () => {
    await podmanRemove('strata-harness:test');
    await dir.remove();
  });

  it('loads and runs an image, returning what it printed', async () => {
    const name = await podmanLoad(archive);
    expect(name).toContain('strata-harness:test');
    const result = await podmanRun(name);
    expect(result.stdout).toBe('harness-ok\nharness\n');
    expect(result.exitCode).toBe(0);
    const failing = await podmanRun(name, ['/bin/sh', '-c', 'exit 7']);
    expect(failing.exitCode).toBe(7);
  });

  it('unpacks with umoci and lists owners, modes and mtimes', async () => {
    const image = await unpackImage(`docker-archive:${archive}`);
    try {
      const marker = image.files.find((f) => f.path === '/marker');
      expect(marker).toMatchObject({ type: 'file', uid: 0, gid: 0, mtime: 1, size: 8 });
      expect(image.files.find((f) => f.path === '/bin/sh')).toMatchObject({ type: 'symlink', linkTarget: 'busybox' });
    } finally {
      await image.remove();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LayerCache } from '@strata/cache';
import {
  buildHelloClosure,
  copyStoreFiles,
  exportReferencesGraph,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  PODMAN_GLOBAL,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  type RunningRegistry,
  runStrata,
  skopeoInspect,
  startRegistry,
  type TempDir,
  verifyOciLayout,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const unique = `strata-cli-cache-test-${randomBytes(4).toString('hex')}`;

/** Blob upload requests (POST, PATCH, PUT of an upload session) for `repo` in the registry's access log. */
const uploads = (reg: RunningRegistry, repo: string) => reg.log().split('\n').filter((l) => new RegExp(`"(POST|PATCH|PUT) /v2/${repo}/blobs/uploads`).test(l)).length;

/**
 * Runs strata under strace and returns its result with the store files it opened for reading
 * (`openat` of a regular file below `store`, in any process strata started) and the programs it
 * tried to run. Listing a directory (O_DIRECTORY) reads no file content and is not counted.
 */
async function traced(args: readonly string[], store: string, env: Record<string, string>): Promise<{ exitCode: number; stdout: string; stderr: string; opened: string[]; ran: string[] }> {
  const dir = await makeTempDir('strata-strace-');
  try {
    const log = join(dir.path, 'trace');
    const bin = join(process.cwd(), 'dist/bin.js');
    const result = await run('strace', ['-f', '-qq', '-e', 'trace=open,openat,openat2,execve', '-o', log, process.execPath, bin, ...args], { allowFailure: true, env });
    const lines = (await readFile(log, 'utf8')).split('\n');
    const opened = lines
      .filter((l) => /\bopen(at2?)?\(/.test(l) && l.includes(`"${store}/`) && !l.includes('O_DIRECTORY') && !/= -1 /.test(l))
      .map((l) => /"([^"]+)"/.exec(l)![1]!);
    // The first execve is strata's own Node.
    const ran = lines.filter((l) => /\bexecve\(/.test(l)).map((l) => /"([^"]+)"/.exec(l)![1]!).slice(1);
    return { ...result, opened, ran };
  } finally {
    await dir.remove();
  }
}

describe.runIf(hasPeers('nix-build', 'nix', 'docker-registry', 'skopeo', 'podman', 'runc', 'strace'))('push: compressed layers and the layer cache', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let reg: RunningRegistry;
  let spec: string;
  let chrootSpec: string;
  let store: string;
  const images: string[] = [];
  const cacheHome = () => join(dir.path, `cache-${randomBytes(3).toString('hex')}`);
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'pushed with a cache' });
    dir = await makeTempDir('strata-cli-cache-');
    reg = await startRegistry();
    spec = join(dir.path, 'spec.json');
    await writeFile(spec, JSON.stringify({ name: `${unique}-hello`, tag: 'v1', contents: [hello.hello], config: { Cmd: [`${hello.hello}/bin/hello`] } }));
    // A chroot store without Nix's database: the closure and NAR hashes come from a graph file.
    store = join(dir.path, 'store');
    await copyStoreFiles([hello.hello, hello.greeting, hello.busybox], store);
    const graph = await exportReferencesGraph([hello.hello]);
    chrootSpec = join(dir.path, 'chroot.json');
    await writeFile(
      chrootSpec,
      JSON.stringify({ name: `${unique}-chroot`, tag: 'v1', contents: [hello.hello], config: { Cmd: [`${hello.hello}/bin/hello`] }, storeRoot: store, referencesGraph: graph, closureSource: 'graph' }),
    );
  });
  afterAll(async () => {
    for (const image of images) await podmanRemove(image);
    await reg.stop();
    await dir.remove();
  });

  it('pushes gzip layers under Docker media types, which podman pulls and runs; pushing again uploads nothing and opens no store file', async () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const first = await runStrata(['push', spec, `${reg.host}/cache/live:v1`], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    const raw = (await skopeoInspect(`docker://${reg.host}/cache/live:v1`, ['--tls-verify=false', '--raw'])) as { mediaType: string; layers: { mediaType: string; digest: string }[] };
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
    const blob = Buffer.from(await (await fetch(`${reg.url}/v2/cache/live/blobs/${raw.layers[0]!.digest}`)).arrayBuffer());
    expect([...blob.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);

    const before = uploads(reg, 'cache/live');
    const again = await traced(['push', spec, `${reg.host}/cache/live:v1`], '/nix/store', env);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(uploads(reg, 'cache/live') - before).toBe(0);
    expect(again.opened).toEqual([]);
    expect(again.stderr).toMatch(/pushed 4 layers \(4 already there\), sent 0 B/);

    const name = `${reg.host}/cache/live:v1`;
    images.push(name);
    await run('podman', [...PODMAN_GLOBAL, 'pull', '-q', '--tls-verify=false', name]);
    expect((await podmanRun(name)).stdout).toBe(`pushed with a cache\nfrom ${hello.hello}\n`);
  });

  it('asks Nix for the closure once: pushing the same spec again runs no nix while its store paths stay', async () => {
    const home = cacheHome();
    const env = { XDG_CACHE_HOME: home };
    const entries = async () => (await readdir(join(home, 'strata', 'closures-1'), { recursive: true }).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
    // A push records nothing if Nix's database changes while it asks (a build by another test): it
    // gets three chances.
    let first = '';
    for (let i = 0; i < 3 && (await entries()).length === 0; i++) {
      const pushed = await runStrata(['push', spec, `${reg.host}/cache/closure:v1`], { env });
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      first = pushed.stdout;
    }
    expect(await entries()).toHaveLength(1);
    const again = await traced(['push', spec, `${reg.host}/cache/closure:v1`], '/nix/store', env);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(first);
    expect(again.ran.filter((p) => /\/nix(-store)?$/.test(p))).toEqual([]);
    // The builders share it: streaming the same spec asks Nix nothing either.
    const streamed = await traced(['stream-layered', '--spec', spec], '/nix/store', env);
    expect(streamed.exitCode, streamed.stderr).toBe(0);
    expect(streamed.ran.filter((p) => /\/nix(-store)?$/.test(p))).toEqual([]);
    // Without the cache, the same push asks Nix and gives the same image.
    const uncached = await traced(['push', spec, `${reg.host}/cache/closure:v1`, '--no-cache'], '/nix/store', env);
    expect(uncached.stdout).toBe(first);
    expect(uncached.ran.some((p) => p.endsWith('/nix'))).toBe(true);
  });

  it('knows a chroot store with a graph file as well: store bytes rewritten in place are not read again', async () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const first = await runStrata(['push', chrootSpec, `${reg.host}/cache/chroot:v1`], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    // Same size, other bytes: any read of this file would change the image the push makes.
    const busybox = await open(join(store, hello.busybox, 'bin/busybox'), 'r+');
    try {
      await busybox.write(Buffer.alloc(4096, 0x5a), 0, 4096, 8192);
    } finally {
      await busybox.close();
    }
    const before = uploads(reg, 'cache/chroot');
    const again = await traced(['push', chrootSpec, `${reg.host}/cache/chroot:v1`], store, env);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(again.opened).toEqual([]);
    expect(uploads(reg, 'cache/chroot') - before).toBe(0);
  });

  it('pushes an archive again without uploading or reading its layers', async () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const archive = join(dir.path, 'hello.tar');
    expect((await runStrata(['build-layered', '--spec', spec, '--compressor', 'none', '-o', archive])).exitCode).toBe(0);
    const first = await runStrata(['push', archive, `${reg.host}/cache/archive:v1`], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    const before = uploads(reg, 'cache/archive');
    // Its layers' digests come from the cache (keyed by diffID): only the archive's index is read.
    const again = await runStrata(['push', archive, `${reg.host}/cache/archive:v1`], { env });
    expect(again.stdout).toBe(first.stdout);
    expect(uploads(reg, 'cache/archive') - before).toBe(0);
    expect(again.stderr).toMatch(/\(4 already there\), sent 0 B/);
  });

  it('uploads a blob deleted from the registry again, under the digest it remembered', async () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const first = await runStrata(['push', spec, `${reg.host}/cache/deleted:v1`], { env });
    const raw = (await skopeoInspect(`docker://${reg.host}/cache/deleted:v1`, ['--tls-verify=false', '--raw'])) as { layers: { digest: string }[] };
    const gone = raw.layers[1]!.digest;
    const deleted = await fetch(`${reg.url}/v2/cache/deleted/blobs/${gone}`, { method: 'DELETE' });
    expect(deleted.status).toBe(202);
    expect((await fetch(`${reg.url}/v2/cache/deleted/blobs/${gone}`, { method: 'HEAD' })).status).toBe(404);
    const before = uploads(reg, 'cache/deleted');
    const again = await runStrata(['push', spec, `${reg.host}/cache/deleted:v1`], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(uploads(reg, 'cache/deleted') - before).toBe(2); // POST and PUT of that one layer
    expect((await fetch(`${reg.url}/v2/cache/deleted/blobs/${gone}`, { method: 'HEAD' })).status).toBe(200);
    const layout = join(dir.path, 'deleted-copy');
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${reg.host}/cache/deleted:v1`, `oci:${layout}:v1`]);
    await verifyOciLayout(layout);
  });

  it('never makes a wrong image from a corrupted or stale cache entry', async () => {
    const home = cacheHome();
    const env = { XDG_CACHE_HOME: home };
    const first = await runStrata(['push', spec, `${reg.host}/cache/corrupt:v1`], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    const entriesDir = join(home, 'strata/layers-1');
    const files = (await readdir(entriesDir, { recursive: true })).filter((n) => n.endsWith('.json')).map((n) => join(entriesDir, n));
    expect(files).toHaveLength(4);
    const entries = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as { layer: string; compression: string; diffId: string; digest: string; size: number }));

    // Bit rot: an entry whose checksum no longer holds is a miss; that layer is read and uploaded again.
    await writeFile(files[0]!, (await readFile(files[0]!, 'utf8')).replace(/"digest":"sha256:./, '"digest":"sha256:0'));
    const rotted = await runStrata(['push', spec, `${reg.host}/cache/corrupt:v1`], { env });
    expect(rotted.exitCode, rotted.stderr).toBe(0);
    expect(rotted.stdout).toBe(first.stdout);

    // A sound-looking but wrong entry (a digest the registry lacks, another size): the upload checks it, the
    // entry is dropped, and the push is made again with what the bytes really are.
    const cache = new LayerCache({ directory: join(home, 'strata') });
    const wrong = entries[1]!;
    await cache.put({ layer: wrong.layer, compression: wrong.compression }, { ...wrong, digest: `sha256:${'e'.repeat(64)}`, size: wrong.size + 7 });
    const stale = await runStrata(['push', spec, `${reg.host}/cache/corrupt:v1`], { env });
    expect(stale.exitCode, stale.stderr).toBe(0);
    expect(stale.stdout).toBe(first.stdout);
    expect(await cache.get({ layer: wrong.layer, compression: wrong.compression })).toEqual({ diffId: wrong.diffId, digest: wrong.digest, size: wrong.size });
  });

  it('pushes zstd layers in an OCI manifest, which strata pulls on this Node and skopeo copies', async () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const pushed = await runStrata(['push', spec, `${reg.host}/cache/zstd:v1`, '--compression', 'zstd', '--compression-level', '5'], { env });
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const raw = (await skopeoInspect(`docker://${reg.host}/cache/zstd:v1`, ['--tls-verify=false', '--raw'])) as { mediaType: string; layers: { mediaType: string }[] };
    expect(raw.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(raw.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd')).toBe(true);
    const out = join(dir.path, 'zstd-pulled.tar');
    const pulled = await runStrata(['pull', pushed.stdout.trim(), '-o', out, '--final-name', `${unique}-zstd`, '--final-tag', 'v1']);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    const name = await podmanLoad(out);
    images.push(name);
    expect((await podmanRun(name)).stdout).toBe(`pushed with a cache\nfrom ${hello.hello}\n`);
    const layout = join(dir.path, 'zstd-copy');
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${reg.host}/cache/zstd:v1`, `oci:${layout}:v1`]);
    expect((await verifyOciLayout(layout))[0]!.manifest.layers.every((l) => l.mediaType.endsWith('+zstd'))).toBe(true);
    // OCI media types for gzip on request, too.
    const oci = await runStrata(['push', spec, `${reg.host}/cache/ocigz:v1`, '--format', 'oci'], { env });
    expect(((await skopeoInspect(`docker://${reg.host}/cache/ocigz:v1`, ['--tls-verify=false', '--raw'])) as { layers: { mediaType: string }[] }).layers[0]!.mediaType).toBe(
      'application/vnd.oci.image.layer.v1.tar+gzip',
    );
    expect(oci.exitCode).toBe(0);
  });

  it('--no-cache neither reads nor writes the cache; cache prune removes entries', async () => {
    const home = cacheHome();
    const env = { XDG_CACHE_HOME: home };
    const pushed = await runStrata(['push', spec, `${reg.host}/cache/nocache:v1`, '--no-cache'], { env });
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    await expect(readdir(home)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await runStrata(['push', spec, `${reg.host}/cache/nocache:v1`], { env })).exitCode).toBe(0);
    // Four layers, and the closure unless Nix's database changed while it was asked (see above).
    const files = (await readdir(join(home, 'strata'), { recursive: true })).filter((n) => n.endsWith('.json'));
    expect(files.filter((n) => n.startsWith('layers-1/'))).toHaveLength(4);
    expect(files.filter((n) => n.startsWith('closures-1/')).length).toBeLessThanOrEqual(1);
    const kept = await runStrata(['cache', 'prune', '--older-than', '1d'], { env });
    expect(kept.stdout).toBe(`removed 0 entries (0 B), kept ${files.length}, in ${join(home, 'strata')}\n`);
    const pruned = await runStrata(['cache', 'prune', '--all'], { env });
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(new RegExp(`^removed ${files.length} entries \\(\\d+(\\.\\d)? [KM]?i?B\\), kept 0, in `));
    const bad = await runStrata(['cache', 'prune', '--older-than', 'soon'], { env });
    expect(bad.exitCode).toBe(2);
  });

  it('refuses zstd in a Docker schema 2 manifest, and levels out of range, as usage errors', async () => {
    for (const args of [
      ['--compression', 'zstd', '--format', 'v2s2'],
      ['--compression', 'gzip', '--compression-level', '0'],
      ['--compression', 'none', '--compression-level', '3'],
    ]) {
      const result = await runStrata(['push', spec, `${reg.host}/cache/never:v1`, ...args]);
      expect(result.exitCode, result.stderr).toBe(2);
    }
    expect(uploads(reg, 'cache/never')).toBe(0);
  });
});

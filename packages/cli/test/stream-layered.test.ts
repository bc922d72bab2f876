import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  podmanLoad,
  podmanRemove,
  podmanRun,
  repoRoot,
  run,
  runStrata,
  skopeoInspect,
  type TempDir,
  unpackImage,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, readArchiveJson, streamToFile, uniqueImageName } from './_layered.js';

describe.runIf(hasPeers('nix-build', 'nix', 'podman', 'skopeo', 'umoci'))('strata stream-layered / build-layered', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  const images: string[] = [];
  beforeAll(async () => {
    hello = await buildHelloClosure();
    dir = await makeTempDir('strata-cli-layered-');
  });
  afterAll(async () => {
    for (const image of images) await podmanRemove(image);
    await dir.remove();
  });
  const helloArgs = (name: string) => ['--name', name, '--contents', hello.hello, '--config', JSON.stringify({ Cmd: [`${hello.hello}/bin/hello`] })];

  it('streams an image podman loads and runs, also as a non-root user', async () => {
    const name = uniqueImageName();
    images.push(`${name}:v1`);
    const file = join(dir.path, 'hello.tar');
    const result = await streamToFile([...helloArgs(name), '--tag', 'v1'], file);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(await podmanLoad(file)).toBe(`localhost/${name}:v1`);
    const run = await podmanRun(`${name}:v1`);
    expect(run.stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);
    expect(run.exitCode).toBe(0);
    // /nix and /nix/store are 0755: a non-root user reaches the app, through the /bin link too.
    const asUser = await podmanRun(`${name}:v1`, ['/bin/hello'], { user: '1000:1000' });
    expect(asUser.stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);
    const modes = await podmanRun(`${name}:v1`, [`${hello.busybox}/bin/busybox`, 'stat', '-c', '%a %n', '/nix', '/nix/store'], { user: '1000:1000' });
    expect(modes.stdout).toBe('755 /nix\n755 /nix/store\n');
  });

  it('skopeo inspects it and umoci unpacks every file with the owner, mode and mtime asked for', async () => {
    const file = join(dir.path, 'owned.tar');
    const owner = ['--uid', '1234', '--gid', '5678', '--uname', 'app', '--gname', 'apps', '--mtime', '2001-02-03T04:05:06Z', '--tag', 'x'];
    expect((await streamToFile([...helloArgs('owned'), ...owner], file)).exitCode).toBe(0);
    const inspect = await skopeoInspect(`docker-archive:${file}`);
    expect(inspect.Architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(inspect.Created).toBe('1970-01-01T00:00:01Z');
    const unpacked = await unpackImage(`docker-archive:${file}`);
    try {
      const store = unpacked.files.filter((f) => f.path.startsWith('/nix'));
      expect(store.length).toBeGreaterThan(8);
      for (const f of store) expect([f.path, f.uid, f.gid, f.mtime]).toEqual([f.path, 1234, 5678, 981173106]);
      const onDisk = await stat(`${hello.hello}/bin/hello`);
      expect(unpacked.files.find((f) => f.path === `${hello.hello}/bin/hello`)?.mode).toBe(onDisk.mode & 0o7777);
      expect(unpacked.files.find((f) => f.path === '/nix/store')?.mode).toBe(0o755);
      expect(unpacked.files.find((f) => f.path === '/bin/hello')).toMatchObject({ type: 'symlink', linkTarget: `${hello.hello}/bin/hello` });
    } finally {
      await unpacked.remove();
    }
  });

  it('builds byte-identical images from one spec, and a changed path changes only its layers', async () => {
    const spec = join(dir.path, 'spec.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(spec, JSON.stringify({ name: 'same', contents: [hello.hello], config: { Cmd: ['/bin/hello'] } }));
    const [a, b] = [join(dir.path, 'a.tar'), join(dir.path, 'b.tar')];
    expect((await runStrata(['build-layered', '--spec', spec, '--compressor', 'none', '-o', a])).exitCode).toBe(0);
    expect((await streamToFile(['--spec', spec], b)).exitCode).toBe(0);
    expect((await bytesOf(a)).equals(await bytesOf(b))).toBe(true);

    const other = await buildHelloClosure({ message: 'Hello, other world!' });
    const c = join(dir.path, 'c.tar');
    expect((await streamToFile(['--spec', spec, '--contents', other.hello], c)).exitCode).toBe(0);
    const layersOf = async (file: string) => {
      const { config } = await readArchiveJson(file);
      return (config.history ?? []).map((h, i) => ({ comment: h.comment ?? '', diffId: config.rootfs.diff_ids[i]! }));
    };
    const before = await layersOf(a);
    const after = await layersOf(c);
    expect(after.length).toBe(before.length);
    const busybox = (ls: { comment: string; diffId: string }[]) => ls.find((l) => l.comment === `store paths: ["${hello.busybox}"]`)?.diffId;
    expect(busybox(after)).toBeDefined();
    expect(busybox(after)).toBe(busybox(before));
    const changed = after.filter((l, i) => l.diffId !== before[i]!.diffId).map((l) => l.comment);
    expect(changed.some((c) => c.includes(other.greeting))).toBe(true);
    expect(changed.some((c) => c.includes(hello.busybox))).toBe(false);
  });

  it('writes the same bytes into a pipe as into a file', async () => {
    // A pipe on stdout takes the thread-pool path (a blocking reopen of the pipe); a file does not.
    const file = join(dir.path, 'direct.tar');
    const piped = join(dir.path, 'piped.tar');
    const args = [...helloArgs('pipe'), '--tag', 'p'];
    expect((await streamToFile(args, file)).exitCode).toBe(0);
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const cmd = `set -o pipefail; '${process.execPath}' '${bin}' stream-layered ${args.map((a) => `'${a}'`).join(' ')} | cat > '${piped}'`;
    expect((await run('bash', ['-c', cmd])).exitCode).toBe(0);
    const bytes = await bytesOf(piped);
    expect(bytes.length).toBeGreaterThan(1 << 20);
    expect(bytes.equals(await bytesOf(file))).toBe(true);
  });

  it('writes to a device on stdout as to a file: /dev/null takes it, /dev/full fails with a one-line error', async () => {
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const stream = `'${process.execPath}' '${bin}' stream-layered ${[...helloArgs('device'), '--tag', 'd'].map((a) => `'${a}'`).join(' ')}`;
    const devNull = await run('bash', ['-c', `${stream} > /dev/null`], { allowFailure: true });
    expect([devNull.exitCode, devNull.stderr]).toEqual([0, '']);
    const full = await run('bash', ['-c', `${stream} > /dev/full`], { allowFailure: true });
    expect([full.exitCode, full.stderr]).toEqual([1, 'strata: ENOSPC: no space left on device, write\n']);
  });

  it('reads contents next to the spec file, and shows progress only on a terminal', async () => {
    const { symlink, writeFile } = await import('node:fs/promises');
    await symlink(hello.hello, join(dir.path, 'result'));
    await writeFile(join(dir.path, 'rel.json'), JSON.stringify({ name: 'rel', tag: 'r', contents: './result' }));
    const out = join(dir.path, 'rel.tar');
    const quiet = await runStrata(['build-layered', '--spec', join(dir.path, 'rel.json'), '--compressor', 'none', '-o', out]);
    expect([quiet.exitCode, quiet.stderr, quiet.stdout]).toEqual([0, '', '']);
    expect((await readArchiveJson(out)).config.history?.at(-1)?.comment).toBe(`customisation layer: ["${hello.hello}"]`);
    // script(1) gives the command a terminal for stderr; the image still goes to a file.
    const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
    const cmd = `'${process.execPath}' '${bin}' build-layered --spec '${join(dir.path, 'rel.json')}' --compressor none -o '${join(dir.path, 'tty.tar')}'`;
    const tty = await run('script', ['-qec', cmd, '/dev/null']);
    expect(tty.stdout).toMatch(/layer \d+ of \d+ +[\d.]+ (KiB|MiB) \/ [\d.]+ MiB +[\d.]+ (B|KiB|MiB|GiB)\/s/);
    expect((await bytesOf(join(dir.path, 'tty.tar'))).equals(await bytesOf(out))).toBe(true);
  });

  it('keeps the layer count within maxLayers and names a default tag from the inputs', async () => {
    for (const maxLayers of [2, 3, 100]) {
      const file = join(dir.path, `max${maxLayers}.tar`);
      expect((await streamToFile([...helloArgs('Max-Layers'), '--max-layers', String(maxLayers)], file)).exitCode).toBe(0);
      const { manifest, config } = await readArchiveJson(file);
      expect(manifest.Layers.length).toBeLessThanOrEqual(maxLayers);
      expect(config.rootfs.diff_ids.length).toBe(manifest.Layers.length);
      expect(manifest.RepoTags).toEqual([expect.stringMatching(/^max-layers:[0-9a-f]{32}$/)]);
      if (maxLayers === 2) expect(manifest.Layers.length).toBe(2);
    }
  });

  it('writes gzip by default: the uncompressed image, reproducibly compressed', async () => {
    const [gz, gz2, plain] = ['a.tar.gz', 'b.tar.gz', 'c.tar'].map((f) => join(dir.path, f)) as [string, string, string];
    const result = await runStrata(['build-layered', ...helloArgs('gz'), '--tag', 'gz', '-o', gz]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    expect((await runStrata(['build-layered', ...helloArgs('gz'), '--tag', 'gz', '-o', gz2])).exitCode).toBe(0);
    expect((await runStrata(['build-layered', ...helloArgs('gz'), '--tag', 'gz', '--compressor', 'none', '-o', plain])).exitCode).toBe(0);
    expect((await bytesOf(gz)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect((await bytesOf(gz)).equals(await bytesOf(gz2))).toBe(true);
    // podman 4.3 loads only uncompressed docker-archives (docker load takes gzip); compare the bytes instead.
    expect(gunzipSync(await bytesOf(gz)).equals(await bytesOf(plain))).toBe(true);
  });

  it('puts a base image (fromImage) first and merges its Env as nixpkgs does', async () => {
    const base = join(dir.path, 'base.tar');
    const baseArgs = ['--name', 'base', '--tag', 'b', '--contents', hello.busybox, '--config', JSON.stringify({ Env: ['FROM_PARENT=true', 'LAST_LAYER=base'] })];
    expect((await streamToFile(baseArgs, base)).exitCode).toBe(0);
    const name = uniqueImageName();
    images.push(`${name}:top`);
    const top = join(dir.path, 'top.tar');
    const config = { Cmd: ['/bin/sh', '-c', 'echo $FROM_PARENT $LAST_LAYER; hello'], Env: ['LAST_LAYER=child', 'PATH=/bin'] };
    const result = await streamToFile(['--name', name, '--tag', 'top', '--from-image', base, '--contents', hello.hello, '--config', JSON.stringify(config)], top);
    expect(result.stderr).toBe('');
    const { manifest, config: image } = await readArchiveJson(top);
    const baseJson = await readArchiveJson(base);
    expect(image.rootfs.diff_ids.slice(0, baseJson.manifest.Layers.length)).toEqual(baseJson.config.rootfs.diff_ids);
    expect(image.config?.Env).toEqual(['FROM_PARENT=true', 'LAST_LAYER=child', 'PATH=/bin']);
    expect(manifest.Layers.length).toBeGreaterThan(baseJson.manifest.Layers.length);
    await podmanLoad(top);
    expect((await podmanRun(`${name}:top`)).stdout).toBe(`true child\nHello, world!\nfrom ${hello.hello}\n`);
  });
});

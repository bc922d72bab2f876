import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '@strata/dockertools';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  podmanInspect,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  type RunningRegistry,
  runStrata,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, buildWithCli, type Fixtures } from './_build-image.js';
import { readArchiveJson } from './_layered.js';

// nixpkgs' docker-tools acceptance cases for buildImage (reference §8), run for real: strata builds
// the image with `strata build-image`, podman loads and runs it.

describe.runIf(hasPeers('nix-build', 'podman', 'docker-registry'))('build-image, as nixpkgs tests buildImage', () => {
  let hello: HelloClosure;
  let fx: Fixtures;
  let dir: TempDir;
  const loaded: string[] = [];
  const unique = (prefix = 'strata-cli-build-image') => `${prefix}-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    hello = await buildHelloClosure();
    fx = await buildFixtures(hello);
    dir = await makeTempDir('strata-cli-build-image-');
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await dir.remove();
  });

  const build = (args: readonly string[], options: { load?: boolean; compressor?: string } = {}) => buildWithCli(dir.path, loaded, args, options);

  const sh = (image: string, script: string) => podmanRun(image, ['/bin/sh', '-c', script]);

  it('5: a stable date, and the tag asked for', async () => {
    const name = unique();
    const { image } = await build(['--name', name, '--tag', 'latest', '--copy-to-root', fx.root]);
    expect(image).toBe(`localhost/${name}:latest`);
    expect((await podmanInspect(image)).Created).toMatch(/^1970-01-01T00:00:01(\.0+)?Z$/);
    expect((await sh(image, 'echo $((6 * 7))')).stdout).toBe('42\n');
  });

  it("6: without a tag, the image's tag is the one the library reports (nixpkgs' imageTag)", async () => {
    const name = unique('Bash-No-Tag');
    const { archive, image } = await build(['--name', name, '--copy-to-root', fx.root]);
    const built = await buildImage({ name, copyToRoot: fx.root });
    await built.dispose();
    expect(built.imageTag).toMatch(/^[0-9a-f]{32}$/);
    expect((await readArchiveJson(archive)).manifest.RepoTags).toEqual([`${name.toLowerCase()}:${built.imageTag}`]);
    expect(image).toBe(`localhost/${name.toLowerCase()}:${built.imageTag}`);
  });

  it('17: layersOrder: three chained images, each layer on top of the one before (bases zstd and gzip archives)', async () => {
    const l1 = await build(['--name', unique(), '--tag', 'l1', '--extra-commands', 'mkdir -p tmp; echo layer1 > tmp/layer1; echo layer1 > tmp/layer2; echo layer1 > tmp/layer3'], { load: false, compressor: 'zstd' });
    const l2 = await build(['--name', unique(), '--tag', 'l2', '--from-image', l1.archive, '--extra-commands', 'mkdir -p tmp; echo layer2 > tmp/layer2; echo layer2 > tmp/layer3'], { load: false, compressor: 'gz' });
    const l3 = await build(['--name', unique(), '--tag', 'l3', '--from-image', l2.archive, '--copy-to-root', fx.root, '--extra-commands', 'mkdir -p tmp; echo layer3 > tmp/layer3']);
    expect((await readArchiveJson(l3.archive)).manifest.Layers).toHaveLength(3);
    expect((await sh(l3.image, 'cat /tmp/layer1 /tmp/layer2 /tmp/layer3')).stdout).toBe('layer1\nlayer2\nlayer3\n');
  });

  it('20: Env is inherited from the base image, the child winning', async () => {
    const parent = await build(['--name', unique(), '--tag', 'parent', '--config', '{"Env":["FROM_PARENT=true","LAST_LAYER=parent"]}'], { load: false });
    const child = await build(['--name', unique(), '--tag', 'child', '--from-image', parent.archive, '--copy-to-root', fx.root, '--config', '{"Env":["FROM_CHILD=true","LAST_LAYER=child"]}']);
    const env = (await podmanRun(child.image, ['/bin/busybox', 'env'])).stdout.split('\n');
    expect(env).toEqual(expect.arrayContaining(['FROM_PARENT=true', 'FROM_CHILD=true', 'LAST_LAYER=child']));
    expect((await readArchiveJson(child.archive)).config.config?.Env?.filter((e) => e.startsWith('LAST_LAYER='))).toEqual(['LAST_LAYER=child']);
  });

  it('19: a base whose manifest lists the same layer twice', async () => {
    const empty = await build(['--name', unique(), '--tag', 'e1'], { load: false });
    const twice = await build(['--name', unique(), '--tag', 'e2', '--from-image', empty.archive], { load: false });
    // As nixpkgs' test makes it: both layers are one tar file, the others symlinks to it.
    const unpacked = join(dir.path, 'repeated');
    await mkdir(unpacked);
    await run('tar', ['-C', unpacked, '-xf', twice.archive]);
    const manifest = JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const [first, second] = manifest[0]!.Layers as [string, string];
    expect((await readArchiveJson(twice.archive)).config.rootfs.diff_ids).toHaveLength(2);
    await rename(join(unpacked, first), join(unpacked, 'shared.tar'));
    await rm(join(unpacked, second));
    await symlink('../shared.tar', join(unpacked, first));
    await symlink('../shared.tar', join(unpacked, second));
    manifest[0]!.Layers = ['shared.tar', 'shared.tar'];
    await writeFile(join(unpacked, 'manifest.json'), JSON.stringify(manifest));
    const base = join(dir.path, 'repeated.tar');
    await run('tar', ['-C', unpacked, '--sort=name', '-cf', base, '.']);
    const { image } = await build(['--name', unique(), '--tag', 'repeated', '--from-image', base, '--copy-to-root', fx.root]);
    const r = await sh(image, 'exit 0');
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('12: on top of an image pulled from a registry; the name is lower-cased', async () => {
    const reg: RunningRegistry = await startRegistry();
    try {
      const base = await build(['--name', unique(), '--tag', 'base', '--copy-to-root', fx.root], { load: false });
      const pushed = await runStrata(['push', base.archive, `${reg.host}/strata/base:1`]);
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      const pulledFile = join(dir.path, 'pulled.tar');
      const pulled = await runStrata(['pull', pushed.stdout.trim(), '-o', pulledFile]);
      expect(pulled.exitCode, pulled.stderr).toBe(0);
      const name = unique('onTopOfPulledImage');
      const { image } = await build(['--name', name, '--tag', 'latest', '--from-image', pulledFile, '--copy-to-root', fx.helloRoot]);
      expect(image).toBe(`localhost/${name.toLowerCase()}:latest`);
      expect((await podmanRun(image, ['hello'])).stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);
      expect((await sh(image, 'echo base shell')).stdout).toBe('base shell\n');
    } finally {
      await reg.stop();
    }
  });

  it('28: a registry prefix in the name; the config\'s store paths join the image', async () => {
    const name = unique('registry.example.test/prefixed');
    const { image } = await build(['--name', name, '--tag', 'latest', '--config', JSON.stringify({ Cmd: [`${hello.hello}/bin/hello`] })]);
    expect(image).toBe(`${name}:latest`);
    expect((await podmanRun(image)).stdout).toBe(`Hello, world!\nfrom ${hello.hello}\n`);
  });

  it('33: a bare path in contents, the deprecated name, with a notice', async () => {
    const local = join(dir.path, 'test-dummy');
    await mkdir(local);
    await writeFile(join(local, 'hello.txt'), 'hello from a local directory\n');
    const { image, stderr } = await build(['--name', unique(), '--tag', 'latest', '--contents', fx.root, local]);
    expect(stderr).toContain('strata: buildImage: contents is deprecated; use copyToRoot');
    expect((await sh(image, 'cat /hello.txt')).stdout).toBe('hello from a local directory\n');
  });

  it('34: the architecture asked for', async () => {
    const { image, archive } = await build(['--name', unique(), '--tag', 'latest', '--copy-to-root', fx.root, '--architecture', 'arm64']);
    expect((await podmanInspect(image)).Architecture).toBe('arm64');
    expect((await readArchiveJson(archive)).config.architecture).toBe('arm64');
  });

  it('35: an image with certs: the bundle is readable at the three usual paths', async () => {
    const { image } = await build(['--name', unique(), '--tag', 'latest', '--copy-to-root', fx.root, fx.certs]);
    const r = await sh(image, 'test -r /etc/ssl/certs/ca-bundle.crt && test -r /etc/ssl/certs/ca-certificates.crt && test -r /etc/pki/tls/certs/ca-bundle.crt && head -1 /etc/pki/tls/certs/ca-bundle.crt');
    expect(r.stdout).toBe('-----BEGIN CERTIFICATE-----\n');
  });

  it('8: buildImageWithNixDb: nix-store -qR works inside the image and the nix symlinks are intact', async () => {
    const spec = join(dir.path, 'nix.json');
    const name = unique();
    await writeFile(spec, JSON.stringify({ builder: 'buildImageWithNixDb', name, tag: 'latest', copyToRoot: fx.nixRoot, config: { Env: ['NIX_PAGER=cat', 'USER=nobody'] } }));
    const { image } = await build(['--spec', spec]);
    const qr = await podmanRun(image, ['nix-store', '-qR', fx.nix]);
    expect(qr.exitCode, qr.stderr).toBe(0);
    expect(qr.stdout.split('\n').filter(Boolean).sort()).toEqual([fx.busybox, fx.nix].sort());
    expect((await sh(image, `readlink ${fx.nix}/bin/nix-daemon`)).stdout).toBe('nix\n');
  });

  it('writes OCI too: an oci-archive with zstd layers that podman runs', async () => {
    const archive = join(dir.path, 'oci.tar');
    const name = unique();
    const result = await runStrata(['build-image', '--name', name, '--tag', 'oci', '--copy-to-root', fx.root, '--format', 'oci-archive', '--compression', 'zstd', '-o', archive]);
    expect(result.exitCode, result.stderr).toBe(0);
    loaded.push(await podmanLoad(archive));
    expect((await sh(`${name}:oci`, 'echo from oci')).stdout).toBe('from oci\n');
  });

  it('a string Cmd and Entrypoint, as Docker reads them, in build-image and build-layered alike', async () => {
    const config = JSON.stringify({ Entrypoint: '/bin/sh', Cmd: ['-c', 'echo one string'] });
    const { image } = await build(['--name', unique(), '--tag', 'latest', '--copy-to-root', fx.root, '--config', config]);
    expect((await podmanRun(image)).stdout).toBe('one string\n');
    const layered = join(dir.path, 'layered.tar');
    const name = unique();
    const result = await runStrata(['build-layered', '--name', name, '--tag', 'latest', '--contents', fx.busybox, '--config', config, '--compressor', 'none', '-o', layered]);
    expect(result.exitCode, result.stderr).toBe(0);
    loaded.push(await podmanLoad(layered));
    expect((await podmanRun(`${name}:latest`)).stdout).toBe('one string\n');
  });

  it('push builds a spec marked "builder": "buildImage" straight into a registry; unmarked, it says which key to add', async () => {
    const reg = await startRegistry();
    try {
      const spec = join(dir.path, 'push.json');
      await writeFile(spec, JSON.stringify({ builder: 'buildImage', name: 'pushed', tag: 'v1', copyToRoot: fx.root, config: { Cmd: ['/bin/sh', '-c', 'echo pushed'] } }));
      const pushed = await runStrata(['push', spec, `${reg.host}/strata/pushed:v1`]);
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      const file = join(dir.path, 'pushed.tar');
      const pulled = await runStrata(['pull', pushed.stdout.trim(), '-o', file, '--final-name', unique(), '--final-tag', 'v1']);
      expect(pulled.exitCode, pulled.stderr).toBe(0);
      const image = await podmanLoad(file);
      loaded.push(image);
      expect((await podmanRun(image)).stdout).toBe('pushed\n');

      const unmarked = join(dir.path, 'unmarked.json');
      await writeFile(unmarked, JSON.stringify({ name: 'x', copyToRoot: fx.root }));
      const refused = await runStrata(['push', unmarked, `${reg.host}/strata/x:1`]);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain(`${unmarked}: "copyToRoot" is a buildImage key; add "builder": "buildImage"`);
      const wrong = await runStrata(['build-layered', '--spec', spec, '-o', join(dir.path, 'never.tar')]);
      expect(wrong.exitCode).toBe(2);
      expect(wrong.stderr).toContain('a buildImage spec; build it with strata build-image');
    } finally {
      await reg.stop();
    }
  });

  it('bad input: not an image, an image name that is not there, both contents and copyToRoot: clear errors, nothing left', async () => {
    const tmp = join(dir.path, 'tmp');
    await mkdir(tmp);
    const out = join(dir.path, 'bad', 'never.tar');
    await mkdir(join(dir.path, 'bad'));
    const notImage = join(dir.path, 'not-an-image.tar');
    await writeFile(notImage, 'this is not a tar\n');
    const strata = (args: string[]) => runStrata(['build-image', '--name', 'bad', ...args, '-o', out], { env: { TMPDIR: tmp } });

    const a = await strata(['--from-image', notImage]);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toContain(notImage);

    const base = await build(['--name', 'base-x', '--tag', 'one'], { load: false });
    const b = await strata(['--from-image', base.archive, '--from-image-name', 'base-x', '--from-image-tag', 'two']);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toContain(`${base.archive}: no image base-x:two (the archive has base-x:one)`);

    const c = await strata(['--copy-to-root', fx.root, '--contents', fx.root]);
    expect(c.exitCode).toBe(2);
    expect(c.stderr).toContain('contents: the deprecated name of copyToRoot; give only one of them');

    const d = await strata(['--copy-to-root', fx.root, '--extra-commands', 'echo "it broke" >&2; exit 5']);
    expect(d.exitCode).toBe(1);
    expect(d.stderr).toContain('extraCommands failed (exit 5):\nit broke');

    expect(await readdir(join(dir.path, 'bad'))).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });
});

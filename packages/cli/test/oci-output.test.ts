import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  runStrata,
  skopeoInspect,
  type TempDir,
  verifyOciArchive,
  verifyOciLayout,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamToFile, uniqueImageName } from './_layered.js';

describe.runIf(hasPeers('nix-build', 'podman', 'runc', 'skopeo', 'umoci', 'oci-image-tool'))('OCI output: --format oci-archive and oci', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  const images: string[] = [];
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'an OCI image' });
    dir = await makeTempDir('strata-cli-oci-');
  });
  afterAll(async () => {
    for (const image of images) await podmanRemove(image);
    await dir.remove();
  });
  const helloArgs = (name: string) => ['--name', name, '--tag', 'v1', '--contents', hello.hello, '--config', JSON.stringify({ Cmd: [`${hello.hello}/bin/hello`] })];

  it('streams an oci-archive that podman loads and runs, and umoci unpacks with the owners asked for', async () => {
    const name = uniqueImageName();
    images.push(`localhost/${name}:v1`);
    const file = join(dir.path, 'stream.tar');
    const result = await streamToFile([...helloArgs(name), '--format', 'oci-archive', '--uid', '1000', '--gid', '100'], file);
    expect(result.exitCode, result.stderr).toBe(0);
    const [image] = await verifyOciArchive(file);
    expect(image!.annotations).toEqual({ 'io.containerd.image.name': `${name}:v1`, 'org.opencontainers.image.ref.name': 'v1' });
    expect(image!.manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);
    expect(await podmanLoad(file)).toBe(`localhost/${name}:v1`);
    expect((await podmanRun(`localhost/${name}:v1`)).stdout).toBe(`an OCI image\nfrom ${hello.hello}\n`);

    const layout = join(dir.path, 'stream-layout');
    await mkdir(layout);
    await run('tar', ['-xf', file, '-C', layout]);
    const validated = await run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=v1', layout], { allowFailure: true });
    expect(validated.exitCode, validated.stderr).toBe(0);
    const bundle = join(dir.path, 'stream-bundle');
    await run('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    const message = await lstat(join(bundle, 'rootfs', hello.greeting, 'share/greeting/message'));
    expect([message.uid, message.gid]).toEqual([1000, 100]);
    // The customisation layer keeps nixpkgs' root owners.
    const link = await lstat(join(bundle, 'rootfs/bin'));
    expect([link.uid, link.gid]).toEqual([0, 0]);
  });

  it('builds an OCI layout directory with gzip layers that skopeo copies and oci-image-tool validates', async () => {
    const out = join(dir.path, 'layout');
    const result = await runStrata(['build-layered', ...helloArgs('oci-dir'), '--format', 'oci', '--compression', 'gzip', '-o', out]);
    expect(result.exitCode, result.stderr).toBe(0);
    const [image] = await verifyOciLayout(out);
    expect(image!.manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
    const validated = await run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=v1', out], { allowFailure: true });
    expect(validated.exitCode, validated.stderr).toBe(0);
    const copy = join(dir.path, 'copied.tar');
    await run('skopeo', ['--insecure-policy', 'copy', `oci:${out}:v1`, `docker-archive:${copy}:oci-dir:v1`]);
    expect((await skopeoInspect(`docker-archive:${copy}`)).Layers).toHaveLength(image!.manifest.layers.length);
  });

  it('writes the same zstd oci-archive twice, byte for byte, and skopeo reads it', async () => {
    const a = join(dir.path, 'a.tar');
    const b = join(dir.path, 'b.tar');
    for (const file of [a, b]) {
      const result = await runStrata(['build-layered', ...helloArgs('oci-zstd'), '--format', 'oci-archive', '--compression', 'zstd', '--compression-level', '9', '-o', file]);
      expect(result.exitCode, result.stderr).toBe(0);
    }
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    const [image] = await verifyOciArchive(a);
    expect(image!.manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd')).toBe(true);
    expect((await skopeoInspect(`oci-archive:${a}`)).Digest).toBe(image!.digest);
  });

  it('refuses flags that do not fit the format, before building anything', async () => {
    const spec = join(dir.path, 'spec.json');
    await writeFile(spec, JSON.stringify({ name: 'never-built', contents: [hello.hello] }));
    const out = join(dir.path, 'never');
    const cases: [string[], RegExp][] = [
      [['build-layered', '--spec', spec, '--format', 'oci-archive', '--compressor', 'gz', '-o', out], /--compressor: oci-archive output compresses each layer/],
      [['build-layered', '--spec', spec, '--compression', 'gzip', '-o', out], /--compression: docker-archive layers stay uncompressed/],
      [['build-layered', '--spec', spec, '--format', 'oci', '--compression', 'gzip', '--compression-level', '10', '-o', out], /--compression-level: gzip takes 1 to 9, got 10/],
      [['build-layered', '--spec', spec, '--format', 'oci', '--compression-level', '3', '-o', out], /--compression-level: uncompressed layers take no level/],
      [['stream-layered', '--spec', spec, '--format', 'oci'], /--format oci: a layout directory cannot stream/],
    ];
    for (const [args, message] of cases) {
      const result = await runStrata(args);
      expect(result.exitCode, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect((await readdir(dir.path)).filter((n) => n.startsWith('never') || n.startsWith('.never'))).toEqual([]);
  });
});

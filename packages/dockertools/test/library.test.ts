import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pushImage, readImage, writeDockerArchive } from '@strata/image';
import { pullImage } from '@strata/registry';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  podmanLoad,
  podmanRemove,
  podmanRun,
  type RunningRegistry,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayeredImage, DockerToolsError, parseLayeredSpec, streamLayeredImage } from '../src/index.js';

describe.runIf(hasPeers('nix-build', 'podman', 'docker-registry'))('the layered builders as a library', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let reg: RunningRegistry;
  const images: string[] = [];
  const unique = () => `strata-dockertools-test-${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    hello = await buildHelloClosure();
    dir = await makeTempDir('strata-dockertools-');
    reg = await startRegistry();
  });
  afterAll(async () => {
    for (const image of images) await podmanRemove(image);
    await reg.stop();
    await dir.remove();
  });

  it('streamLayeredImage + writeDockerArchive: an image podman loads and runs, nothing read before the sink', async () => {
    const name = unique();
    images.push(`${name}:v1`);
    const image = await streamLayeredImage({ name, tag: 'v1', contents: [hello.hello], config: { Cmd: [`${hello.hello}/bin/hello`] } });
    try {
      expect(image.imageTag).toBe('v1');
      expect(image.repoTags).toEqual([`${name}:v1`]);
      // Layer sizes are known up front; digests only once a sink has read the layers.
      expect(image.layers.every((l) => l.size > 0 && l.diffId === undefined)).toBe(true);
      const file = join(dir.path, 'hello.tar');
      await pipeline(writeDockerArchive(image), createWriteStream(file));
      expect(image.layers.every((l) => l.diffId?.startsWith('sha256:'))).toBe(true);
      expect(await podmanLoad(file)).toBe(`localhost/${name}:v1`);
      const run = await podmanRun(`${name}:v1`);
      expect(run.stdout).toMatch(/^Hello, world!\n/);
    } finally {
      await image.dispose();
    }
  });

  it('buildLayeredImage writes a compressed file atomically and returns the tag it derived', async () => {
    const output = join(dir.path, 'built.tar.gz');
    const saved = await buildLayeredImage({ name: 'Built', contents: hello.hello, output });
    expect(saved.imageTag).toMatch(/^[0-9a-f]{32}$/);
    expect(saved.repoTags).toEqual([`built:${saved.imageTag}`]);
    expect(saved.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const again = await buildLayeredImage({ name: 'Built', contents: hello.hello, output: join(dir.path, 'again.tar.gz') });
    expect(again.imageTag).toBe(saved.imageTag);
    expect(again.imageId).toBe(saved.imageId);
  });

  it('takes an image value as fromImage, and the same image pushes to a registry read once per layer', async () => {
    const baseFile = join(dir.path, 'base.tar');
    const base = await streamLayeredImage({ name: 'base', tag: '1', contents: [hello.hello], config: { Env: ['FROM_BASE=1'] } });
    try {
      await pipeline(writeDockerArchive(base), createWriteStream(baseFile));
    } finally {
      await base.dispose();
    }
    const child = await streamLayeredImage({ name: 'child', tag: '1', fromImage: await readImage(baseFile), config: { Env: ['CHILD=1'] }, maxLayers: 10 });
    try {
      const pushed = await pushImage(child, `${reg.host}/dockertools/child:1`, { retry: { delayMs: 10 } });
      const pulled = await pullImage(`${reg.host}/dockertools/child@${pushed.digest}`, { retry: { delayMs: 10 } });
      const config = JSON.parse(pulled.config.bytes.toString()) as { config: { Env: string[] }; rootfs: { diff_ids: string[] } };
      expect(config.config.Env).toEqual(['FROM_BASE=1', 'CHILD=1']);
      expect(config.rootfs.diff_ids).toEqual(child.layers.map((l) => l.diffId));
      expect(pushed.layers.length).toBe(child.layers.length);
    } finally {
      await child.dispose();
    }
  });

  it('derives the default tag from what the last layer holds (content and owners), reading no layer for it', async () => {
    const local = join(dir.path, 'local');
    await mkdir(local, { recursive: true });
    const tagOf = async (extra: object = {}) => {
      const image = await streamLayeredImage({ name: 'tagged', contents: [hello.hello, local], ...extra });
      await image.dispose();
      return image.imageTag;
    };
    await writeFile(join(local, 'data'), 'aaaa');
    const first = await tagOf();
    expect(await tagOf()).toBe(first);
    // Where the closure's answers are kept is not an input: the tag is the same, asked or cached.
    const entries = new Map<string, Uint8Array>();
    const closureCache = { directory: dir.path, get: async (key: string) => entries.get(key), put: async (key: string, bytes: Uint8Array) => void entries.set(key, bytes) };
    expect(await tagOf({ closureCache })).toBe(first);
    expect(await tagOf({ closureCache })).toBe(first);
    await writeFile(join(local, 'data'), 'bbbb'); // same size, other content
    const changed = await tagOf();
    expect(changed).not.toBe(first);
    const owned = await tagOf({ fakeRootCommands: 'chown 1000:1000 data' });
    expect(owned).not.toBe(changed);
    expect(await tagOf({ fakeRootCommands: 'chown 1000:1000 data' })).toBe(owned);
  });

  it('validates options with typed errors naming the option, and leaves nothing behind', async () => {
    const out = join(dir.path, 'bad');
    await expect(streamLayeredImage({ name: 'x', maxLayers: 1 })).rejects.toSatisfy(
      (e: unknown) => e instanceof DockerToolsError && e.code === 'INVALID_OPTION' && e.message === 'options.maxLayers: must be greater than 1, got 1',
    );
    await expect(buildLayeredImage({ name: 'x', config: { Cmdd: [] }, output: join(out, 'x.tar') })).rejects.toThrow('options.config: unknown key "Cmdd"');
    expect(() => parseLayeredSpec({ name: 'x', maxLayer: 3 }, 'image.json')).toThrow('image.json: unknown key "maxLayer"');
    expect(await readdir(dir.path)).not.toContain('bad');
  });
});

import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { hasPeers, run, type RunningRegistry, skopeoInspect, startRegistry } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, pullImage, pushImage, RegistryClient, RegistryError, sha256Digest } from '../src/index.js';
import { configFor, mixedImage, randomLayers, readAll } from './_fixtures.js';

const fast = { retry: { delayMs: 10 } };

describe.runIf(hasPeers('docker-registry', 'skopeo'))('push and pull against the real registry (anonymous)', () => {
  let reg: RunningRegistry;
  const layers = randomLayers([300_000, 2_000_000, 50_000]);
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg.stop();
  });

  it('pushes layers three ways, and pulls back the exact bytes', async () => {
    const events: string[] = [];
    const pushed = await pushImage(`${reg.host}/strata/app:1`, mixedImage(layers), { ...fast, onProgress: (e) => events.push(e.event) });
    expect(pushed.layers.map((l) => l.status)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    expect(pushed.layers[2]!.digest).toBe(sha256Digest(layers[2]!));
    expect(pushed.uploadedBytes).toBe(layers.reduce((s, l) => s + l.length, 0) + pushed.config.size);
    expect(events).toContain('progress');

    const image = await pullImage(`${reg.host}/strata/app:1`, fast);
    expect(image.digest).toBe(pushed.digest);
    expect(image.manifestBytes.equals(pushed.manifest)).toBe(true);
    for (const [i, layer] of image.layers.entries()) expect((await readAll(layer.open())).equals(layers[i]!)).toBe(true);
    expect(JSON.parse(image.config.bytes.toString()).rootfs.diff_ids).toEqual(layers.map((l) => sha256Digest(l)));
  });

  it('is read back by skopeo inspect and skopeo copy', async () => {
    const pushed = await pushImage(`${reg.host}/strata/skopeo:1`, mixedImage(layers), fast);
    const info = await skopeoInspect(`docker://${reg.host}/strata/skopeo:1`, ['--tls-verify=false']);
    expect(info.Digest).toBe(pushed.digest);
    expect(info.Layers).toEqual(pushed.layers.map((l) => l.digest));
    const dir = `${reg.dataDir}/../skopeo-copy`;
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${reg.host}/strata/skopeo:1`, `dir:${dir}`]);
    const { stdout } = await run('ls', [dir]);
    expect(stdout.split('\n')).toEqual(expect.arrayContaining(pushed.layers.map((l) => l.digest.slice(7))));
  });

  it('uploads zero bytes when the image is pushed again', async () => {
    await pushImage(`${reg.host}/strata/again:1`, mixedImage(layers), fast);
    const before = reg.log().split('\n').filter((l) => /"(POST|PATCH|PUT) \/v2\/strata\/again\/blobs\/uploads/.test(l)).length;
    // Known digests only: the unknown-digest layer cannot be HEADed before it is read.
    const known = mixedImage(layers);
    const second = await pushImage(`${reg.host}/strata/again:1`, { ...known, layers: known.layers.map((l, i) => ({ ...l, digest: sha256Digest(layers[i]!), size: layers[i]!.length })) }, fast);
    const after = reg.log().split('\n').filter((l) => /"(POST|PATCH|PUT) \/v2\/strata\/again\/blobs\/uploads/.test(l)).length;
    expect(second.uploadedBytes).toBe(0);
    expect(second.layers.map((l) => l.status)).toEqual(['exists', 'exists', 'exists']);
    expect(after).toBe(before);
  });

  it('starts the heaviest layers first and keeps the manifest in layer order', async () => {
    // Streams of unknown digest and size, weighed by the caller (their uncompressed size, say), one at a time.
    const parts = randomLayers([1000, 5000, 3000, 2000]);
    const weights = [10, 1000, undefined, 500];
    const opened: number[] = [];
    const image = {
      layers: parts.map((part, i) => ({
        mediaType: MediaType.dockerLayer,
        ...(weights[i] === undefined ? { size: part.length } : { weight: weights[i] }),
        open: () => {
          opened.push(i);
          return Readable.from([part]);
        },
      })),
      config: configFor([]),
    };
    const pushed = await pushImage(`${reg.host}/strata/weighed:1`, image, { ...fast, concurrency: 1 });
    // Weight, else size: 1000, 3000 (layer 2's size), 500, 10.
    expect(opened).toEqual([2, 1, 3, 0]);
    expect(pushed.layers.map((l) => l.digest)).toEqual(parts.map((p) => sha256Digest(p)));
    const manifest = JSON.parse(pushed.manifest.toString()) as { layers: { digest: string }[] };
    expect(manifest.layers.map((l) => l.digest)).toEqual(parts.map((p) => sha256Digest(p)));
  });

  it('mounts blobs from another repository instead of uploading them', async () => {
    await pushImage(`${reg.host}/strata/source:1`, mixedImage(layers), fast);
    const digests = layers.map((l) => sha256Digest(l));
    const image = { layers: layers.map((l, i) => ({ mediaType: MediaType.dockerLayer, bytes: l, digest: digests[i]!, size: l.length })), config: configFor([]) };
    const pushed = await pushImage(`${reg.host}/strata/target:1`, image, { ...fast, mountFrom: 'strata/source' });
    expect(pushed.layers.map((l) => l.status)).toEqual(['mounted', 'mounted', 'mounted']);
    expect(pushed.uploadedBytes).toBe(pushed.config.size);
  });

  it('uploads in chunks with Content-Range and follows the latest Location', async () => {
    const pushed = await pushImage(`${reg.host}/strata/chunked:1`, mixedImage(layers), { ...fast, uploadMode: 'chunked' });
    const client = new RegistryClient(reg.host);
    const blob = await readAll(client.fetchBlob('strata/chunked', { mediaType: MediaType.dockerLayer, digest: pushed.layers[1]!.digest, size: layers[1]!.length }));
    expect(blob.equals(layers[1]!)).toBe(true);
    const patches = reg.log().split('\n').filter((l) => /"PATCH \/v2\/strata\/chunked\/blobs\/uploads/.test(l));
    expect(patches.length).toBeGreaterThanOrEqual(3);
  });

  it('selects a platform from an index and lists what was there when nothing matches', async () => {
    const amd = await pushImage(`${reg.host}/strata/multi:amd64`, mixedImage(randomLayers([1000, 2000, 3000])), fast);
    const arm = await pushImage(`${reg.host}/strata/multi:arm64`, mixedImage(randomLayers([1000, 2000, 3000]), 'arm64'), fast);
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: [
        { mediaType: amd.mediaType, digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: arm.mediaType, digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    };
    const client = new RegistryClient(reg.host);
    await client.pushManifest('strata/multi', 'latest', Buffer.from(JSON.stringify(index)), MediaType.dockerManifestList);
    const pulled = await pullImage(`${reg.host}/strata/multi`, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(pulled.digest).toBe(arm.digest);
    expect(pulled.index?.mediaType).toBe(MediaType.dockerManifestList);
    await expect(pullImage(`${reg.host}/strata/multi`, { platform: { os: 'linux', architecture: 's390x' } })).rejects.toThrow(
      /no manifest for linux\/s390x; available: linux\/amd64, linux\/arm64\/v8/,
    );
    expect((await client.listTags('strata/multi')).sort()).toEqual(['amd64', 'arm64', 'latest']);
  });

  it('records referrers in the fallback tag when the registry has no referrers API', async () => {
    const subject = await pushImage(`${reg.host}/strata/signed:1`, mixedImage(randomLayers([100, 200, 300])), fast);
    const subjectDescriptor = { mediaType: subject.mediaType, digest: subject.digest, size: subject.manifest.length };
    const empty = { bytes: Buffer.from('{}'), mediaType: MediaType.ociEmpty };
    const sbom = Buffer.from('{"sbom":true}');
    const referrer = await pushImage(
      `${reg.host}/strata/signed:sbom`,
      { layers: [{ mediaType: 'application/spdx+json', bytes: sbom, digest: sha256Digest(sbom), size: sbom.length }], config: empty, manifestMediaType: MediaType.ociManifest, artifactType: 'application/spdx+json', subject: subjectDescriptor },
      fast,
    );
    const client = new RegistryClient(reg.host);
    const found = await client.listReferrers('strata/signed', subject.digest);
    expect(found).toEqual([expect.objectContaining({ digest: referrer.digest, artifactType: 'application/spdx+json' })]);
    expect(await client.listReferrers('strata/signed', subject.digest, { artifactType: 'application/other' })).toEqual([]);
    expect(await client.listTags('strata/signed')).toContain(`sha256-${subject.digest.slice(7)}`);
  });

  it('hands out gzip layers uncompressed, verified against the config diff_ids', async () => {
    const tar = randomLayers([200_000])[0]!;
    const gz = gzipSync(tar);
    const image = (diffId: string) => ({
      layers: [{ mediaType: MediaType.dockerLayerGzip, bytes: gz, digest: sha256Digest(gz), size: gz.length }],
      config: configFor([{ mediaType: MediaType.dockerLayer, digest: diffId, size: 0 }]),
    });
    await pushImage(`${reg.host}/strata/gzip:good`, image(sha256Digest(tar)), fast);
    const good = await pullImage(`${reg.host}/strata/gzip:good`, fast);
    expect(good.layers[0]!.diffId).toBe(sha256Digest(tar));
    expect((await readAll(good.layers[0]!.openUncompressed())).equals(tar)).toBe(true);
    // A plain tar labelled gzip (skopeo reuses known blobs this way) is recognised by its first bytes.
    const mislabelled = { layers: [{ mediaType: MediaType.dockerLayerGzip, bytes: tar, digest: sha256Digest(tar), size: tar.length }], config: configFor([{ mediaType: '', digest: sha256Digest(tar), size: 0 }]) };
    await pushImage(`${reg.host}/strata/gzip:mislabelled`, mislabelled, fast);
    const plain = await pullImage(`${reg.host}/strata/gzip:mislabelled`, fast);
    expect((await readAll(plain.layers[0]!.openUncompressed())).equals(tar)).toBe(true);
    await pushImage(`${reg.host}/strata/gzip:bad`, image(sha256Digest('something else')), fast);
    const bad = await pullImage(`${reg.host}/strata/gzip:bad`, fast);
    await expect(readAll(bad.layers[0]!.openUncompressed())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', expected: sha256Digest('something else') });
  });

  it('hands out zstd layers uncompressed on every Node, compressed by the zstd program', async () => {
    const tar = randomLayers([300_000])[0]!;
    const zst = execFileSync('zstd', ['-c', '-9'], { input: tar });
    const image = {
      layers: [{ mediaType: MediaType.ociLayerZstd, bytes: zst, digest: sha256Digest(zst), size: zst.length }],
      config: { ...configFor([{ mediaType: MediaType.ociLayer, digest: sha256Digest(tar), size: 0 }]), mediaType: MediaType.ociConfig },
    };
    await pushImage(`${reg.host}/strata/zstd:1`, image, fast);
    const pulled = await pullImage(`${reg.host}/strata/zstd:1`, fast);
    expect(pulled.layers[0]!.diffId).toBe(sha256Digest(tar));
    expect((await readAll(pulled.layers[0]!.openUncompressed())).equals(tar)).toBe(true);
  });

  it('puts extra tags, one PUT each where the registry lacks multi-tag PUT', async () => {
    const pushed = await pushImage(`${reg.host}/strata/tags:main`, mixedImage(randomLayers([10, 20, 30])), { ...fast, tags: ['v1', 'v1.0'] });
    const client = new RegistryClient(reg.host);
    expect((await client.listTags('strata/tags')).sort()).toEqual(['main', 'v1', 'v1.0']);
    expect((await client.headManifest('strata/tags', 'v1.0'))?.digest).toBe(pushed.digest);
  });

  it('HEADs a manifest for its descriptor and deletes it by digest', async () => {
    const pushed = await pushImage(`${reg.host}/strata/head:1`, mixedImage(randomLayers([10, 20, 30])), fast);
    const client = new RegistryClient(reg.host);
    expect(await client.headManifest('strata/head', '1')).toEqual({ mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.manifest.length });
    await client.deleteManifest('strata/head', pushed.digest);
    expect(await client.headManifest('strata/head', pushed.digest)).toBeUndefined();
  });

  it('fails with the spec error code and the request that failed', async () => {
    const client = new RegistryClient(reg.host);
    const error = await client.fetchManifest('strata/missing', 'nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: 'MANIFEST_UNKNOWN', status: 404 });
    expect((error as Error).message).toMatch(new RegExp(`^GET http://${reg.host}/v2/strata/missing/manifests/nope: 404 MANIFEST_UNKNOWN`));
  });
});

import { hasPeers, type RunningRegistry, skopeoInspect, startRegistry } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachArtifact, copyImage, MediaType, parseIndex, pullImage, pushImage, pushIndex, RegistryClient, referrersTag } from '../src/index.js';
import { mixedImage, randomLayers } from './_fixtures.js';

const fast = { retry: { delayMs: 10 } };
const mounts = (log: string, repo: string) => log.split('\n').filter((l) => new RegExp(`"POST /v2/${repo}/blobs/uploads/\\?mount=`).test(l)).length;

describe.runIf(hasPeers('docker-registry', 'skopeo'))('copy, index and referrers against the real registry', () => {
  let reg: RunningRegistry;
  let other: RunningRegistry;
  beforeAll(async () => {
    [reg, other] = await Promise.all([startRegistry(), startRegistry()]);
  });
  afterAll(async () => {
    await Promise.all([reg.stop(), other.stop()]);
  });

  async function pushedIndex(repo: string) {
    const amd = await pushImage({ registry: reg.host, repository: repo }, mixedImage(randomLayers([1000, 2000, 3000])), fast);
    const arm = await pushImage({ registry: reg.host, repository: repo }, mixedImage(randomLayers([1500, 2500, 3500]), 'arm64'), fast);
    const index = await pushIndex(`${reg.host}/${repo}:multi`, [
      { mediaType: amd.mediaType, digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: arm.mediaType, digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    return { amd, arm, index };
  }

  it('pushes an OCI index that skopeo lists and pullImage chooses from', async () => {
    const { amd, arm, index } = await pushedIndex('strata/index');
    const raw = (await skopeoInspect(`docker://${reg.host}/strata/index:multi`, ['--tls-verify=false', '--raw'])) as { mediaType: string; manifests: { digest: string; platform: { architecture: string } }[] };
    expect(raw.mediaType).toBe(MediaType.ociIndex);
    expect(raw.manifests.map((m) => [m.platform.architecture, m.digest])).toEqual([
      ['amd64', amd.digest],
      ['arm64', arm.digest],
    ]);
    expect((await pullImage(`${reg.host}/strata/index:multi`, { ...fast, platform: { os: 'linux', architecture: 'arm64' } })).digest).toBe(arm.digest);
    expect(index.reference).toBe(`${reg.host}/strata/index@${index.digest}`);
  });

  it('copies an index within a registry by mounting, keeping every digest', async () => {
    const { amd, arm, index } = await pushedIndex('strata/copy-src');
    const before = mounts(reg.log(), 'strata/copy-dst');
    const copied = await copyImage(`${reg.host}/strata/copy-src:multi`, `${reg.host}/strata/copy-dst:multi`, { source: fast });
    expect(copied.digest).toBe(index.digest);
    expect(copied.manifests).toBe(3);
    expect(copied.blobs.uploaded).toBe(0);
    expect(copied.blobs.mounted).toBe(8);
    expect(mounts(reg.log(), 'strata/copy-dst') - before).toBe(8);
    const client = new RegistryClient(reg.host, fast);
    for (const digest of [amd.digest, arm.digest]) expect((await client.headManifest('strata/copy-dst', digest))?.digest).toBe(digest);
    expect((await client.fetchManifest('strata/copy-dst', 'multi')).bytes.equals(index.bytes)).toBe(true);
  });

  it('copies one platform of an index to another registry, streaming blobs across', async () => {
    const { arm } = await pushedIndex('strata/cross');
    const copied = await copyImage(`${reg.host}/strata/cross:multi`, `${other.host}/mirror/cross:arm`, { platform: { os: 'linux', architecture: 'arm64' }, source: fast, destination: fast });
    expect(copied.digest).toBe(arm.digest);
    expect(copied.blobs.uploaded).toBe(4);
    expect(mounts(other.log(), 'mirror/cross')).toBe(0);
    const info = await skopeoInspect(`docker://${other.host}/mirror/cross:arm`, ['--tls-verify=false']);
    expect(info.Digest).toBe(arm.digest);
    expect(info.Architecture).toBe('arm64');
  });

  it('refuses a destination digest the source does not have', async () => {
    const { amd } = await pushedIndex('strata/pinned');
    await expect(copyImage(`${reg.host}/strata/pinned@${amd.digest}`, `${reg.host}/strata/pinned2@sha256:${'0'.repeat(64)}`, { source: fast })).rejects.toThrow(/has digest/);
  });

  it('attaches an artifact that the referrers fallback tag lists, for strata and skopeo', async () => {
    const image = await pushImage(`${reg.host}/strata/attach:1`, mixedImage(randomLayers([100, 200, 300])), fast);
    const subject = { mediaType: image.mediaType, digest: image.digest, size: image.manifest.length };
    const bytes = Buffer.from('{"spdxVersion":"SPDX-2.3"}\n');
    const attached = await attachArtifact({ registry: reg.host, repository: 'strata/attach' }, subject, { artifactType: 'application/spdx+json', bytes, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }, fast);
    const client = new RegistryClient(reg.host, fast);
    const referrers = await client.listReferrers('strata/attach', image.digest, { artifactType: 'application/spdx+json' });
    expect(referrers).toEqual([attached.descriptor]);
    const tagged = (await skopeoInspect(`docker://${reg.host}/strata/attach:${referrersTag(image.digest)}`, ['--tls-verify=false', '--raw'])) as { manifests: { digest: string; artifactType: string }[] };
    expect(tagged.manifests).toEqual([expect.objectContaining({ digest: attached.descriptor.digest, artifactType: 'application/spdx+json' })]);
    const manifest = (await skopeoInspect(`docker://${reg.host}/strata/attach@${attached.descriptor.digest}`, ['--tls-verify=false', '--raw'])) as { subject: { digest: string }; layers: { digest: string }[] };
    expect(manifest.subject.digest).toBe(image.digest);
    const blob = await client.fetchBlobBytes('strata/attach', { mediaType: 'application/spdx+json', digest: manifest.layers[0]!.digest, size: bytes.length });
    expect(blob.equals(bytes)).toBe(true);
    // The tag index is an index like any other.
    expect(parseIndex((await client.fetchManifest('strata/attach', referrersTag(image.digest))).bytes).manifests).toHaveLength(1);
  });
});

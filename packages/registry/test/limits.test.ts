import { hasPeers, type RunningFaultProxy, type RunningRegistry, startFaultProxy, startRegistry } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, pullImage, RegistryClient, sha256Digest } from '../src/index.js';
import { readAll } from './_fixtures.js';

const fast = { retry: { delayMs: 10 } };

/** Pushes a manifest whose one layer claims `size` bytes (the registry does not check sizes); returns its digest. */
async function pushClaiming(client: RegistryClient, repository: string, layer: Buffer, size: number, mediaType: string = MediaType.dockerLayer): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } }));
  await client.pushBlob(repository, { bytes: layer, digest: sha256Digest(layer), size: layer.length });
  await client.pushBlob(repository, { bytes: config, digest: sha256Digest(config), size: config.length });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType, digest: sha256Digest(layer), size }],
  };
  return (await client.pushManifest(repository, 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.dockerManifest)).digest;
}

describe.runIf(hasPeers('docker-registry'))('size limits on pull', () => {
  let reg: RunningRegistry;
  let proxy: RunningFaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy.stop();
    await reg.stop();
  });

  it('refuses a manifest declaring a 1 TiB layer before downloading a byte of it', async () => {
    await pushClaiming(new RegistryClient(reg.host, fast), 'strata/huge', Buffer.from('tiny'), 2 ** 40);
    const start = proxy.requests.length;
    const error = await pullImage(`${proxy.host}/strata/huge:v1`, fast).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SIZE_LIMIT' });
    expect((error as Error).message).toMatch(/layer 1 .*1099511627776 bytes.* over the limit of 68719476736 bytes \(maxBlobSize\)/);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes(sha256Digest(Buffer.from('tiny'))))).toEqual([]);
  });

  it('applies maxImageSize to the sum of the layers, and maxBlobSize to what a layer inflates to', async () => {
    const client = new RegistryClient(reg.host, fast);
    const { gzipSync } = await import('node:zlib');
    const plain = Buffer.alloc(2_000_000);
    const gz = gzipSync(plain);
    await pushClaiming(client, 'strata/bomb', gz, gz.length, MediaType.dockerLayerGzip);
    const refused = await pullImage(`${reg.host}/strata/bomb:v1`, { ...fast, maxImageSize: gz.length - 1 }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'SIZE_LIMIT', message: expect.stringMatching(/maxImageSize/) });
    const image = await pullImage(`${reg.host}/strata/bomb:v1`, { ...fast, maxBlobSize: 1_000_000 });
    const error = await readAll(image.layers[0]!.openUncompressed()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SIZE_LIMIT', message: expect.stringMatching(/uncompressed.*over the limit of 1000000 bytes \(maxBlobSize\)/) });
  });
});

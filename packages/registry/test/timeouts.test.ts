import { hasPeers, type RunningFaultProxy, type RunningRegistry, startFaultProxy, startRegistry } from '@strata/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pullImage, pushImage, RegistryClient, sha256Digest } from '../src/index.js';
import { mixedImage, randomLayers, readAll } from './_fixtures.js';

// Small limits so a stalled request gives up in well under a second per attempt.
const quick = { retry: { delayMs: 10, attempts: 2 }, connectTimeoutMs: 400, idleTimeoutMs: 400 };

describe.runIf(hasPeers('docker-registry'))('stalls, trickles and broken answers', () => {
  let reg: RunningRegistry;
  let proxy: RunningFaultProxy;
  const layers = randomLayers([300_000, 200_000, 50_000]);
  let pushed: Awaited<ReturnType<typeof pushImage>>;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    pushed = await pushImage(`${reg.host}/strata/stall:1`, mixedImage(layers), quick);
  });
  afterEach(() => proxy.clearFaults());
  afterAll(async () => {
    await proxy.stop();
    await reg.stop();
  });

  it('gives up on a registry that accepts the connection and never answers, naming the request and the timeout', async () => {
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'stall' }, times: 10 });
    const start = proxy.requests.length;
    const error = await new RegistryClient(proxy.host, quick).fetchManifest('strata/stall', '1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/v2\/strata\/stall\/manifests\/1: no answer within 0\.4 s \(connect timeout\)$/);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes('/manifests/'))).toHaveLength(2);
  });

  it('gives up on a blob that trickles in a byte at a time', async () => {
    const image = await pullImage(`${proxy.host}/strata/stall:1`, quick);
    proxy.addFault({ method: 'GET', path: /\/blobs\//, fault: { kind: 'trickle', intervalMs: 50 }, times: 10 });
    const error = await readAll(image.layers[0]!.open()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/v2\/strata\/stall\/blobs\/sha256:[a-f0-9]{64}: less than 1 KiB moved in 0\.4 s \(idle timeout\)$/);
  });

  it('resumes a blob whose transfer went silent halfway', async () => {
    const image = await pullImage(`${proxy.host}/strata/stall:1`, quick);
    proxy.addFault({ method: 'GET', path: /\/blobs\//, fault: { kind: 'stall', bytes: 100_000 } });
    const start = proxy.requests.length;
    expect(sha256Digest(await readAll(image.layers[0]!.open()))).toBe(sha256Digest(layers[0]!));
    expect(proxy.requests.slice(start).at(-1)?.range).toMatch(/^bytes=\d+-$/);
  });

  it('pushes through an upload that stalls once', async () => {
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'stall' } });
    const again = await pushImage(`${proxy.host}/strata/stall-push:1`, mixedImage(randomLayers([2_000_000, 1000, 1000])), quick);
    expect(again.digest).toMatch(/^sha256:/);
    expect(proxy.requests.some((r) => r.fault === 'stall')).toBe(true);
  });

  it('retries a manifest whose answer was cut short, and names the request when it keeps breaking', async () => {
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'truncate', bytes: 100 } });
    const client = new RegistryClient(proxy.host, quick);
    expect((await client.fetchManifest('strata/stall', '1')).digest).toBe(pushed.digest);
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'truncate', bytes: 100 }, times: 10 });
    const error = await client.fetchManifest('strata/stall', '1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NETWORK' });
    expect((error as Error).message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/v2\/strata\/stall\/manifests\/1: the response broke after 100 bytes: /);
  });
});

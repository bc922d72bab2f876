import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { hasPeers, makeTempDir, type RunningFaultProxy, type RunningRegistry, startFaultProxy, startRegistry, type TempDir } from '@strata/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pullImage, type PushProgress, pushImage, RegistryClient, sha256Digest } from '../src/index.js';
import { mixedImage, randomLayers, readAll } from './_fixtures.js';

const fast = { retry: { delayMs: 20 } };

describe.runIf(hasPeers('docker-registry'))('faults injected between client and registry', () => {
  let reg: RunningRegistry;
  let proxy: RunningFaultProxy;
  let dir: TempDir;
  const layers = randomLayers([400_000, 1_500_000, 60_000]);
  beforeAll(async () => {
    dir = await makeTempDir('strata-registry-faults-');
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
  });
  afterEach(() => proxy.clearFaults());
  afterAll(async () => {
    await proxy.stop();
    await reg.stop();
    await dir.remove();
  });

  it('pushes through resets, 500, 503 and 429 with Retry-After', async () => {
    proxy.addFault({ method: 'HEAD', path: /\/blobs\//, fault: { kind: 'status', status: 429, retryAfter: '1' } });
    proxy.addFault({ method: 'POST', path: /\/blobs\/uploads\/$/, fault: { kind: 'status', status: 500 } });
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\/.*digest=/, fault: { kind: 'reset' } });
    proxy.addFault({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'reset' } });
    proxy.addFault({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 503 } });
    const start = proxy.requests.length;
    let last: PushProgress | undefined;
    const pushed = await pushImage(`${proxy.host}/strata/faulty:1`, mixedImage(layers), {
      ...fast,
      onProgress: (e) => {
        last = e;
      },
    });
    // Bytes sent by a failed attempt were taken back: the total adds up exactly once.
    expect(last?.completedBytes).toBe(layers.reduce((s, l) => s + l.length, 0) + pushed.config.size);
    expect(last?.completedBytes).toBe(last?.totalBytes);
    const log = proxy.requests.slice(start);
    expect(log.filter((r) => r.fault).map((r) => r.fault).sort()).toEqual(['reset', 'reset', 'status', 'status', 'status']);
    const limited = log.findIndex((r) => r.fault === 'status' && r.method === 'HEAD');
    const retried = log.slice(limited + 1).find((r) => r.method === 'HEAD' && r.path === log[limited]!.path)!;
    expect(retried.at - log[limited]!.at).toBeGreaterThanOrEqual(900);
    // Read back straight from the registry: every byte arrived intact.
    const pulled = await pullImage(`${reg.host}/strata/faulty:1`, fast);
    expect(pulled.digest).toBe(pushed.digest);
    for (const [i, layer] of pulled.layers.entries()) expect(sha256Digest(await readAll(layer.open()))).toBe(sha256Digest(layers[i]!));
  });

  it('resumes a truncated blob download with Range', async () => {
    await pushImage(`${reg.host}/strata/trunc:1`, mixedImage(layers), fast);
    const image = await pullImage(`${proxy.host}/strata/trunc:1`, fast);
    const big = image.layers[1]!;
    proxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${big.descriptor.digest}`), fault: { kind: 'truncate', bytes: 500_000 } });
    const start = proxy.requests.length;
    const bytes = await readAll(big.open());
    expect(bytes.equals(layers[1]!)).toBe(true);
    const gets = proxy.requests.slice(start).filter((r) => r.method === 'GET');
    expect(gets[0]!.fault).toBe('truncate');
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
  });

  it('detects a corrupted blob and never finishes writing it', async () => {
    await pushImage(`${reg.host}/strata/corrupt:1`, mixedImage(layers), fast);
    const image = await pullImage(`${proxy.host}/strata/corrupt:1`, fast);
    proxy.addFault({ method: 'GET', path: /\/blobs\//, fault: { kind: 'corrupt' }, times: 10 });
    const target = join(dir.path, 'layer.tar');
    const error = await pipeline(image.layers[0]!.open(), createWriteStream(target)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((error as Error).message).toContain(image.layers[0]!.descriptor.digest);
    expect((await stat(target)).size).toBeLessThanOrEqual(layers[0]!.length);
  });

  it('fetches a corrupted manifest once more, and reports DIGEST_MISMATCH when it is corrupt again', async () => {
    const pushed = await pushImage(`${reg.host}/strata/corrupt-manifest:1`, mixedImage(layers), fast);
    const client = new RegistryClient(proxy.host, fast);
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'corrupt' } });
    expect((await client.fetchManifest('strata/corrupt-manifest', pushed.digest)).digest).toBe(pushed.digest);
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'corrupt' }, times: 2 });
    const start = proxy.requests.length;
    const error = await client.fetchManifest('strata/corrupt-manifest', pushed.digest).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DIGEST_MISMATCH', expected: pushed.digest });
    expect(proxy.requests.slice(start).filter((r) => r.fault === 'corrupt')).toHaveLength(2);
  });

  it('fetches a manifest corrupted on its way once more, by tag too (against Docker-Content-Digest)', async () => {
    const pushed = await pushImage(`${reg.host}/strata/corrupt-tag:1`, mixedImage(layers), fast);
    proxy.addFault({ method: 'GET', path: /\/manifests\/1$/, fault: { kind: 'corrupt' } });
    expect((await new RegistryClient(proxy.host, fast).fetchManifest('strata/corrupt-tag', '1')).digest).toBe(pushed.digest);
    expect(proxy.requests.filter((r) => r.fault === 'corrupt' && r.path.endsWith('/strata/corrupt-tag/manifests/1'))).toHaveLength(1);
  });

  it('fetches a corrupted config blob once more', async () => {
    await pushImage(`${reg.host}/strata/corrupt-config:1`, mixedImage(layers), fast);
    proxy.addFault({ method: 'GET', path: /\/blobs\//, fault: { kind: 'corrupt' } });
    const image = await pullImage(`${proxy.host}/strata/corrupt-config:1`, fast);
    expect(proxy.requests.filter((r) => r.fault === 'corrupt' && r.path.includes(image.config.descriptor.digest))).toHaveLength(1);
  });

  it('gives up after the retry budget with the status in the message', async () => {
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'status', status: 503 }, times: 10 });
    const start = proxy.requests.length;
    const error = await new RegistryClient(proxy.host, fast).fetchManifest('strata/faulty', '1').catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/v2\/strata\/faulty\/manifests\/1: 503 UNKNOWN: injected 503/);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes('/manifests/')).length).toBe(4);
  });

  it('stops waiting on Retry-After when the signal aborts', async () => {
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: '30' } });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new DOMException('interrupted', 'AbortError')), 200);
    const error = await new RegistryClient(proxy.host, fast).fetchManifest('strata/faulty', '1', { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('reports success when a manifest PUT was stored but every answer to it was lost', async () => {
    proxy.addFault({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'lose-response' }, times: 10 });
    const pushed = await pushImage(`${proxy.host}/strata/lost-answer:1`, mixedImage(layers), fast);
    expect(proxy.requests.filter((r) => r.fault === 'lose-response').length).toBeGreaterThanOrEqual(2);
    expect((await new RegistryClient(reg.host, fast).headManifest('strata/lost-answer', '1'))?.digest).toBe(pushed.digest);
  });

  it('still reports a manifest PUT the registry never stored as failed', async () => {
    proxy.addFault({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'reset' }, times: 10 });
    const error = await pushImage(`${proxy.host}/strata/never-stored:1`, mixedImage(layers), fast).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NETWORK' });
    expect((error as Error).message).toMatch(/^PUT http:\/\/127\.0\.0\.1:\d+\/v2\/strata\/never-stored\/manifests\/1: .*the registry does not hold it/);
  });

  it('does not upload a blob again when only the answer to its final PUT was lost', async () => {
    const blob = randomLayers([300_000])[0]!;
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'lose-response' } });
    const start = proxy.requests.length;
    const pushed = await new RegistryClient(proxy.host, fast).pushBlob('strata/lost-blob', { bytes: blob, digest: sha256Digest(blob), size: blob.length });
    expect(pushed).toMatchObject({ status: 'uploaded', size: blob.length });
    expect(proxy.requests.slice(start).filter((r) => r.method === 'PUT')).toHaveLength(1);
  });
});

import { Readable } from 'node:stream';
import { hasPeers, openUploadSessions, type RunningFaultProxy, type RunningRegistry, startFaultProxy, startRegistry } from '@strata/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ImageSource, MediaType, pushImage, sha256Digest } from '../src/index.js';
import { configFor, randomLayers } from './_fixtures.js';

const quick = { retry: { delayMs: 10, attempts: 2 }, connectTimeoutMs: 5000, idleTimeoutMs: 5000 };

function streamedImage(layers: readonly Buffer[]): ImageSource {
  return {
    layers: layers.map((b) => ({ mediaType: MediaType.dockerLayer, digest: sha256Digest(b), size: b.length, open: () => Readable.from([b]) })),
    config: (descriptors) => configFor(descriptors),
  };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

describe.runIf(hasPeers('docker-registry'))('upload sessions of an interrupted or failed push', () => {
  let reg: RunningRegistry;
  let proxy: RunningFaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
  });
  afterEach(() => proxy.clearFaults());
  afterAll(async () => {
    await proxy.stop();
    await reg.stop();
  });

  it('cancels every open upload session when the push is aborted', async () => {
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'stall' }, times: 100 });
    const controller = new AbortController();
    const pushing = pushImage(`${proxy.host}/strata/aborted:1`, streamedImage(randomLayers([3_000_000, 3_000_000, 3_000_000])), { ...quick, signal: controller.signal });
    await until(() => proxy.requests.filter((r) => r.fault === 'stall').length >= 3);
    expect(await openUploadSessions(reg, 'strata/aborted')).toHaveLength(3);
    controller.abort(new DOMException('interrupted', 'AbortError'));
    const error = await pushing.catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(await openUploadSessions(reg, 'strata/aborted')).toEqual([]);
  });

  it('cancels the other layers’ sessions when one layer fails', async () => {
    const layers = randomLayers([3_000_000, 3_000_000, 3_000_000]);
    proxy.addFault({ method: 'PUT', path: new RegExp(`digest=${encodeURIComponent(sha256Digest(layers[0]!))}`), fault: { kind: 'status', status: 400 } });
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'stall' }, times: 100 });
    const error = await pushImage(`${proxy.host}/strata/failed:1`, streamedImage(layers), { ...quick, concurrency: 3 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400 });
    expect(await openUploadSessions(reg, 'strata/failed')).toEqual([]);
  });
});

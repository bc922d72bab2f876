import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { hasPeers, type RunningFaultProxy, type RunningRegistry, startFaultProxy, startRegistry } from '@strata/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ImageSource, MediaType, pushImage, sha256Digest } from '../src/index.js';
import { configFor, randomLayers } from './_fixtures.js';

const quick = { retry: { delayMs: 10, attempts: 2 }, connectTimeoutMs: 5000, idleTimeoutMs: 5000 };

/**
 * Upload sessions the registry still keeps open for a repository: `_uploads/<uuid>` directories
 * with their `startedat` file. (Distribution 2.8 answers a DELETE by removing `data` and `startedat`
 * but then writes the hash state back, so an empty `hashstates/` skeleton remains; that is the
 * registry's own leftover, holding no uploaded bytes, and its upload purging removes it.)
 */
async function openUploads(reg: RunningRegistry, repository: string): Promise<string[]> {
  const dir = join(reg.dataDir, 'docker/registry/v2/repositories', repository, '_uploads');
  const sessions = await readdir(dir).catch(() => []);
  const open = await Promise.all(sessions.map(async (uuid) => ((await readdir(join(dir, uuid))).some((f) => f === 'startedat' || f === 'data') ? uuid : undefined)));
  return open.filter((u): u is string => u !== undefined);
}

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
    expect(await openUploads(reg, 'strata/aborted')).toHaveLength(3);
    controller.abort(new DOMException('interrupted', 'AbortError'));
    const error = await pushing.catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(await openUploads(reg, 'strata/aborted')).toEqual([]);
  });

  it('cancels the other layers’ sessions when one layer fails', async () => {
    const layers = randomLayers([3_000_000, 3_000_000, 3_000_000]);
    proxy.addFault({ method: 'PUT', path: new RegExp(`digest=${encodeURIComponent(sha256Digest(layers[0]!))}`), fault: { kind: 'status', status: 400 } });
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'stall' }, times: 100 });
    const error = await pushImage(`${proxy.host}/strata/failed:1`, streamedImage(layers), { ...quick, concurrency: 3 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400 });
    expect(await openUploads(reg, 'strata/failed')).toEqual([]);
  });
});

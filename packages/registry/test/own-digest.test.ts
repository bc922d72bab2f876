import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { hasPeers, type RunningRegistry, startRegistry } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, pushImage, RegistryError, sha256Digest } from '../src/index.js';
import { configFor, randomLayers } from './_fixtures.js';

const fast = { retry: { delayMs: 10, attempts: 1 } };

/** A stream that, like a strata layer tar, carries the digest of its own bytes. */
function selfHashing(bytes: Buffer, claimed?: string): Readable & { digest: Promise<string> } {
  const digest = Promise.resolve(claimed ?? `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  return Object.assign(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { digest });
}

describe.runIf(hasPeers('docker-registry'))('a blob stream that hashes itself', () => {
  let reg: RunningRegistry;
  const [layer] = randomLayers([200_000]);
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg.stop();
  });

  it("is uploaded under the digest it carries, which the registry verifies", async () => {
    const pushed = await pushImage(`${reg.host}/strata/own:1`, {
      layers: [{ mediaType: MediaType.dockerLayer, size: layer!.length, open: () => selfHashing(layer!) }],
      config: (descriptors) => configFor(descriptors),
    }, fast);
    expect(pushed.layers[0]!.digest).toBe(sha256Digest(layer!));
    expect(pushed.layers[0]!.status).toBe('uploaded');
  });

  it('is not hashed again: a wrong digest it carries reaches the registry, which refuses it', async () => {
    // Had the client hashed the bytes itself, the upload would have succeeded under the right digest.
    const wrong = `sha256:${'1'.repeat(64)}`;
    const push = pushImage(`${reg.host}/strata/lying:1`, {
      layers: [{ mediaType: MediaType.dockerLayer, size: layer!.length, open: () => selfHashing(layer!, wrong) }],
      config: (descriptors) => configFor(descriptors),
    }, fast);
    await expect(push).rejects.toSatisfy((e: unknown) => e instanceof RegistryError && /DIGEST_INVALID|BLOB_UPLOAD_INVALID|UNKNOWN/.test(e.code));
  });
});

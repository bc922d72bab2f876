import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { hasPeers, type RunningRegistry, startRegistry } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, pushImage, sha256Digest } from '../src/index.js';
import { configFor } from './_fixtures.js';

const RELEASE = Symbol.for('strata.release');

describe.runIf(hasPeers('docker-registry'))('lent body chunks', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg.stop();
  });

  it('are handed back once each, only after the socket has taken them', async () => {
    // 64 chunks of 256 KiB: more than a socket takes at once, so writes wait in Node and the kernel.
    const chunks = Array.from({ length: 64 }, () => randomBytes(256 << 10));
    const layer = Buffer.concat(chunks);
    const released = new Map<Buffer, number>();
    const lent = () =>
      chunks.map((chunk) => {
        const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        Object.defineProperty(view, RELEASE, {
          value: () => {
            released.set(chunk, (released.get(chunk) ?? 0) + 1);
            // What a producer does with a buffer it gets back: writes its next block into it. Had
            // this come before the socket took the bytes, the registry would get other bytes and
            // refuse the digest.
            chunk.fill(0);
          },
        });
        return view;
      });
    const digest = sha256Digest(layer);
    const pushed = await pushImage(
      `${reg.host}/strata/lent:1`,
      {
        layers: [{ mediaType: MediaType.dockerLayer, size: layer.length, digest, open: () => Readable.from(lent()) }],
        config: (descriptors) => configFor(descriptors),
      },
      { retry: { delayMs: 10, attempts: 1 } },
    );
    expect(pushed.layers[0]).toMatchObject({ digest, status: 'uploaded' });
    expect(released.size).toBe(chunks.length);
    expect([...released.values()].every((n) => n === 1)).toBe(true);
    const stored = Buffer.from(await (await fetch(`${reg.url}/v2/strata/lent/blobs/${digest}`)).arrayBuffer());
    expect(createHash('sha256').update(stored).digest('hex')).toBe(digest.slice('sha256:'.length));
  });
});

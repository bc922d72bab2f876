import { describe, expect, it } from 'vitest';
import { MediaType } from './media-types.js';
import { imageIndexBytes } from './push-index.js';

const d = (n: string, architecture: string, variant?: string) => ({
  mediaType: MediaType.ociManifest,
  digest: `sha256:${n.repeat(64)}`,
  size: 100,
  platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
});

describe('imageIndexBytes', () => {
  it('lists each manifest with its platform, in order', () => {
    const index = JSON.parse(imageIndexBytes([d('a', 'amd64'), d('b', 'arm64', 'v8')]).toString('utf8'));
    expect(index).toEqual({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [d('a', 'amd64'), d('b', 'arm64', 'v8')] });
  });

  it('refuses two manifests for one platform, and one without a platform', () => {
    expect(() => imageIndexBytes([d('a', 'arm64'), d('b', 'amd64'), d('c', 'arm64')])).toThrow(/entries 1 and 3 are both for linux\/arm64/);
    expect(() => imageIndexBytes([{ mediaType: MediaType.ociManifest, digest: `sha256:${'a'.repeat(64)}`, size: 1 }])).toThrow(/names no platform/);
  });
});

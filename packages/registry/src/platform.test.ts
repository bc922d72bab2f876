import { describe, expect, it } from 'vitest';
import { MediaType } from './media-types.js';
import { parsePlatform, selectPlatform } from './platform.js';
import { referrersTag } from './referrers.js';

const d = (digest: string, platform?: object) => ({ mediaType: MediaType.ociManifest, digest, size: 1, ...(platform ? { platform } : {}) }) as never;

describe('selectPlatform', () => {
  const list = [d('sha256:1', { os: 'linux', architecture: 'arm', variant: 'v7' }), d('sha256:2', { os: 'linux', architecture: 'arm64', variant: 'v8' }), d('sha256:3')];
  it('matches os, architecture and variant when asked', () => {
    expect(selectPlatform(list, parsePlatform('linux/arm/v7')).digest).toBe('sha256:1');
    expect(selectPlatform(list, parsePlatform('linux/arm64')).digest).toBe('sha256:2');
  });
  it('treats an entry without platform as linux/amd64', () => {
    expect(selectPlatform(list, parsePlatform('linux/amd64')).digest).toBe('sha256:3');
  });
  it('lists what was available when nothing matches', () => {
    expect(() => selectPlatform(list, parsePlatform('linux/arm/v6'))).toThrow('no manifest for linux/arm/v6; available: linux/arm/v7, linux/arm64/v8, linux/amd64 (implied)');
  });
});

describe('referrersTag', () => {
  it('derives the fallback tag from the digest', () => {
    expect(referrersTag(`sha256:${'ab'.repeat(32)}`)).toBe(`sha256-${'ab'.repeat(32)}`);
    expect(referrersTag(`sha512:${'c'.repeat(128)}`)).toBe(`sha512-${'c'.repeat(64)}`);
  });
});

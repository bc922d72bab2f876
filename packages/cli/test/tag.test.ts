import { join } from 'node:path';
import { buildHelloClosure, hasPeers, makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { readArchiveJson, streamToFile } from './_layered.js';

describe.runIf(hasPeers('nix-build'))('the default tag', () => {
  it('stays the same across builds with created "now", as nixpkgs\' does, while Created changes', async () => {
    const hello = await buildHelloClosure();
    const dir = await makeTempDir();
    try {
      const images = [];
      for (const n of [1, 2]) {
        const file = join(dir.path, `now${n}.tar`);
        const result = await streamToFile(['--name', 'Now', '--contents', hello.hello, '--created', 'now'], file);
        expect(result.exitCode, result.stderr).toBe(0);
        images.push(await readArchiveJson(file));
        await new Promise((r) => setTimeout(r, 1100)); // "now" has one-second resolution
      }
      const [first, second] = images;
      expect(first!.manifest.RepoTags[0]).toMatch(/^now:[0-9a-f]{32}$/);
      expect(second!.manifest.RepoTags).toEqual(first!.manifest.RepoTags);
      expect(second!.config.created).not.toBe(first!.config.created);
      const fixed = join(dir.path, 'fixed.tar');
      await streamToFile(['--name', 'Now', '--contents', hello.hello, '--created', '2020-01-01T00:00:00Z'], fixed);
      expect((await readArchiveJson(fixed)).manifest.RepoTags).not.toEqual(first!.manifest.RepoTags);
    } finally {
      await dir.remove();
    }
  });
});

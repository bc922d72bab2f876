import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { dumpNarInfo } from './nar.js';

describe('dumpNarInfo', () => {
  it('stops when the signal aborts, also in a tree of links and directories only (a symlinkJoin env)', async () => {
    const dir = await makeTempDir();
    try {
      const env = join(dir.path, 'env');
      await mkdir(join(env, 'bin'), { recursive: true });
      for (let i = 0; i < 200; i++) await symlink(`/nix/store/00000000000000000000000000000000-pkg/bin/tool-${i}`, join(env, 'bin', `tool-${i}`));
      const controller = new AbortController();
      controller.abort(new Error('interrupted'));
      await expect(dumpNarInfo(env, new Set(), controller.signal)).rejects.toThrow('interrupted');
      // Without a signal, the same tree serialises.
      expect((await dumpNarInfo(env)).narSize).toBeGreaterThan(0);
    } finally {
      await dir.remove();
    }
  });
});

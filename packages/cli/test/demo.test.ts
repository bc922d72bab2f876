import { join } from 'node:path';
import { hasPeers, makeTempDir, podmanLoad, podmanRemove, podmanRun, repoRoot, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';

describe.runIf(hasPeers('podman', 'busybox'))('pnpm demo', () => {
  it('builds a runnable image with no Nix on PATH, and podman runs it', async () => {
    const dir = await makeTempDir();
    try {
      // An empty PATH: nothing the demo does may need nix, nix-store or any other tool.
      const demo = await run(process.execPath, [join(repoRoot(), 'scripts/demo.mjs'), dir.path], { env: { PATH: '/nonexistent' } });
      expect(demo.stdout).toContain('total: 2 paths');
      expect(demo.stdout).toContain(`podman load -i ${join(dir.path, 'strata-demo.tar')}`);
      const image = await podmanLoad(join(dir.path, 'strata-demo.tar'));
      try {
        const result = await podmanRun(image);
        expect(result.stdout).toBe('Hello from a strata image built without Nix!\nLinux\n');
      } finally {
        await podmanRemove(image);
      }
    } finally {
      await dir.remove();
    }
  });
});

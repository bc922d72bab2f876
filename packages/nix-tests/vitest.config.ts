import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    // One file at a time: every file drives nix-build and podman on the shared two cores.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: './.vitest-results.json' },
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 300_000,
    // Each integration test boots a VM; one at a time keeps the shared 2-core machine usable.
    fileParallelism: false,
    hookTimeout: 300_000,
    reporters: ['default', 'json'],
    outputFile: { json: './.vitest-results.json' },
  },
});

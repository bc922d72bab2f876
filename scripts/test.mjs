#!/usr/bin/env node
// Runs every package's tests through turbo (one package at a time: the integration tests share the
// machine's two cores with podman, QEMU and the registry), then prints one closing line for the
// whole suite from the JSON reports vitest wrote: "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const reports = readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, '.vitest-results.json'));
for (const r of reports) rmSync(r, { force: true });

const turbo = spawnSync('pnpm', ['exec', 'turbo', 'run', 'test', '--concurrency=1', '--continue', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});

let passed = 0;
let failed = 0;
let skipped = 0;
for (const r of reports) {
  if (!existsSync(r)) continue;
  const report = JSON.parse(readFileSync(r, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
const code = turbo.status ?? 1;
if (code !== 0 && failed === 0) failed = 1; // a package that failed before reporting still fails the run
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);

#!/usr/bin/env node
// Runs every package's tests through turbo (one package at a time: the integration tests share the
// machine's two cores with podman, QEMU and the registry), then, for the whole suite (no arguments),
// packs every public package and checks the tarballs (scripts/check-packs.mjs, one test each), and
// prints one closing line from the JSON reports vitest wrote: "N passed, N failed, N skipped".
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
let code = turbo.status ?? 1;
if (process.argv.length === 2) {
  const packs = spawnSync(process.execPath, [join(root, 'scripts/check-packs.mjs')], { cwd: root, encoding: 'utf8' });
  process.stdout.write(packs.stdout);
  process.stderr.write(packs.stderr);
  const counts = /packs: (\d+) passed, (\d+) failed/.exec(packs.stdout);
  passed += Number(counts?.[1] ?? 0);
  failed += counts ? Number(counts[2]) : 1;
  if (packs.status !== 0 && code === 0) code = packs.status ?? 1;
}
if (code !== 0 && failed === 0) failed = 1; // a package that failed before reporting still fails the run
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);

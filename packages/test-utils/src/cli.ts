import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type ExecResult, type RunOptions } from './exec.js';

/** The monorepo's root directory (where pnpm-workspace.yaml is). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('strata repo root not found above test-utils');
    dir = parent;
  }
  return dir;
}

/** Runs the built `strata` CLI (packages/cli/dist/bin.js) and returns its output; never throws on exit codes. */
export async function runStrata(args: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
  const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
  return run(process.execPath, [bin, ...args], { allowFailure: true, ...options });
}

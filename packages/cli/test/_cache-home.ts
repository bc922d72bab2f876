import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest global setup: every strata the tests run records its layer cache in a directory of this
 * run, never in the user's ~/.cache, and the directory is removed afterwards.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-cli-cache-'));
  process.env.XDG_CACHE_HOME = dir;
  return () => rm(dir, { recursive: true, force: true });
}

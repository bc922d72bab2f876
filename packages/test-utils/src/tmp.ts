import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory that removes itself. */
export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/** Creates a fresh temporary directory under the OS temp dir. */
export async function makeTempDir(prefix = 'strata-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageConfig } from '@strata/manifest';
import { type ExecResult, repoRoot, run } from '@strata/test-utils';

/** A podman image name unique to this package's tests. */
export function uniqueImageName(): string {
  return `strata-cli-layered-test-${randomBytes(4).toString('hex')}`;
}

/** Runs `strata stream-layered ARGS > file` through a shell so the image bytes land in a file untouched. */
export async function streamToFile(args: readonly string[], file: string): Promise<ExecResult> {
  const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
  const quoted = [process.execPath, bin, 'stream-layered', ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return run('bash', ['-c', `${quoted} > '${file}'`], { allowFailure: true });
}

/** The config and manifest of a strata docker-archive, read with GNU tar. */
export async function readArchiveJson(file: string): Promise<{ manifest: { Config: string; RepoTags: string[]; Layers: string[] }; config: ImageConfig }> {
  const { stdout } = await run('tar', ['-xOf', file, 'manifest.json']);
  const [manifest] = JSON.parse(stdout) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  const config = JSON.parse((await run('tar', ['-xOf', file, manifest!.Config])).stdout) as ImageConfig;
  return { manifest: manifest!, config };
}

/** Reads a whole file (for byte comparisons). */
export const bytesOf = (file: string) => readFile(file);

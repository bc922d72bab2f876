import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';

/**
 * Writes a docker-archive of random layers (one file of `sizes[i]` random bytes per layer, packed
 * by GNU tar with fixed owners and mtime) into `dir`, with no Nix: for registry tests that need an
 * image but not a runnable one. Returns the archive's path.
 */
export async function makeDockerArchive(dir: string, sizes: readonly number[], name = 'image'): Promise<string> {
  const staging = join(dir, `${name}-staging`);
  const diffIds: string[] = [];
  const layers: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const root = join(staging, `root${i}`);
    await mkdir(root, { recursive: true });
    await writeFile(join(root, `file${i}`), randomBytes(size));
    layers.push(`layer${i}.tar`);
    await run('tar', ['-C', root, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1', '-cf', join(staging, layers[i]!), '.']);
    diffIds.push(`sha256:${createHash('sha256').update(await readFile(join(staging, layers[i]!))).digest('hex')}`);
  }
  await writeFile(join(staging, 'config.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  await writeFile(join(staging, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [`${name}:1`], Layers: layers }]));
  const archive = join(dir, `${name}.tar`);
  await run('tar', ['-C', staging, '-cf', archive, 'config.json', 'manifest.json', ...layers]);
  await rm(staging, { recursive: true, force: true });
  return archive;
}

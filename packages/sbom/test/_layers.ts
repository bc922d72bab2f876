import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createLayer, type Image, type Layer } from '@strata/image';
import { type TarEntry, tarSize, writeTar } from '@strata/layer';
import { run } from '@strata/test-utils';

/** A layer of a tar file made by GNU tar from `dir` (hard links kept as tar writes them). */
export async function tarLayer(dir: string, file: string): Promise<Layer> {
  await run('tar', ['-C', dir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1', '-cf', file, '.']);
  const bytes = await readFile(file);
  const diffId = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return createLayer({ size: (await stat(file)).size, diffId, open: () => createReadStream(file) });
}

/** A layer of crafted entries (names and types no honest tool writes). */
export function entriesLayer(entries: readonly TarEntry[]): Layer {
  return createLayer({ size: tarSize(entries), open: () => writeTar(entries) });
}

/** A header with every field set. */
export function entry(name: string, type: TarEntry['type'], extra: Partial<TarEntry> = {}): TarEntry {
  const body = extra.body as Buffer | undefined;
  return { name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: body?.length ?? 0, ...extra };
}

/** An image of `layers` whose config lists the diffIDs it is given. */
export function imageOf(layers: readonly Layer[], created = '2024-05-06T07:08:09Z'): Image {
  return {
    repoTags: ['test/sbom:1'],
    platform: { os: 'linux', architecture: 'amd64' },
    layers,
    config: (diffIds) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created, rootfs: { type: 'layers', diff_ids: diffIds } })),
    dispose: async () => {},
  };
}

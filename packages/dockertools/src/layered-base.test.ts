import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { writeTar } from '@strata/layer';
import { createImageConfig, writeDockerArchive } from '@strata/manifest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { streamLayeredImage } from './layered.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-layered-base-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Open files of this process that were deleted while open (a compressed base's decompressed copy). */
async function heldCopies(): Promise<string[]> {
  const targets = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((t) => /strata-archive-.*\(deleted\)$/.test(t));
}

describe('streamLayeredImage with a compressed fromImage', () => {
  it('releases the base when the build fails after reading it', async () => {
    const bytes = Buffer.from('x');
    const tar = await buffer(writeTar([{ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 1, body: bytes }]));
    const { rootfs: _, ...template } = createImageConfig([''], { architecture: 'amd64' });
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const base = join(dir, 'base.tar.gz');
    await writeFile(base, gzipSync(await buffer(writeDockerArchive([{ size: tar.length, diffId, open: () => Readable.from([tar]) }], template, { repoTags: ['b:1'] }))));
    await expect(streamLayeredImage({ name: 'x', fromImage: base, maxLayers: 2, contents: [join(dir, 'missing')] })).rejects.toMatchObject({ code: 'LAYER_BUDGET' });
    await expect(streamLayeredImage({ name: 'x', fromImage: base, contents: [join(dir, 'missing')] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await heldCopies()).toEqual([]);
    const image = await streamLayeredImage({ name: 'x', fromImage: base });
    expect(await heldCopies()).toHaveLength(1);
    await image.dispose();
    expect(await heldCopies()).toEqual([]);
  });
});

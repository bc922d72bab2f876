import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { writeTar } from '@strata/layer';
import { createImageConfig, writeDockerArchive as writeArchive } from '@strata/manifest';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../src/index.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('strata-image-gz-');
});
afterAll(() => tmp.remove());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** This process's open files that were deleted while open: a compressed archive's decompressed copy. */
function unnamedCopies(): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => /strata-archive-.*\(deleted\)$/.test(target));
}

async function gzipArchive(file: string, repoTags: string[]): Promise<Buffer> {
  const bytes = Buffer.from('layer bytes');
  const tar = await buffer(writeTar([{ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: bytes.length, body: bytes }]));
  const { rootfs: _, ...template } = createImageConfig([''], { architecture: 'amd64' });
  const archive = await buffer(writeArchive([{ size: tar.length, diffId: sha(tar), open: () => Readable.from([tar]) }], template, { repoTags }));
  await writeFile(file, gzipSync(archive));
  return tar;
}

describe('readImage of a compressed archive', () => {
  it('holds its decompressed copy until dispose(), and releases it when it cannot be used', async () => {
    const file = join(tmp.path, 'base.tar.gz');
    const tar = await gzipArchive(file, ['base:1']);
    const image = await readImage(file);
    expect(unnamedCopies()).toHaveLength(1);
    expect((await buffer(image.layers[0]!.open())).equals(tar)).toBe(true);
    await image.dispose();
    await image.dispose();
    expect(unnamedCopies()).toEqual([]);
    await expect(readImage(file, { name: 'other', tag: '1' })).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
    expect(unnamedCopies()).toEqual([]);
  });
});

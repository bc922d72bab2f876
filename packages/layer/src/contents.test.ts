import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanContentsLayer } from './contents.js';
import { packLayer } from './pack.js';

const A = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a';
const B = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b';
let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir('strata-contents-');
  await mkdir(join(tmp.path, A, 'bin'), { recursive: true });
  await mkdir(join(tmp.path, B, 'bin'), { recursive: true });
  await mkdir(join(tmp.path, B, 'share/doc'), { recursive: true });
  await writeFile(join(tmp.path, A, 'bin/hello'), 'a');
  await writeFile(join(tmp.path, B, 'bin/hello'), 'b');
  await writeFile(join(tmp.path, B, 'bin/other'), 'b');
  await writeFile(join(tmp.path, B, 'share/doc/readme'), 'b');
  await symlink('other', join(tmp.path, B, 'bin/alias'));
});
afterAll(() => tmp.remove());

describe('scanContentsLayer', () => {
  it('links every file into its store path, merging directories, first content winning', async () => {
    const plan = await scanContentsLayer([A, B], { storeRoot: tmp.path, mtime: 5 });
    expect(plan.entries.map((e) => [e.name, e.type, e.linkname ?? ''])).toEqual([
      ['/bin/', 'directory', ''],
      ['/bin/alias', 'symlink', 'other'],
      ['/bin/hello', 'symlink', `${A}/bin/hello`],
      ['/bin/other', 'symlink', `${B}/bin/other`],
      ['/share/', 'directory', ''],
      ['/share/doc/', 'directory', ''],
      ['/share/doc/readme', 'symlink', `${B}/share/doc/readme`],
    ]);
    expect(plan.entries.every((e) => e.mtime === 5 && e.uid === 0)).toBe(true);
    expect((await buffer(packLayer(plan))).length).toBe(plan.size);
  });

  it('rejects a missing content path, naming it', async () => {
    await expect(scanContentsLayer(['/nix/store/cccccccccccccccccccccccccccccccc-gone'], { storeRoot: tmp.path })).rejects.toThrow(/cccc-gone does not exist/);
  });
});

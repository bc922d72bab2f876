import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { overlayOnto } from './_build-image-overlay.js';

describe('overlayOnto', () => {
  it('merges directories and lets the upper tree replace anything else, as overlayfs shows them', async () => {
    const dir = await makeTempDir('strata-overlay-');
    try {
      const upper = join(dir.path, 'upper');
      const lower = join(dir.path, 'lower');
      await mkdir(join(upper, 'etc'), { recursive: true });
      await mkdir(join(upper, 'lib'), { recursive: true });
      await writeFile(join(upper, 'etc/new'), 'new\n');
      await writeFile(join(upper, 'etc/both'), 'upper\n');
      await writeFile(join(upper, 'lib/x'), 'x\n');
      await writeFile(join(upper, 'was-a-dir'), 'file now\n');
      await symlink('etc/new', join(upper, 'link'));
      await mkdir(join(lower, 'etc'), { recursive: true });
      await mkdir(join(lower, 'was-a-dir/deep'), { recursive: true });
      await writeFile(join(lower, 'etc/both'), 'lower\n');
      await writeFile(join(lower, 'etc/kept'), 'kept\n');
      await writeFile(join(lower, 'lib'), 'a file where upper has a directory\n');
      await writeFile(join(lower, 'was-a-dir/deep/f'), 'hidden\n');

      const result = await overlayOnto(upper, lower);
      expect(result.removed).toEqual(['/etc/both', '/lib', '/was-a-dir']);
      expect(result.placed).toEqual(['/etc', '/etc/both', '/etc/new', '/lib', '/lib/x', '/link', '/was-a-dir']);
      expect((await readdir(join(lower, 'etc'))).sort()).toEqual(['both', 'kept', 'new']);
      expect(await readFile(join(lower, 'etc/both'), 'utf8')).toBe('upper\n');
      expect(await readFile(join(lower, 'etc/kept'), 'utf8')).toBe('kept\n');
      expect(await readFile(join(lower, 'lib/x'), 'utf8')).toBe('x\n');
      expect(await readFile(join(lower, 'was-a-dir'), 'utf8')).toBe('file now\n');
      expect(await readlink(join(lower, 'link'))).toBe('etc/new');
      // Files are hard links: no bytes copied.
      expect((await lstat(join(lower, 'etc/new'))).ino).toBe((await lstat(join(upper, 'etc/new'))).ino);
    } finally {
      await dir.remove();
    }
  });
});

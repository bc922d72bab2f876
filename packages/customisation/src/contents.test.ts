import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { joinContents } from './contents.js';
import { CustomisationError } from './errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-contents-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const A = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a';
const B = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b';

async function makeStore(): Promise<string> {
  const storeRoot = join(dir, 'chroot');
  await mkdir(join(storeRoot, A, 'bin'), { recursive: true });
  await mkdir(join(storeRoot, B, 'bin'), { recursive: true });
  await mkdir(join(storeRoot, B, 'share/doc'), { recursive: true });
  await writeFile(join(storeRoot, A, 'bin/tool'), 'a');
  await writeFile(join(storeRoot, B, 'bin/tool'), 'b');
  await writeFile(join(storeRoot, B, 'bin/other'), 'b');
  await writeFile(join(storeRoot, B, 'share/doc/readme'), 'b');
  await symlink('other', join(storeRoot, B, 'bin/alias'));
  return storeRoot;
}

describe('joinContents', () => {
  it('makes real directories, absolute links to store files, and copies links verbatim', async () => {
    const storeRoot = await makeStore();
    const root = join(dir, 'root');
    const conflicts = await joinContents([A, B], root, { storeRoot });
    expect((await lstat(join(root, 'bin'))).isDirectory()).toBe(true);
    expect(await readlink(join(root, 'bin/tool'))).toBe(`${A}/bin/tool`);
    expect(await readlink(join(root, 'bin/other'))).toBe(`${B}/bin/other`);
    expect(await readlink(join(root, 'bin/alias'))).toBe('other');
    expect(await readlink(join(root, 'share/doc/readme'))).toBe(`${B}/share/doc/readme`);
    expect(conflicts).toEqual([{ path: '/bin/tool', kept: A, skipped: B }]);
  });
  it('follows a contents item that is itself a symlink to a store directory', async () => {
    const storeRoot = await makeStore();
    const link = '/nix/store/llllllllllllllllllllllllllllllll-link';
    await symlink(B, join(storeRoot, link));
    const root = join(dir, 'root');
    await joinContents([link], root, { storeRoot });
    // Links point into the logical item, as lndir makes them from the path it was given.
    expect(await readlink(join(root, 'bin/other'))).toBe(`${link}/bin/other`);
  });
  it('copies the files of a local directory that is not a store path', async () => {
    const local = join(dir, 'local');
    await mkdir(local);
    await writeFile(join(local, 'hello.txt'), 'hello\n');
    await joinContents([local], join(dir, 'root'));
    expect(await readFile(join(dir, 'root/hello.txt'), 'utf8')).toBe('hello\n');
  });
  it('names a contents item that does not exist', async () => {
    await expect(joinContents([join(dir, 'nope')], join(dir, 'root'))).rejects.toSatisfy(
      (e) => e instanceof CustomisationError && e.code === 'CONTENTS_NOT_FOUND' && e.message.includes('nope'),
    );
  });

  it('refuses a named pipe or socket in a local directory instead of blocking on it', async () => {
    // Copying a FIFO opens it for reading, which waits for a writer forever (even past SIGTERM).
    const local = join(dir, 'local');
    await mkdir(join(local, 'run'), { recursive: true });
    execFileSync('mkfifo', [join(local, 'run/pipe')]);
    await expect(joinContents([local], join(dir, 'root'))).rejects.toSatisfy(
      (e) => e instanceof CustomisationError && e.code === 'INVALID_OPTION' && e.message === `contents: ${local}/run/pipe is a named pipe; a local directory in contents may hold only files, directories and symlinks`,
    );
  });
});

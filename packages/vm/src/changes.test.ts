import { describe, expect, it } from 'vitest';
import type { TreeEntry } from './_tree.js';
import { diffTrees } from './changes.js';

const file = (over: Partial<TreeEntry> = {}): TreeEntry => ({
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 3n,
  ino: 1n,
  ctimeNs: 10n,
  ...over,
});
const dir = (over: Partial<TreeEntry> = {}): TreeEntry => file({ type: 'directory', mode: 0o755, ...over });

describe('diffTrees', () => {
  it('reports additions, content and metadata modifications and deletions, sorted by path', () => {
    const before = new Map([
      ['/etc', dir()],
      ['/etc/passwd', file()],
      ['/etc/shadow', file({ ino: 2n })],
      ['/bin', dir()],
      ['/bin/su', file({ ino: 3n })],
      ['/gone', file({ ino: 4n })],
    ]);
    const after = new Map([
      ['/etc', dir({ ctimeNs: 99n })],
      ['/etc/passwd', file({ ino: 7n, size: 40n })],
      ['/etc/shadow', file({ ino: 2n })],
      ['/bin', dir()],
      ['/bin/su', file({ ino: 3n, mode: 0o4755 })],
      ['/new', file({ ino: 8n, uid: 1000, gid: 100 })],
    ]);
    expect(diffTrees(before, after).map((c) => [c.path, c.change, c.mode, c.uid])).toEqual([
      ['/bin/su', 'modified', 0o4755, 0],
      ['/etc/passwd', 'modified', 0o644, 0],
      ['/gone', 'deleted', 0o644, 0],
      ['/new', 'added', 0o644, 1000],
    ]);
  });

  it('reports a removed directory once, not each path below it', () => {
    const before = new Map([
      ['/var', dir()],
      ['/var/cache', dir()],
      ['/var/cache/a', file()],
    ]);
    const after = new Map([['/var', dir()]]);
    expect(diffTrees(before, after).map((c) => `${c.change} ${c.path}`)).toEqual(['deleted /var/cache']);
  });

  it('reports a directory replaced by a file as a modification hiding its old contents', () => {
    const before = new Map([
      ['/d', dir()],
      ['/d/x', file()],
    ]);
    const after = new Map([['/d', file({ ino: 9n })]]);
    expect(diffTrees(before, after).map((c) => `${c.change} ${c.path} ${c.type}`)).toEqual(['modified /d file']);
  });

  it('carries symlink targets and device numbers', () => {
    const after = new Map([
      ['/l', file({ type: 'symlink', mode: 0o777, target: '/etc/passwd' })],
      ['/null', file({ type: 'char', rdev: 0x103 })],
    ]);
    expect(diffTrees(new Map(), after)).toEqual([
      { path: '/l', change: 'added', type: 'symlink', uid: 0, gid: 0, mode: 0o777, target: '/etc/passwd' },
      { path: '/null', change: 'added', type: 'char', uid: 0, gid: 0, mode: 0o644, rdev: { major: 1, minor: 3 } },
    ]);
  });
});

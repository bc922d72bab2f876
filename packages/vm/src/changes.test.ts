import { describe, expect, it } from 'vitest';
import type { TreeEntry } from './_tree.js';
import { diffOverlay, type RootChange } from './changes.js';

const file = (over: Partial<TreeEntry> = {}): TreeEntry => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3n, ...over });
const dir = (over: Partial<TreeEntry> = {}): TreeEntry => file({ type: 'directory', mode: 0o755, size: 0n, ...over });
const whiteout = (): TreeEntry => file({ type: 'char', mode: 0, size: 0n, rdev: 0n });
const brief = (c: RootChange) => `${c.change} ${c.path} ${c.type}${c.opaque ? ' opaque' : ''}`;
const never = async () => {
  throw new Error('no content comparison expected');
};

describe('diffOverlay', () => {
  it('reports additions, content and metadata changes and whiteouts as deletions with their old metadata', async () => {
    const lower = new Map([
      ['/', dir()],
      ['/etc', dir()],
      ['/etc/passwd', file()],
      ['/etc/shadow', file({ mode: 0o600 })],
      ['/bin', dir()],
      ['/bin/su', file()],
      ['/gone', file({ uid: 7 })],
    ]);
    const upper = new Map([
      ['/', dir()],
      ['/etc', dir()],
      ['/etc/passwd', file({ size: 40n })],
      ['/etc/shadow', file({ mode: 0o600 })],
      ['/bin', dir()],
      ['/bin/su', file({ mode: 0o4755 })],
      ['/gone', whiteout()],
      ['/new', file({ uid: 1000, gid: 100 })],
    ]);
    const asked: string[] = [];
    const changes = await diffOverlay({ lower, upper, opaque: new Set() }, async (p) => {
      asked.push(p);
      return true;
    });
    expect(changes.map((c) => [c.path, c.change, c.mode, c.uid])).toEqual([
      ['/bin/su', 'modified', 0o4755, 0],
      ['/etc/passwd', 'modified', 0o644, 0],
      ['/gone', 'deleted', 0o644, 7],
      ['/new', 'added', 0o644, 1000],
    ]);
    // Only a file whose metadata and size agree needs its bytes compared.
    expect(asked).toEqual(['/etc/shadow']);
  });

  it('reports a copied-up file with new bytes of the same size, and not one with the same bytes', async () => {
    const lower = new Map([
      ['/a', file()],
      ['/b', file()],
    ]);
    const upper = new Map(lower);
    const changes = await diffOverlay({ lower, upper, opaque: new Set() }, async (p) => p === '/b');
    expect(changes.map(brief)).toEqual(['modified /a file']);
  });

  it('reports a removed directory once, and a whiteout the lower layer had no path for not at all', async () => {
    const lower = new Map([
      ['/var', dir()],
      ['/var/cache', dir()],
      ['/var/cache/a', file()],
    ]);
    const upper = new Map([
      ['/var', dir()],
      ['/var/cache', whiteout()],
      ['/var/never', whiteout()],
    ]);
    expect((await diffOverlay({ lower, upper, opaque: new Set() }, never)).map(brief)).toEqual(['deleted /var/cache directory']);
  });

  it('lists everything in an opaque directory as added, even a path the lower layer had with the same bytes', async () => {
    const lower = new Map([
      ['/opt', dir()],
      ['/opt/keep', file()],
      ['/opt/sub', dir()],
      ['/opt/sub/x', file()],
    ]);
    const upper = new Map([
      ['/opt', dir()],
      ['/opt/keep', file()],
      ['/opt/sub', dir()],
    ]);
    const changes = await diffOverlay({ lower, upper, opaque: new Set(['/opt']) }, never);
    expect(changes.map(brief)).toEqual(['modified /opt directory opaque', 'added /opt/keep file', 'added /opt/sub directory']);
  });

  it('reports a directory replaced by a file and a file replaced by a directory as modified, with the new type', async () => {
    const lower = new Map([
      ['/d', dir()],
      ['/d/x', file()],
      ['/f', file()],
    ]);
    const upper = new Map([
      ['/d', file()],
      ['/f', dir()],
      ['/f/y', file()],
    ]);
    expect((await diffOverlay({ lower, upper, opaque: new Set() }, never)).map(brief)).toEqual(['modified /d file', 'modified /f directory', 'added /f/y file']);
  });

  it('reports the root directory itself when its mode changed, and carries symlink targets and device numbers', async () => {
    const lower = new Map([
      ['/', dir()],
      ['/l', file({ type: 'symlink', mode: 0o777, target: 'a' })],
    ]);
    const upper = new Map([
      ['/', dir({ mode: 0o700 })],
      ['/l', file({ type: 'symlink', mode: 0o777, target: '/etc/passwd' })],
      ['/null', file({ type: 'char', rdev: 0x103n, size: 0n })],
    ]);
    expect(await diffOverlay({ lower, upper, opaque: new Set() }, never)).toEqual([
      { path: '/', change: 'modified', type: 'directory', uid: 0, gid: 0, mode: 0o700 },
      { path: '/l', change: 'modified', type: 'symlink', uid: 0, gid: 0, mode: 0o777, target: '/etc/passwd' },
      { path: '/null', change: 'added', type: 'char', uid: 0, gid: 0, mode: 0o644, rdev: { major: 1, minor: 3 } },
    ]);
  });
});

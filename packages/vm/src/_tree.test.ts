import { describe, expect, it } from 'vitest';
import { escapePath, typeOfMode, unescapePath } from './_tree.js';

describe('escapePath', () => {
  it('round-trips names with spaces, newlines, backslashes, = and non-ASCII', () => {
    for (const p of ['/a b/c\nd', '/x\\y=z', '/ünï/😀', '/plain/path-1.2_3']) {
      expect(unescapePath(escapePath(p))).toBe(p);
    }
    expect(escapePath('/a b')).toBe('/a\\040b');
  });
});

describe('typeOfMode', () => {
  it('maps file-type bits to entry types', () => {
    expect([0o100644, 0o040755, 0o120777, 0o020644, 0o060660, 0o010644].map(typeOfMode)).toEqual([
      'file',
      'directory',
      'symlink',
      'char',
      'block',
      'fifo',
    ]);
  });
});

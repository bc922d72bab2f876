import { describe, expect, it } from 'vitest';
import { parseFakerootState } from './fakeroot-state.js';

describe('parseFakerootState', () => {
  it('reads dev in hex, mode in octal and the rest in decimal', () => {
    const text = 'dev=fe00,ino=2146468,mode=104755,uid=1000,gid=1001,nlink=1,rdev=0\ndev=fe00,ino=7,mode=20644,uid=0,gid=0,nlink=1,rdev=259\n\ngarbage\n';
    expect(parseFakerootState(text)).toEqual([
      { dev: 0xfe00, ino: 2146468, mode: 0o104755, uid: 1000, gid: 1001, rdev: 0 },
      { dev: 0xfe00, ino: 7, mode: 0o20644, uid: 0, gid: 0, rdev: 259 },
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { makeDevice, splitDevice } from './device.js';

describe('splitDevice', () => {
  it('decodes glibc dev_t numbers, including large minors', () => {
    expect(splitDevice(0x103)).toEqual({ major: 1, minor: 3 });
    expect(splitDevice(0x880)).toEqual({ major: 8, minor: 128 });
    expect(splitDevice(0x100a00)).toEqual({ major: 10, minor: 0x100 });
  });
});

describe('makeDevice', () => {
  it('encodes what splitDevice decodes, up to 32-bit majors and minors', () => {
    expect(makeDevice(1, 3)).toBe(0x103n);
    for (const [major, minor] of [[0, 0], [8, 128], [10, 0x100], [259, 0x12345], [0xffffffff, 0xffffffff]] as const) {
      expect(splitDevice(makeDevice(major, minor))).toEqual({ major, minor });
    }
  });
});

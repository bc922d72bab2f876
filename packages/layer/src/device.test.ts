import { describe, expect, it } from 'vitest';
import { splitDevice } from './device.js';

describe('splitDevice', () => {
  it('splits device numbers as glibc does', () => {
    expect(splitDevice(259)).toEqual({ major: 1, minor: 3 });
    expect(splitDevice(0x10300)).toEqual({ major: 259, minor: 0 });
    expect(splitDevice(8 * 256 + 17)).toEqual({ major: 8, minor: 17 });
  });
});

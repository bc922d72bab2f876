import { describe, expect, it } from 'vitest';
import { VmOptionError } from './errors.js';
import { checkOwnership, presentedMode } from './ownership.js';

describe('checkOwnership', () => {
  it('accepts a Map or a plain object keyed by image path', () => {
    const entry = { uid: 1000, gid: 100, mode: 0o4755 };
    expect(checkOwnership(new Map([['/bin/su', entry]]))).toEqual(new Map([['/bin/su', entry]]));
    expect(checkOwnership({ '/': { mode: 0o700 }, '/dev/null': { device: { type: 'char', major: 1, minor: 3 } } }).size).toBe(2);
    expect(checkOwnership(undefined).size).toBe(0);
  });

  it('names the key and field at fault', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ 'etc/passwd': {} }, /ownership\["etc\/passwd"\]: the key must be an absolute image path/],
      [{ '/etc/': {} }, /ownership\["\/etc\/"\]: the key must be/],
      [{ '/a/../b': {} }, /ownership\["\/a\/..\/b"\]: the key must be/],
      [{ '/a': null }, /ownership\["\/a"\] must be an object/],
      [{ '/a': { uid: -1 } }, /ownership\["\/a"\]\.uid must be an integer from 0 to 4294967294, got -1/],
      [{ '/a': { gid: 1.5 } }, /ownership\["\/a"\]\.gid must be an integer/],
      [{ '/a': { mode: 0o1000000 } }, /ownership\["\/a"\]\.mode must be an integer from 0 to 65535/],
      [{ '/a': { device: { type: 'pipe', major: 0, minor: 0 } } }, /ownership\["\/a"\]\.device\.type must be char, block or fifo/],
      [{ '/a': { device: { type: 'char', major: 1 } } }, /ownership\["\/a"\]\.device\.minor must be an integer/],
      [{ '/a': { mode: 0o060644, device: { type: 'char', major: 1, minor: 3 } } }, /disagree with device\.type char/],
      [{ '/a': { mode: 0o020644 } }, /device type bits but no device numbers/],
    ];
    for (const [map, message] of bad) {
      expect(() => checkOwnership(map as never), JSON.stringify(map)).toThrow(message);
      expect(() => checkOwnership(map as never)).toThrow(VmOptionError);
    }
  });
});

describe('presentedMode', () => {
  it("keeps the host's type, takes the entry's permission bits, and makes devices of placeholders", () => {
    expect(presentedMode('/f', 0o100644, undefined)).toBe(0o100644);
    expect(presentedMode('/f', 0o100644, { mode: 0o4755 })).toBe(0o104755);
    expect(presentedMode('/f', 0o100644, { mode: 0o104755 })).toBe(0o104755);
    expect(presentedMode('/d', 0o040755, { mode: 0o1777 })).toBe(0o041777);
    expect(presentedMode('/l', 0o120777, { mode: 0o755 })).toBe(0o120777);
    expect(presentedMode('/dev/sda', 0o100600, { device: { type: 'block', major: 8, minor: 0 } })).toBe(0o060600);
    expect(presentedMode('/p', 0o100644, { mode: 0o600, device: { type: 'fifo', major: 0, minor: 0 } })).toBe(0o010600);
  });

  it('refuses an entry that contradicts the root', () => {
    expect(() => presentedMode('/dev', 0o040755, { device: { type: 'char', major: 1, minor: 3 } })).toThrow(
      'vm: ownership["/dev"].device: /dev is a directory in the root',
    );
    expect(() => presentedMode('/f', 0o100644, { mode: 0o040755 })).toThrow(/file-type bits 0o40000, but \/f is 0o100000 in the root/);
  });
});

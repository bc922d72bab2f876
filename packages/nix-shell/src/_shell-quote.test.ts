import { describe, expect, it } from 'vitest';
import { compareBytes, escapeShellArg, escapeShellArgs } from './_shell-quote.js';

describe('escapeShellArg', () => {
  it('leaves safe words bare and single-quotes the rest, as nixpkgs lib.escapeShellArg', () => {
    expect(escapeShellArg('/nix/store/abc-bash-5.2/bin/bash')).toBe('/nix/store/abc-bash-5.2/bin/bash');
    expect(escapeShellArg('a,b._+:@%/-9')).toBe('a,b._+:@%/-9');
    expect(escapeShellArg('')).toBe("''");
    expect(escapeShellArg("esc'ape\nme")).toBe("'esc'\\''ape\nme'");
    expect(escapeShellArg('$HOME ü')).toBe("'$HOME ü'");
    expect(escapeShellArg('a?b=c')).toBe("'a?b=c'");
    expect(escapeShellArgs(['one', 'two three', "four'five"])).toBe("one 'two three' 'four'\\''five'");
  });
});

describe('compareBytes', () => {
  it('orders by UTF-8 bytes (code points), not UTF-16 units', () => {
    expect(['\u{1F600}', '\uFF01', 'B', 'a'].sort(compareBytes)).toEqual(['B', 'a', '\uFF01', '\u{1F600}']);
  });
});

import { describe, expect, it } from 'vitest';
import { makeSourcePath, makeTextPath } from './make-store-path.js';
import { narInfoOfTree } from './nar.js';

// Paths the real Nix 2.8 gave (builtins.toFile; a content-addressed derivation's output), so the
// unit test holds where no Nix runs; test/make-store-path.test.ts asks the live Nix as well.
const busybox = '/nix/store/x4ywndna6har8wqw01b8vw325vzm7kxm-busybox-static-1.35';

describe('makeTextPath', () => {
  it('gives the paths builtins.toFile gives, with and without references', () => {
    expect(makeTextPath('plain', 'hello')).toBe('/nix/store/hryqmcj4b8a04mhxl5bpm763lm15cfkp-plain');
    expect(makeTextPath('nix-shell-rc', `hello ${busybox}/bin/sh\n`, [busybox])).toBe('/nix/store/02k4gwsr40kl5iryzynyw93v077wz8pd-nix-shell-rc');
  });
  it('refuses a name Nix does not allow', () => {
    expect(() => makeTextPath('a b', 'x')).toThrow(/illegal name "a b"/);
  });
});

describe('makeSourcePath', () => {
  it('gives the path of a content-addressed tree with references', () => {
    const tree = {
      type: 'directory',
      entries: { bin: { type: 'directory', entries: { buildDerivation: { type: 'regular', executable: true, contents: `#!${busybox}/bin/sh\nexec x\n` } } } },
    } as const;
    const { narHash, narSize } = narInfoOfTree(tree);
    expect([narHash, narSize]).toEqual(['sha256-jPAfJWcdaRxJ1Lgwa+vGi4/tob6RfwDfyv/SlaTJzf0=', 568]);
    expect(makeSourcePath('buildDerivation', narHash, [busybox])).toBe('/nix/store/ny5vc5wgv3b8bsbj1sslg9025d8n55p7-buildDerivation');
  });
});

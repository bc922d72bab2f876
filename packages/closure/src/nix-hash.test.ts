import { describe, expect, it } from 'vitest';
import { ClosureError } from './errors.js';
import { decodeNixBase32, encodeNixBase32, normaliseNarHash } from './nix-hash.js';

// One NAR hash as three Nix tools print it (dump-db hex, nix hash to-base32, path-info SRI).
const HEX = '87e017b331ba09d7dcb0601581949914c53f7222f4f54edb00b1e8757abd7466';
const BASE32 = '0rklpmx7bs5i03dlxxgl49r3zi8lk6a825b0n3fdf2ds66rigq47';
const SRI = 'sha256-h+AXszG6CdfcsGAVgZSZFMU/ciL09U7bALHodXq9dGY=';

describe('Nix base-32', () => {
  it('encodes a sha256 as nix hash to-base32 does', () => {
    expect(encodeNixBase32(Buffer.from(HEX, 'hex'))).toBe(BASE32);
  });
  it('decodes what it encodes, for every length', () => {
    for (let n = 1; n <= 40; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
      expect(Buffer.from(decodeNixBase32(encodeNixBase32(bytes), n)!)).toEqual(bytes);
    }
  });
  it('rejects characters outside the alphabet and wrong lengths', () => {
    expect(decodeNixBase32(BASE32.replace('0', 'e'), 32)).toBeUndefined();
    expect(decodeNixBase32(BASE32.slice(1), 32)).toBeUndefined();
  });
});

describe('normaliseNarHash', () => {
  it('turns every form Nix prints into SRI', () => {
    for (const form of [HEX, `sha256:${HEX}`, `sha256:${BASE32}`, BASE32, SRI]) expect(normaliseNarHash(form, 'x')).toBe(SRI);
  });
  it('names the field of a malformed hash', () => {
    expect(() => normaliseNarHash('sha256:nope', 'graph[3].narHash')).toThrow(/graph\[3\]\.narHash: not a sha256 hash/);
    expect(() => normaliseNarHash('md5-abc', 'f')).toThrow(ClosureError);
  });
});

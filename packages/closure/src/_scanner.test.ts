import { describe, expect, it } from 'vitest';
import { HashScanner } from './_scanner.js';

const A = 'ksxz991hgz9q7mlxjkb3acdxhc65r9ik';
const B = 'gz37v1dlqx8p5i6h0sc27s9a68mpzsh4';

describe('HashScanner', () => {
  it('finds candidate hashes anywhere, ignores other base-32 runs', () => {
    const s = new HashScanner(new Set([A, B]));
    s.feed(Buffer.from(`\0\x01#!/nix/store/${A}-hello/bin/sh\nzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz`));
    expect([...s.found]).toEqual([A]);
  });
  it('finds a hash inside a longer base-32 run (as Nix does)', () => {
    const s = new HashScanner(new Set([B]));
    s.feed(Buffer.from(`00000${B}11111`));
    expect([...s.found]).toEqual([B]);
  });
  it('finds a hash split across chunks at every split point', () => {
    const text = Buffer.from(`prefix /nix/store/${B}-x suffix`);
    for (let cut = 0; cut <= text.length; cut++) {
      const s = new HashScanner(new Set([B]));
      s.feed(text.subarray(0, cut));
      s.feed(text.subarray(cut));
      expect(s.found.has(B), `cut at ${cut}`).toBe(true);
    }
  });
  it('finds a hash spread over many short chunks (short reads), one byte at a time', () => {
    const s = new HashScanner(new Set([B]));
    for (const byte of Buffer.from(`/nix/store/${B}-x`)) s.feed(Buffer.from([byte]));
    expect([...s.found]).toEqual([B]);
  });
  it('does not join the end of one stream to the start of the next', () => {
    const s = new HashScanner(new Set([B]));
    s.feed(Buffer.from(B.slice(0, 16)));
    s.end();
    s.feed(Buffer.from(B.slice(16)));
    expect(s.found.size).toBe(0);
  });
});

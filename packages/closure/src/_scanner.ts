import { NIX_BASE32_ALPHABET } from './nix-hash.js';

const IS_BASE32 = new Uint8Array(256);
for (const c of NIX_BASE32_ALPHABET) IS_BASE32[c.charCodeAt(0)] = 1;

const HASH_LENGTH = 32;

/**
 * Finds the hash parts of candidate store paths in a byte stream, as Nix's reference scanner does:
 * any 32-byte run of base-32 characters equal to a candidate's hash part is a reference. Bytes can be
 * fed in chunks; a hash split across two chunks is still found.
 */
export class HashScanner {
  readonly found = new Set<string>();
  private carry = Buffer.alloc(0);

  constructor(private readonly candidates: ReadonlySet<string>) {}

  /** Scans the next chunk of the stream. */
  feed(chunk: Uint8Array): void {
    if (this.carry.length > 0) {
      // Windows that straddle the boundary: the carried tail plus the first 31 bytes of this chunk.
      this.scan(Buffer.concat([this.carry, chunk.subarray(0, HASH_LENGTH - 1)]));
    }
    this.scan(chunk);
    // Keep the stream's last 31 bytes, which may span several short chunks (short reads).
    const tail = chunk.length >= HASH_LENGTH - 1 ? chunk : Buffer.concat([this.carry, chunk]);
    this.carry = Buffer.from(tail.subarray(Math.max(0, tail.length - (HASH_LENGTH - 1))));
  }

  /** Ends the current stream (the next feed starts a new one). */
  end(): void {
    this.carry = Buffer.alloc(0);
  }

  private scan(buf: Uint8Array): void {
    // Check a window from its last byte backwards; a non-base-32 byte at j rules out every
    // window containing j, so the next candidate window starts at j + 1 (Nix does the same).
    let i = 0;
    const limit = buf.length - HASH_LENGTH;
    while (i <= limit) {
      let j = HASH_LENGTH - 1;
      while (j >= 0 && IS_BASE32[buf[i + j]!]) j--;
      if (j < 0) {
        const hash = Buffer.from(buf.buffer, buf.byteOffset + i, HASH_LENGTH).toString('latin1');
        if (this.candidates.has(hash)) this.found.add(hash);
        i++;
      } else {
        i += j + 1;
      }
    }
  }
}

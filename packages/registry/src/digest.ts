import { createHash, type Hash } from 'node:crypto';
import { RegistryDigestError, RegistryError } from './errors.js';

/** The sha256 digest (`sha256:<hex>`) of some bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Checks a digest string is one strata can verify (sha256 or sha512) and returns its hash name. */
export function digestAlgorithm(digest: string): 'sha256' | 'sha512' {
  if (/^sha256:[a-f0-9]{64}$/.test(digest)) return 'sha256';
  if (/^sha512:[a-f0-9]{128}$/.test(digest)) return 'sha512';
  throw new RegistryError('DIGEST_INVALID', `digest ${JSON.stringify(digest)} is not sha256:<64 hex> or sha512:<128 hex>`);
}

/** Hashes bytes as they pass and counts them; `digest()` is valid once the stream ended. */
export class DigestCounter {
  readonly #hash: Hash;
  readonly #algorithm: string;
  size = 0;
  constructor(algorithm: 'sha256' | 'sha512' = 'sha256') {
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.size += chunk.byteLength;
  }
  digest(): string {
    return `${this.#algorithm}:${this.#hash.copy().digest('hex')}`;
  }
}

/** Throws DIGEST_MISMATCH / SIZE_MISMATCH naming `what` when bytes read differ from what was asked for. */
export function verifyDigest(what: string, expected: { digest: string; size?: number }, actual: { digest: string; size: number }): void {
  if (expected.size !== undefined && expected.size !== actual.size) {
    throw new RegistryDigestError('SIZE_MISMATCH', `${what}: expected ${expected.size} bytes, got ${actual.size}`, {
      expected: String(expected.size),
      actual: String(actual.size),
    });
  }
  if (expected.digest !== actual.digest) {
    throw new RegistryDigestError('DIGEST_MISMATCH', `${what}: expected ${expected.digest}, got ${actual.digest}`, {
      expected: expected.digest,
      actual: actual.digest,
    });
  }
}

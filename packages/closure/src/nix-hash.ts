import { ClosureError } from './errors.js';

/** Nix's base-32 alphabet (no e, o, t, u). */
export const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

const DECODE = new Map([...NIX_BASE32_ALPHABET].map((c, i) => [c, i]));

/** Encodes bytes in Nix's base-32 (as in `nix hash to-base32`); 32 characters for 20 bytes, 52 for 32. */
export function encodeNixBase32(bytes: Uint8Array): string {
  const length = Math.ceil((bytes.length * 8) / 5);
  let out = '';
  for (let n = length - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = ((bytes[i] ?? 0) >> j) | (i + 1 < bytes.length ? (bytes[i + 1] ?? 0) << (8 - j) : 0);
    out += NIX_BASE32_ALPHABET[c & 0x1f];
  }
  return out;
}

/** Decodes Nix base-32 into `size` bytes; undefined when it is not valid. */
export function decodeNixBase32(text: string, size: number): Uint8Array | undefined {
  if (text.length !== Math.ceil((size * 8) / 5)) return undefined;
  const bytes = new Uint8Array(size);
  for (let n = 0; n < text.length; n++) {
    const digit = DECODE.get(text[text.length - 1 - n]!);
    if (digit === undefined) return undefined;
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    bytes[i]! |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (carry) {
      if (i + 1 >= size) return undefined;
      bytes[i + 1]! |= carry;
    }
  }
  return bytes;
}

/**
 * Normalises a sha256 NAR hash in any form Nix prints (`sha256-<base64>` SRI, `sha256:<base32>`,
 * `sha256:<hex>`, bare hex from `--dump-db`, bare base32) to the SRI form `nix path-info` prints.
 * @example normaliseNarHash('87e017...7466') // 'sha256-h+AXszG6...'
 */
export function normaliseNarHash(hash: string, where: string): string {
  const bytes = narHashBytes(hash);
  if (!bytes) throw new ClosureError('MALFORMED', `${where}: not a sha256 hash: ${JSON.stringify(hash)}`);
  return `sha256-${Buffer.from(bytes).toString('base64')}`;
}

function narHashBytes(hash: string): Uint8Array | undefined {
  if (hash.startsWith('sha256-')) {
    const b = Buffer.from(hash.slice(7), 'base64');
    return b.length === 32 && b.toString('base64') === hash.slice(7) ? b : undefined;
  }
  const body = hash.startsWith('sha256:') ? hash.slice(7) : hash;
  if (/^[0-9a-f]{64}$/.test(body)) return Buffer.from(body, 'hex');
  return decodeNixBase32(body, 32);
}

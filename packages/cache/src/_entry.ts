// The bytes of one cache entry. An entry names the key it answers and carries a sha256 of its own
// other fields, so a truncated, bit-flipped or hand-edited file, or one copied under another key's
// name, reads as a miss instead of as an answer.
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { CacheError } from './errors.js';

/** The on-disk format; entries of another format are misses. */
export const ENTRY_FORMAT = 'strata-layer-cache-1';
/** No valid entry comes near this; a larger file is not read. */
export const MAX_ENTRY_BYTES = 4096;
/** Longest key part accepted (keys are hashes and short descriptions). */
export const MAX_KEY_LENGTH = 1024;

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** What identifies an entry: the layer's content and how its stored bytes are made. */
export interface LayerCacheKey {
  /** The layer's uncompressed content: a hash of its inputs, or `diffid:sha256:…` when the diffID is known. */
  readonly layer: string;
  /** How the stored bytes are made from it: compression, level and compressor version (`gzip-6 zlib-1.3.1 x64`). */
  readonly compression: string;
}

/** What the cache knows about a layer stored with one compression. */
export interface LayerCacheEntry {
  /** sha256 of the uncompressed layer tar. */
  readonly diffId: string;
  /** sha256 of the stored (compressed) bytes. */
  readonly digest: string;
  /** Byte length of the stored bytes. */
  readonly size: number;
}

const entrySchema = z.strictObject({
  format: z.literal(ENTRY_FORMAT),
  layer: z.string().max(MAX_KEY_LENGTH),
  compression: z.string().max(MAX_KEY_LENGTH),
  diffId: z.string().regex(DIGEST),
  digest: z.string().regex(DIGEST),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  check: z.string().regex(DIGEST),
});

function body(key: LayerCacheKey, entry: LayerCacheEntry): string {
  // Fixed key order: the check is over these exact bytes.
  return JSON.stringify({ format: ENTRY_FORMAT, layer: key.layer, compression: key.compression, diffId: entry.diffId, digest: entry.digest, size: entry.size });
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The file name (without directory) an entry for `key` lives under: 64 hex digits. */
export function entryName(key: LayerCacheKey): string {
  return createHash('sha256').update(JSON.stringify([key.layer, key.compression])).digest('hex');
}

/** Checks a key before it is used to write; a bad one is a caller's mistake. */
export function checkKey(key: LayerCacheKey): void {
  for (const field of ['layer', 'compression'] as const) {
    const value = key[field] as unknown;
    if (typeof value !== 'string' || value === '' || value.length > MAX_KEY_LENGTH) {
      throw new CacheError('INVALID_OPTION', `layer cache: key.${field} must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
    }
  }
}

/** The file content for an entry; throws naming the field when the entry is malformed. */
export function serializeEntry(key: LayerCacheKey, entry: LayerCacheEntry): Buffer {
  checkKey(key);
  if (!DIGEST.test(entry.diffId)) throw new CacheError('INVALID_OPTION', `layer cache: entry.diffId is not a sha256 digest: ${String(entry.diffId).slice(0, 80)}`);
  if (!DIGEST.test(entry.digest)) throw new CacheError('INVALID_OPTION', `layer cache: entry.digest is not a sha256 digest: ${String(entry.digest).slice(0, 80)}`);
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw new CacheError('INVALID_OPTION', `layer cache: entry.size must be a whole number >= 0, got ${entry.size}`);
  const text = body(key, entry);
  return Buffer.from(`${text.slice(0, -1)},"check":"${sha256(text)}"}\n`);
}

/** The entry a file's bytes hold for `key`, or undefined when they are not a sound entry for exactly that key. */
export function parseEntry(bytes: Buffer, key: LayerCacheKey): LayerCacheEntry | undefined {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = entrySchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { layer, compression, diffId, digest, size, check } = parsed.data;
  if (layer !== key.layer || compression !== key.compression) return undefined;
  const entry = { diffId, digest, size };
  if (sha256(body(key, entry)) !== check) return undefined;
  return entry;
}

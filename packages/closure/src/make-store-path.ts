import { createHash } from 'node:crypto';
import { encodeNixBase32, normaliseNarHash } from './nix-hash.js';
import { compareStrings, DEFAULT_STORE_DIR, validateStorePath } from './store-path.js';

/**
 * Nix's `makeStorePath`: the store path of an object of `type` (`text:<refs>`, `source:<refs>`,
 * `output:out`, ...) whose content hash is `sha256Hex`: sha256 of
 * `<type>:sha256:<hex>:<storeDir>:<name>`, folded to 20 bytes by XOR, in Nix base-32.
 */
export function makeStorePath(type: string, sha256Hex: string, name: string, storeDir = DEFAULT_STORE_DIR): string {
  const digest = createHash('sha256').update(`${type}:sha256:${sha256Hex}:${storeDir}:${name}`).digest();
  const folded = new Uint8Array(20);
  for (let i = 0; i < digest.length; i++) folded[i % 20] = folded[i % 20]! ^ digest[i]!;
  return validateStorePath(`${storeDir}/${encodeNixBase32(folded)}-${name}`, storeDir, `store object ${JSON.stringify(name)}:`);
}

/** `type` followed by `:<reference>` for each reference in order, as Nix's `makeType` writes it. */
function makeType(type: string, references: readonly string[], storeDir: string): string {
  const sorted = [...new Set(references)].sort(compareStrings);
  for (const ref of sorted) validateStorePath(ref, storeDir, 'reference');
  return [type, ...sorted].join(':');
}

/**
 * The store path Nix gives a text file with these contents and references: what
 * `builtins.toFile name contents` (or `nix-store --add` of a file, without references) would
 * make. A text object cannot refer to itself.
 * @example makeTextPath('hello', 'hi\n', []) // '/nix/store/<hash>-hello'
 */
export function makeTextPath(name: string, contents: Uint8Array | string, references: readonly string[] = [], storeDir = DEFAULT_STORE_DIR): string {
  const hex = createHash('sha256').update(contents).digest('hex');
  return makeStorePath(makeType('text', references, storeDir), hex, name, storeDir);
}

/**
 * The store path Nix gives a file tree added by content (a recursive sha256 of its NAR, such as
 * `nix-store --add DIR`, `builtins.path`, or the output of a content-addressed derivation), given
 * its NAR hash (any form `normaliseNarHash` reads) and the other store paths it refers to. A tree
 * that refers to itself is not covered (Nix then rewrites the tree; strata never makes one).
 */
export function makeSourcePath(name: string, narHash: string, references: readonly string[] = [], storeDir = DEFAULT_STORE_DIR): string {
  const sri = normaliseNarHash(narHash, `store object ${JSON.stringify(name)}: narHash`);
  const hex = Buffer.from(sri.slice('sha256-'.length), 'base64').toString('hex');
  return makeStorePath(makeType('source', references, storeDir), hex, name, storeDir);
}

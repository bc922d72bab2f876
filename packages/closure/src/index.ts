export { ClosureError, type ClosureErrorCode, DerivationError } from './errors.js';
export { type StorePath, DEFAULT_STORE_DIR, compareStrings, hashPart, toStorePath, validateStorePath } from './store-path.js';
export { decodeNixBase32, encodeNixBase32, NIX_BASE32_ALPHABET, normaliseNarHash } from './nix-hash.js';
export { dumpNarInfo, type NarInfo, type NarNode, narInfoOfTree } from './nar.js';
export { parseReferencesGraph, readReferencesGraph } from './graph-file.js';
export { parseRegistration, readRegistration } from './registration.js';
export { type ExecFunction, execProgram, type LiveNixOptions, parsePathInfoJson, queryNixStore, queryPathInfo } from './live-nix.js';
export { findStoreReferences, scanClosure, type ScanOptions, scanTree, type TreeScan } from './scan.js';
export { resolveRoots, type ResolveRootsOptions } from './roots.js';
export { type ClosureSource, collectClosure, discoverClosure, type DiscoverClosureOptions } from './discover.js';
export { type ClosureCacheStore, closureCacheKey } from './closure-cache.js';
export {
  DEFAULT_MAX_DERIVATION_BYTES,
  type Derivation,
  type DerivationOutput,
  type DynamicDerivationInput,
  isDerivationPath,
  type ParseDerivationOptions,
  parseDerivation,
  readDerivation,
} from './derivation.js';
export { makeSourcePath, makeStorePath, makeTextPath } from './make-store-path.js';
export { readInputText } from './input-file.js';

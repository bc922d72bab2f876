export { CacheError, type CacheErrorCode } from './errors.js';
export { defaultCacheDirectory } from './directory.js';
export type { LayerCacheEntry, LayerCacheKey } from './_entry.js';
export { LayerCache, type LayerCacheOptions } from './layer-cache.js';
export type { PruneOptions, PruneResult } from './prune.js';
export { ClosureCache, type ClosureCacheOptions } from './closure-cache.js';

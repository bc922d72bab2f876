/**
 * The version of the bytes `packLayer` and `writeTar` produce for a given plan. Caches that remember
 * what a layer's inputs pack and compress to (strata's layer cache) include it in their keys: bump it
 * whenever the same plan would give other tar bytes (header encoding, entry order, padding).
 */
export const LAYER_FORMAT_VERSION = 1;

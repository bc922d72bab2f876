import { ImageError } from './errors.js';

/**
 * The `config` of an image whose config bytes are fixed (read from an archive or a registry): it
 * gives those exact bytes (so the image ID stays the same) once the diffIDs learnt match the ones
 * declared, and throws `DIGEST_MISMATCH` naming the first layer that differs otherwise.
 */
export function fixedConfig(where: string, declared: readonly string[], bytes: Buffer): (diffIds: readonly string[]) => Buffer {
  return (diffIds) => {
    const wrong = declared.findIndex((d, i) => diffIds[i] !== d);
    if (wrong !== -1 || diffIds.length !== declared.length) {
      const at = wrong === -1 ? declared.length : wrong;
      throw new ImageError('DIGEST_MISMATCH', `${where}: layer ${at + 1} has diffID ${diffIds[at] ?? 'none'}, the config declares ${declared[at] ?? 'none'}`);
    }
    return bytes;
  };
}

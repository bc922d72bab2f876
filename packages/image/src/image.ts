import type { Layer } from './layer.js';

/** The platform an image runs on, in OCI terms (`os`, GOARCH `architecture`, optional `variant`). */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/**
 * An image as a lazy description, in the spirit of go-containerregistry's `v1.Image`: its layers
 * (each knows its size, and its digests once read or declared) and a config computed from the
 * layers' diffIDs. Making one reads no layer byte; a sink (a docker-archive, a registry push) reads
 * each layer once, hashing it on the way.
 */
export interface Image {
  /** `name:tag` entries an archive names the image by (docker-archive RepoTags). May be empty. */
  readonly repoTags: readonly string[];
  /** The platform the config declares. */
  readonly platform: Platform;
  /** The layers, bottom first. */
  readonly layers: readonly Layer[];
  /** mtime (seconds since the epoch) archive sinks give their own members, as nixpkgs uses the image's `mtime`. @default 1 */
  readonly mtime?: number;
  /**
   * The exact config bytes for the layers' diffIDs (one per layer, in order); its sha256 is the
   * image ID. Digests have a fixed length, so the byte length does not depend on their values.
   * An image whose config is fixed (read from an archive or a registry) checks that the diffIDs
   * are the ones it declares and throws `DIGEST_MISMATCH` otherwise.
   */
  config(diffIds: readonly string[]): Buffer;
  /** Releases what the image holds on disk (a customisation layer's working directory). Idempotent. */
  dispose(): Promise<void>;
}

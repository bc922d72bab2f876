import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type TarEntry, type TarHeader, type TarStream, tarSize, writeTar } from '@strata/layer';
import { ManifestError } from './errors.js';
import { type ImageConfig, serializeImageConfig } from './config.js';

/** A layer to put into an archive: its exact size up front and a way to read its bytes once. */
export interface ArchiveLayer {
  /** Exact byte length of what `open()` produces. */
  readonly size: number;
  /**
   * Opens the layer bytes. When the stream has a `diffId` promise, or else a `digest` promise (as
   * `packLayer`'s does), that is the diffID; otherwise the writer hashes the bytes on the way unless
   * `diffId` is given.
   */
  open(): Readable;
  /** The diffID when already known (a base image's layer); skips hashing. @default computed */
  readonly diffId?: string;
}

/** Options for {@link writeDockerArchive}. */
export interface WriteDockerArchiveOptions {
  /** `RepoTags` of the image, e.g. `['hello:1.0']` (see repoTag). @default [] */
  readonly repoTags?: readonly string[];
  /** mtime of the archive's own entries, seconds since the epoch. @default 1 */
  readonly mtime?: number;
  /** Aborts writing; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /**
   * Exact config bytes to write instead of serialising the template, so the image ID (their digest)
   * and any history of empty layers survive (a pulled image). Their `rootfs.diff_ids` must be the
   * layers' diffIDs; the template is then ignored. @default the template with the layers' diffIDs
   */
  readonly configBytes?: Buffer;
}

/** A docker-archive being written; `config` resolves with the config bytes and digest (the image ID) once the layers have passed. */
export interface DockerArchiveStream extends TarStream {
  readonly config: Promise<{ readonly bytes: Buffer; readonly digest: string }>;
}

/** The image config template: everything but the diffIDs, which the writer fills in as layers stream. */
export type ImageConfigTemplate = Omit<ImageConfig, 'rootfs'>;

/**
 * The config to write: a template (serialised with {@link imageConfigBytes}), or a function giving
 * the exact bytes for the layers' diffIDs (whose length must not depend on their values).
 */
export type ArchiveConfig = ImageConfigTemplate | ((diffIds: readonly string[]) => Buffer);

/** A digest of the right length, standing in for one not known yet (sizes are computed from it). */
export const PLACEHOLDER = `sha256:${'0'.repeat(64)}`;

/** The member name of layer `index` (0-based) inside strata's docker-archives. */
export function layerMemberName(index: number): string {
  return `layers/${String(index + 1).padStart(3, '0')}.tar`;
}

/**
 * The exact config bytes strata writes for `template` and these diffIDs: the template's keys in
 * order, `rootfs` before `history`. Anything that must reproduce an archive's image ID (a push
 * straight from a spec) serialises with this.
 * @example
 * const bytes = imageConfigBytes(template, layers.map((l) => l.diffId));
 * const imageId = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
 */
export function imageConfigBytes(template: ImageConfigTemplate, diffIds: readonly string[]): Buffer {
  const { history, ...rest } = template;
  const config: ImageConfig = { ...rest, rootfs: { type: 'layers', diff_ids: diffIds }, ...(history ? { history } : {}) };
  return serializeImageConfig(config);
}

/** Checks that kept config bytes name exactly the diffIDs of the layers written with them. */
export function checkKeptConfig(bytes: Buffer, diffIds: readonly string[]): Buffer {
  let listed: unknown;
  try {
    listed = (JSON.parse(bytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } } | null)?.rootfs?.diff_ids;
  } catch (error) {
    throw new ManifestError('INVALID_OPTION', 'configBytes: not JSON', { cause: error });
  }
  if (!Array.isArray(listed) || listed.length !== diffIds.length || listed.some((d, i) => d !== diffIds[i])) {
    throw new ManifestError('INVALID_OPTION', `configBytes: rootfs.diff_ids do not match the ${diffIds.length} layers' diffIDs`);
  }
  return bytes;
}

/** The manifest.json of a one-image archive. */
export function manifestJson(configName: string, repoTags: readonly string[], layers: number): Buffer {
  const entry = { Config: configName, RepoTags: repoTags, Layers: Array.from({ length: layers }, (_, i) => layerMemberName(i)) };
  return Buffer.from(JSON.stringify([entry]));
}

/** The header of an archive member of strata's own (layers, configs, manifest.json). */
export function memberHeader(name: string, size: number, mtime: number): TarHeader {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime, size };
}

/** Opens a layer and records its diffID: known, computed by the layer's own stream, or hashed here. */
export function openLayer(layer: Pick<ArchiveLayer, 'open' | 'diffId'>, diffIds: (string | Promise<string>)[], index: number): Readable {
  const stream = layer.open() as Readable & { digest?: Promise<string>; diffId?: Promise<string> };
  const own = stream.diffId ?? stream.digest;
  if (layer.diffId !== undefined) {
    diffIds[index] = layer.diffId;
  } else if (own !== undefined) {
    // Still being computed: awaited only when the config is written, after the last layer.
    diffIds[index] = own;
  } else {
    const hash = createHash('sha256');
    stream.on('data', (chunk: Buffer) => hash.update(chunk));
    const digest = new Promise<string>((resolve, reject) => {
      stream.once('end', () => resolve(`sha256:${hash.digest('hex')}`));
      stream.once('error', reject);
    });
    digest.catch(() => {});
    diffIds[index] = digest;
  }
  return stream;
}

/**
 * Streams a docker-archive (`docker load` / `podman load` format) in ONE pass over the layers:
 * layer members first (named by position, `layers/001.tar`, since their digests are only known once
 * their bytes have passed), then the config `<sha256>.json` with the diffIDs gathered on the way,
 * then `manifest.json`. The archive's exact size is known before the first byte.
 * @example
 * const archive = writeDockerArchive([{ size: layer.size, open: () => layer }], template, { repoTags: ['hello:1'] });
 * await pipeline(archive, createWriteStream('hello.tar'));
 */
export function writeDockerArchive(
  layers: readonly ArchiveLayer[],
  template: ArchiveConfig,
  options: WriteDockerArchiveOptions = {},
): DockerArchiveStream {
  const mtime = options.mtime ?? 1;
  const repoTags = options.repoTags ?? [];
  if (options.configBytes === undefined && typeof template !== 'function' && template.history !== undefined && template.history.length !== layers.length) {
    throw new ManifestError('INVALID_OPTION', `history: ${template.history.length} entries for ${layers.length} layers`);
  }
  const configOf = typeof template === 'function' ? template : (ids: readonly string[]) => imageConfigBytes(template, ids);
  const diffIds: (string | Promise<string>)[] = layers.map(() => PLACEHOLDER);
  const layerHeaders = layers.map((l, i) => memberHeader(layerMemberName(i), l.size, mtime));
  // Digests have a fixed length, so the config and manifest sizes are known from placeholders
  // (or from the diffIDs already known, for a config that checks them).
  const configSize = options.configBytes?.length ?? configOf(layers.map((l) => l.diffId ?? PLACEHOLDER)).length;
  const configName = `${'0'.repeat(64)}.json`;
  const manifestSize = manifestJson(configName, repoTags, layers.length).length;
  const size = tarSize([...layerHeaders, memberHeader(configName, configSize, mtime), memberHeader('manifest.json', manifestSize, mtime)]);
  async function* entries(): AsyncGenerator<TarEntry> {
    for (const [i, layer] of layers.entries()) yield { ...layerHeaders[i]!, body: () => openLayer(layer, diffIds, i) };
    const ids = await Promise.all(diffIds);
    const config = options.configBytes ? checkKeptConfig(options.configBytes, ids) : configOf(ids);
    const hex = createHash('sha256').update(config).digest('hex');
    resolveConfig({ bytes: config, digest: `sha256:${hex}` });
    const name = `${hex}.json`;
    yield { ...memberHeader(name, config.length, mtime), body: config };
    const manifest = manifestJson(name, repoTags, layers.length);
    yield { ...memberHeader('manifest.json', manifest.length, mtime), body: manifest };
  }
  let resolveConfig!: (c: { bytes: Buffer; digest: string }) => void;
  const config = new Promise<{ bytes: Buffer; digest: string }>((resolve) => {
    resolveConfig = resolve;
  });
  const tar = writeTar(entries(), { size, digest: false, ...(options.signal ? { signal: options.signal } : {}) });
  return Object.assign(tar, { config });
}

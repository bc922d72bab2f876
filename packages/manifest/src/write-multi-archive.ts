import { createHash } from 'node:crypto';
import { type TarEntry, type TarHeader, type TarStream, tarSize, writeTar } from '@strata/layer';
import {
  type ArchiveConfig,
  type ArchiveLayer,
  checkKeptConfig,
  imageConfigBytes,
  layerMemberName,
  memberHeader,
  openLayer,
  PLACEHOLDER,
} from './write-archive.js';

/** One image of a multi-image archive. */
export interface ArchiveImage {
  /** Its layers, bottom first. The same layer (the same object, or the same `diffId`) in several images is stored once. */
  readonly layers: readonly ArchiveLayer[];
  /** The config template, or a function giving the exact bytes for the layers' diffIDs. */
  readonly config: ArchiveConfig;
  /** `RepoTags`; an image without any still loads (by its ID). @default [] */
  readonly repoTags?: readonly string[];
  /** Exact config bytes to write instead (a pulled or archived image); see writeDockerArchive. @default computed */
  readonly configBytes?: Buffer;
}

/** Options for {@link writeMultiImageArchive}. */
export interface WriteMultiImageArchiveOptions {
  /** mtime of the archive's own entries, seconds since the epoch. @default 1 */
  readonly mtime?: number;
  /** Aborts writing; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
}

/** A multi-image docker-archive being written; `configs` resolve (in image order) once the layers have passed. */
export interface MultiImageArchiveStream extends TarStream {
  readonly configs: Promise<readonly { readonly bytes: Buffer; readonly digest: string }[]>;
}

interface Plan {
  /** Each stored layer once, in order of first use. */
  readonly stored: ArchiveLayer[];
  /** For each image, the positions in `stored` of its layers. */
  readonly uses: number[][];
}

function planLayers(images: readonly ArchiveImage[]): Plan {
  const stored: ArchiveLayer[] = [];
  const at = new Map<unknown, number>();
  const uses = images.map((image) =>
    image.layers.map((layer) => {
      const key = layer.diffId ?? layer;
      let index = at.get(key);
      if (index === undefined) {
        index = stored.push(layer) - 1;
        at.set(key, index);
      }
      return index;
    }),
  );
  return { stored, uses };
}

function configOf(image: ArchiveImage): (diffIds: readonly string[]) => Buffer {
  const { config } = image;
  if (image.configBytes) return (ids) => checkKeptConfig(image.configBytes!, ids);
  return typeof config === 'function' ? config : (ids) => imageConfigBytes(config, ids);
}

function manifestJson(entries: readonly { config: string; repoTags: readonly string[]; layers: readonly number[] }[]): Buffer {
  return Buffer.from(JSON.stringify(entries.map((e) => ({ Config: e.config, RepoTags: e.repoTags, Layers: e.layers.map(layerMemberName) }))));
}

const hexOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Streams ONE docker-archive holding several images (`docker load` / `podman load` load them all):
 * every distinct layer once (`layers/001.tar`, ... in order of first use), then each image's config
 * `<sha256>.json` (one member for images whose configs are the same bytes), then `manifest.json`
 * with an entry per image, in order, with its RepoTags. Each layer is read once; its size and the
 * archive's are known before the first byte. For a single image whose layers are all distinct the
 * bytes are exactly those of {@link writeDockerArchive}.
 * @example
 * const archive = writeMultiImageArchive([
 *   { layers: [base, app], config: appTemplate, repoTags: ['app:1'] },
 *   { layers: [base], config: baseTemplate, repoTags: ['base:1'] },
 * ]);
 * await pipeline(archive, createWriteStream('both.tar'));
 */
export function writeMultiImageArchive(images: readonly ArchiveImage[], options: WriteMultiImageArchiveOptions = {}): MultiImageArchiveStream {
  const mtime = options.mtime ?? 1;
  const { stored, uses } = planLayers(images);
  const configs = images.map(configOf);
  // Digests have a fixed length: config sizes follow from the diffIDs known now, placeholders elsewhere.
  const early = images.map((image, i) => {
    if (image.configBytes) return { size: image.configBytes.length, hex: hexOf(image.configBytes) };
    const known = uses[i]!.map((at) => stored[at]!.diffId);
    const bytes = configs[i]!(known.map((d) => d ?? PLACEHOLDER));
    return { size: bytes.length, hex: known.every((d) => d !== undefined) ? hexOf(bytes) : undefined };
  });
  // Images whose configs are already known to be the same bytes share one member.
  const seen = new Set<string>();
  const writesConfig = early.map(({ hex }) => {
    if (hex === undefined) return true;
    if (seen.has(hex)) return false;
    seen.add(hex);
    return true;
  });
  const configName = `${'0'.repeat(64)}.json`;
  const manifestSize = manifestJson(images.map((image, i) => ({ config: configName, repoTags: image.repoTags ?? [], layers: uses[i]! }))).length;
  const layerHeaders = stored.map((layer, i) => memberHeader(layerMemberName(i), layer.size, mtime));
  const headers: TarHeader[] = [
    ...layerHeaders,
    ...early.filter((_, i) => writesConfig[i]).map((e) => memberHeader(configName, e.size, mtime)),
    memberHeader('manifest.json', manifestSize, mtime),
  ];
  const diffIds: (string | Promise<string>)[] = stored.map(() => PLACEHOLDER);
  let resolveConfigs!: (c: { bytes: Buffer; digest: string }[]) => void;
  const configsDone = new Promise<{ bytes: Buffer; digest: string }[]>((resolve) => {
    resolveConfigs = resolve;
  });
  async function* entries(): AsyncGenerator<TarEntry> {
    for (const [i, layer] of stored.entries()) yield { ...layerHeaders[i]!, body: () => openLayer(layer, diffIds, i) };
    const ids = await Promise.all(diffIds);
    const written = images.map((_, i) => {
      const bytes = configs[i]!(uses[i]!.map((at) => ids[at]!));
      return { bytes, digest: `sha256:${hexOf(bytes)}` };
    });
    resolveConfigs(written);
    for (const [i, config] of written.entries()) {
      if (writesConfig[i]) yield { ...memberHeader(`${config.digest.slice(7)}.json`, config.bytes.length, mtime), body: config.bytes };
    }
    const manifest = manifestJson(images.map((image, i) => ({ config: `${written[i]!.digest.slice(7)}.json`, repoTags: image.repoTags ?? [], layers: uses[i]! })));
    yield { ...memberHeader('manifest.json', manifest.length, mtime), body: manifest };
  }
  const tar = writeTar(entries(), { size: tarSize(headers), digest: false, ...(options.signal ? { signal: options.signal } : {}) });
  return Object.assign(tar, { configs: configsDone });
}

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanClosure, type StorePath } from '@strata/closure';
import { type Image, type Layer, type Platform, unpackImage } from '@strata/image';
import { SbomError } from './errors.js';

/** Options for {@link readImageContents}. */
export interface ReadImageContentsOptions {
  /** Where the image's file system is unpacked while its store paths are hashed (a new directory in it, always removed). @default os.tmpdir() */
  readonly directory?: string;
  /** Most paths the image's file system may hold, against a hostile image. @default 1_000_000 */
  readonly maxEntries?: number;
  /** Most bytes of file content the layers may write in all. @default unbounded */
  readonly maxBytes?: number;
  /** Told when layer `index` (0-based) starts being read. @default none */
  readonly onLayer?: (index: number) => void;
  readonly signal?: AbortSignal;
}

/** What an image is and holds, as an SBOM describes it. */
export interface ImageContents {
  /** The image ID: sha256 of the config bytes. */
  readonly imageId: string;
  /** The config's `created` (RFC 3339), when it has one. */
  readonly created?: string;
  readonly platform: Platform;
  readonly repoTags: readonly string[];
  /** Every store path the image's file system holds, sorted, with the NAR hash and references of what is there. */
  readonly storePaths: readonly StorePath[];
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const STORE_PATH = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;

/**
 * The image with each layer's stream noted as it is opened, so its diffID is known once it has
 * been read (a layer of unknown digest learns it only by being read).
 */
function noting(image: Image, diffIds: Map<Layer, Promise<string>>): Image {
  // One wrapper per layer value: a layer listed twice stays one value, so it is still read once.
  const wrappers = new Map<Layer, Layer>();
  const wrap = (layer: Layer): Layer => ({
    size: layer.size,
    compression: layer.compression,
    diffId: layer.diffId,
    digest: layer.digest,
    open() {
      const stream = layer.open();
      diffIds.set(layer, stream.diffId);
      return stream;
    },
  });
  const layers = image.layers.map((layer) => wrappers.get(layer) ?? wrappers.set(layer, wrap(layer)).get(layer)!);
  return {
    repoTags: image.repoTags,
    platform: image.platform,
    layers,
    ...(image.mtime === undefined ? {} : { mtime: image.mtime }),
    config: (ids) => image.config(ids),
    dispose: () => image.dispose(),
  };
}

/** The image's store paths, from the unpacked tree's metadata; refuses a store that is not a plain directory or holds devices. */
function storePathsOf(entries: ReadonlyMap<string, { readonly type: string }>): string[] {
  for (const dir of ['/nix', '/nix/store']) {
    const type = entries.get(dir)?.type;
    if (type === undefined) return [];
    if (type !== 'directory') throw new SbomError('UNSAFE_ENTRY', `${dir} is a ${type} in the image, not a directory; strata reads store paths only from a real /nix/store`);
  }
  const paths: string[] = [];
  for (const [path, entry] of entries) {
    if (!path.startsWith('/nix/store/')) continue;
    if (entry.type !== 'file' && entry.type !== 'directory' && entry.type !== 'symlink') {
      throw new SbomError('UNSAFE_ENTRY', `${path}: a ${entry.type} in the store; a store path holds only files, directories and symlinks`);
    }
    if (STORE_PATH.test(path)) paths.push(path);
  }
  return paths.sort();
}

/**
 * Reads an image's layers once, in order, and finds every Nix store path its file system holds
 * (`/nix/store/<hash>-<name>`, after later layers and whiteouts have had their say). Each path's
 * NAR hash is computed from what the image holds, and its references are found by scanning it for
 * the other paths' hash parts, as Nix's own scanner finds them when a path is built: no Nix database
 * in the image is trusted (it may be missing, stale or made up). The layers' diffIDs, learnt on the
 * way, give the image ID. The image is unpacked (`unpackImage`: nothing is written outside the
 * directory, whatever its links say) into a temporary directory while its store paths are hashed,
 * and removed afterwards.
 * @example
 * const { imageId, storePaths } = await readImageContents(await readImage('hello.tar'));
 */
export async function readImageContents(image: Image, options: ReadImageContentsOptions = {}): Promise<ImageContents> {
  const dir = await mkdtemp(join(options.directory ?? tmpdir(), 'strata-sbom-'));
  try {
    const diffIds = new Map<Layer, Promise<string>>();
    const root = join(dir, 'root');
    const tree = await unpackImage(noting(image, diffIds), root, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      ...(options.onLayer ? { onLayer: options.onLayer } : {}),
    });
    const storePaths = await scanClosure(storePathsOf(tree.entries), { storeRoot: root, ...(options.signal ? { signal: options.signal } : {}) });
    // A layer listed twice is read once: its other place has the same diffID.
    const config = image.config(await Promise.all(image.layers.map((layer) => layer.diffId ?? diffIds.get(layer)!)));
    const created = (JSON.parse(config.toString('utf8')) as { created?: unknown }).created;
    return {
      imageId: sha256(config),
      ...(typeof created === 'string' ? { created } : {}),
      platform: image.platform,
      repoTags: image.repoTags,
      storePaths,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

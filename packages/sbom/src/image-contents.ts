import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { scanClosure, type StorePath } from '@strata/closure';
import { decompressor, type Image, type Platform } from '@strata/image';
import { readTar } from '@strata/layer';
import { StoreTree } from './_store-tree.js';

/** Options for {@link readImageContents}. */
export interface ReadImageContentsOptions {
  /** Where the store paths are written while they are hashed (a new directory in it, always removed). @default os.tmpdir() */
  readonly directory?: string;
  /** Most tar entries read over all layers, against a hostile image. @default 10_000_000 */
  readonly maxEntries?: number;
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

/**
 * Reads an image's layers once, in order, and finds every Nix store path its file system holds
 * (`/nix/store/<hash>-<name>`, after later layers and whiteouts have had their say). Each path's
 * NAR hash is computed from what the image holds, and its references are found by scanning it for
 * the other paths' hash parts, as Nix's own scanner finds them when a path is built: no Nix database
 * in the image is trusted (it may be missing, stale or made up). The layers' diffIDs, learnt on the
 * way, give the image ID. The store paths are written to a temporary directory (never through a
 * link the image holds) while they are hashed, and removed afterwards.
 * @example
 * const { imageId, storePaths } = await readImageContents(await readImage('hello.tar'));
 */
export async function readImageContents(image: Image, options: ReadImageContentsOptions = {}): Promise<ImageContents> {
  const dir = await mkdtemp(join(options.directory ?? tmpdir(), 'strata-sbom-'));
  try {
    const tree = new StoreTree(dir, options.maxEntries ?? 10_000_000);
    await tree.init();
    const diffIds: string[] = [];
    for (const [i, layer] of image.layers.entries()) {
      options.signal?.throwIfAborted();
      options.onLayer?.(i);
      const stream = layer.open();
      const tar: Readable = layer.compression === 'none' ? stream : (stream.pipe(decompressor(layer.compression)) as unknown as Readable);
      if (tar !== stream) stream.once('error', (error) => tar.destroy(error));
      const abort = () => stream.destroy(options.signal?.reason as Error);
      options.signal?.addEventListener('abort', abort, { once: true });
      try {
        await tree.applyLayer(readTar(tar), i, `layer ${i + 1}`);
        // The tar may end before the stream does (padding); the digests come at the stream's end.
        tar.resume();
        diffIds.push(await stream.diffId);
      } finally {
        options.signal?.removeEventListener('abort', abort);
        stream.destroy();
      }
    }
    const config = image.config(diffIds);
    const created = (JSON.parse(config.toString('utf8')) as { created?: unknown }).created;
    const storePaths = await scanClosure(tree.storePaths(), { storeRoot: dir, ...(options.signal ? { signal: options.signal } : {}) });
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

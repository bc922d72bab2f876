import { mkdir, readdir, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { readTar, type TarMember } from '@strata/layer';
import { applyMember, type LayerContext } from './_apply.js';
import { diskDirectory, noDisk, type UnpackDisk } from './_disk.js';
import { Tree } from './_tree.js';
import { decompressor } from './compression.js';
import { ImageError } from './errors.js';
import type { Image } from './image.js';
import type { ImageTree } from './image-tree.js';
import type { Layer, LayerStream } from './layer.js';

/** Options for {@link unpackImage} and {@link listImagePaths}. */
export interface UnpackImageOptions {
  /** Aborts between entries and while a file streams; the error is the abort reason. @default none */
  readonly signal?: AbortSignal;
  /** Most bytes of file content the layers may write in all (a bound against a hostile image filling the disk). @default unbounded */
  readonly maxBytes?: number;
  /** Most paths the flattened tree may hold: the metadata map is the only thing kept in memory. @default 1000000 */
  readonly maxEntries?: number;
  /** Told when layer `index` (of `image.layers`) starts being applied. @default none */
  readonly onLayer?: (index: number) => void;
  /** How error messages name the image (its file, say). @default 'image' */
  readonly name?: string;
}

const DEFAULT_MAX_ENTRIES = 1_000_000;

/**
 * Which layers to apply: a layer listed more than once (nixpkgs #214434: a base whose manifest names
 * the same tar twice) is applied once, at its last position, as nixpkgs settled it; so each layer is
 * also read once. Layers are the same when their diffIDs are, or when they are the same value.
 */
function applyOrder(layers: readonly Layer[]): { order: number[]; sameAs: number[] } {
  const last = new Map<unknown, number>();
  for (const [i, layer] of layers.entries()) last.set(layer.diffId ?? layer, i);
  const sameAs = layers.map((layer) => last.get(layer.diffId ?? layer)!);
  return { order: sameAs.filter((at, i) => at === i), sameAs };
}

/** The layer's tar, uncompressed; the layer stream itself is returned too, as it carries the digests checked at its end. */
function openTar(layer: Layer): { stream: LayerStream; tar: Readable } {
  const stream = layer.open();
  if (layer.compression === 'none') return { stream, tar: stream };
  const inflate = decompressor(layer.compression) as unknown as Readable;
  stream.once('error', (error) => inflate.destroy(error));
  return { stream, tar: stream.pipe(inflate as unknown as NodeJS.WritableStream) as unknown as Readable };
}

/** An error of the tar reader that is not ours (a bad header, a cut-off body) becomes one naming the layer. */
function tarError(error: unknown, where: string): unknown {
  if (error instanceof ImageError || (error as Error | null)?.name === 'AbortError') return error;
  return new ImageError('INVALID_IMAGE', `${where}: not a readable tar: ${(error as Error).message}`, { cause: error });
}

async function applyLayer(layer: Layer, ctx: LayerContext): Promise<void> {
  const { stream, tar } = openTar(layer);
  const members = readTar(tar);
  try {
    for (;;) {
      let next: IteratorResult<TarMember>;
      try {
        next = await members.next();
      } catch (error) {
        throw tarError(error, ctx.where);
      }
      if (next.done) break;
      await applyMember(ctx, next.value);
    }
    // Resolved once the last byte passed and matched what the image declares.
    await stream.diffId;
  } finally {
    await members.return(undefined);
    stream.destroy();
  }
}

async function walkImage(image: Image, disk: UnpackDisk, options: UnpackImageOptions): Promise<ImageTree> {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  if (!(maxEntries >= 1) || !(maxBytes >= 0)) throw new ImageError('INVALID_OPTION', `unpack: maxEntries must be >= 1 and maxBytes >= 0, got ${maxEntries} and ${maxBytes}`);
  const tree = new Tree(disk, maxEntries);
  const budget = { bytes: 0, maxBytes };
  const { order, sameAs } = applyOrder(image.layers);
  const layerPaths: string[][] = [];
  const name = options.name ?? 'image';
  try {
    for (const index of order) {
      options.onLayer?.(index);
      const paths: string[] = [];
      const where = `${name}: layer ${index + 1} of ${image.layers.length}`;
      await applyLayer(image.layers[index]!, { tree, disk, layer: index, where, paths, budget, ...(options.signal ? { signal: options.signal } : {}) });
      layerPaths[index] = paths;
    }
  } catch (error) {
    // Files still being written are finished and closed before the caller may remove the tree.
    await disk.flush().catch(() => {});
    throw error;
  }
  await disk.flush();
  return { entries: tree.entries, layerPaths: sameAs.map((at) => layerPaths[at]!), bytes: budget.bytes };
}

/**
 * Applies an image's layers in order into `dir`, as a container runtime does: later layers win,
 * `.wh.NAME` hides NAME of lower layers, `.wh..wh..opq` hides a directory's lower contents (keeping
 * what the same layer put there), hard links are made as hard links, a repeated layer is applied
 * once at its last position. Each layer is read once and checked against its diffID on the way.
 *
 * Works unprivileged, and gives the same tree whoever runs it: files are owned by the caller with
 * their permission bits plus owner read/write, directories 0755, device nodes and fifos are empty
 * placeholder files. What the image really says of each path (owners, full modes, devices) is in
 * the returned `entries` map, to apply when re-packing (`scanDirectoryLayer(dir, { overrides:
 * tree.entries })`) or to hand to a VM.
 *
 * Hostile layers are expected: names are resolved inside `dir` only (symlinks are followed as in a
 * chroot, never out of it: `a -> /etc` then `a/passwd` writes `dir/etc/passwd`); a name or hard
 * link target that climbs above the root (`../x`) fails with `UNSAFE_ENTRY` before anything is
 * written for it. `dir` must be empty or missing, and nothing else may write there meanwhile. On
 * any error the directory holds a partial tree: remove it.
 * @example
 * const tree = await unpackImage(await readImage('base.tar'), '/tmp/rootfs');
 * tree.entries.get('/usr/bin/sudo'); // { type: 'file', uid: 0, gid: 0, mode: 0o4755, ... }
 */
export async function unpackImage(image: Image, dir: string, options: UnpackImageOptions = {}): Promise<ImageTree> {
  await mkdir(dir, { recursive: true });
  const root = await realpath(resolve(dir));
  const present = await readdir(root);
  if (present.length > 0) throw new ImageError('INVALID_OPTION', `unpack: ${dir} is not empty (it holds ${present.slice(0, 3).join(', ')}${present.length > 3 ? ', ...' : ''})`);
  return walkImage(image, diskDirectory(root), options);
}

/**
 * The same walk as {@link unpackImage} without a directory: each layer is read once (and checked),
 * nothing is written. Gives the flattened tree's metadata and the paths each layer names, e.g. the
 * base image's paths that buildImage diffs new store paths against.
 * @example
 * const { layerPaths, entries } = await listImagePaths(await readImage('base.tar'));
 * const inBase = new Set(layerPaths.flat());
 */
export async function listImagePaths(image: Image, options: UnpackImageOptions = {}): Promise<ImageTree> {
  return walkImage(image, noDisk(), options);
}

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodeHeader } from '@strata/layer';
import { ManifestError } from './errors.js';
import { type ArchiveConfig, checkKeptConfig, imageConfigBytes, layerMemberName, manifestJson, memberHeader, openLayer, PLACEHOLDER, type WriteDockerArchiveOptions } from './write-archive.js';

const BLOCK = 512;

/** A layer whose size is learnt by writing it (a compressed layer being inflated). */
export interface UnsizedArchiveLayer {
  /** Opens the layer bytes; a `diffId` or `digest` promise on the stream is taken as its diffID (see ArchiveLayer). */
  open(): Readable;
  /** The diffID when already known. @default computed */
  readonly diffId?: string;
  /**
   * The exact byte length of what `open()` yields, when known (a plain layer whose blob is its
   * tar): the layers after it may then be written while it is (see `concurrency`). A layer that
   * turns out to have another length fails the write. @default learnt by writing it
   */
  readonly size?: number;
}

/** Options for {@link writeDockerArchiveFile}. */
export interface WriteDockerArchiveFileOptions extends WriteDockerArchiveOptions {
  /** Stages each layer's bytes pass through on their way to the file (progress counters). @default none */
  readonly through?: () => Transform[];
  /** Told each layer's size once it is written. @default none */
  readonly onLayer?: (index: number, size: number) => void;
  /** Bytes the file's write stream may hold. @default 1 MiB */
  readonly writeBuffer?: number;
  /**
   * Layers written at once. A layer starts only once the place of its bytes is known: after every
   * layer before it with an unknown size has been written. @default 1
   */
  readonly concurrency?: number;
}

/**
 * Writes to `path` (a new, empty file the caller owns) the exact bytes {@link writeDockerArchive}
 * streams for the same layers, but for layers whose sizes are only learnt by reading them: each
 * layer's bytes go straight to their place in the file, after room left for the member's header,
 * which is written once the size is known. A compressed layer is thus inflated once and written
 * once, instead of first to a file of its own to learn its size and then copied. Layers are written
 * one after another, or several at once (`concurrency`) when their sizes are known; the archive is
 * only valid once this resolves.
 * @example
 * await writeDockerArchiveFile(temp, [{ open: () => inflated(blob) }], template, { repoTags: ['hello:1'] });
 */
export async function writeDockerArchiveFile(
  path: string,
  layers: readonly UnsizedArchiveLayer[],
  template: ArchiveConfig,
  options: WriteDockerArchiveFileOptions = {},
): Promise<{ readonly bytes: Buffer; readonly digest: string }> {
  const mtime = options.mtime ?? 1;
  const configOf = typeof template === 'function' ? template : (ids: readonly string[]) => imageConfigBytes(template, ids);
  const diffIds: (string | Promise<string>)[] = layers.map(() => PLACEHOLDER);
  const file = await open(path, 'r+');
  // Stops the layers still being written when one fails (or the caller aborts).
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  try {
    /** Where the next member starts; undefined while a layer of unknown size before it is written. */
    let at: number | undefined = 0;
    const running = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    // onLayer is told in layer order, whatever order the layers finish in.
    const sizes: number[] = [];
    let told = 0;
    const tell = () => {
      for (; told < layers.length && sizes[told] !== undefined; told++) options.onLayer?.(told, sizes[told]!);
    };
    const writeLayer = async (layer: UnsizedArchiveLayer, i: number, offset: number): Promise<number> => {
      const start = offset + BLOCK;
      const stream = openLayer(layer, diffIds, i);
      const out = createWriteStream(path, { flags: 'r+', start, highWaterMark: options.writeBuffer ?? 1 << 20 });
      await pipeline([stream, ...(options.through?.() ?? []), out], { signal });
      const size = out.bytesWritten;
      if (layer.size !== undefined && size !== layer.size) {
        throw new ManifestError('INVALID_ARCHIVE', `${layerMemberName(i)}: ${size} bytes were written, ${layer.size} were expected`);
      }
      const header = encodeHeader(memberHeader(layerMemberName(i), size, mtime));
      // Member names are short ASCII and sizes of any length fit the ustar field (base-256 past 8 GiB): one block.
      if (header.length !== BLOCK) throw new ManifestError('UNSUPPORTED', `${layerMemberName(i)}: a header of ${header.length} bytes`);
      await file.write(header, 0, BLOCK, offset);
      const pad = padding(size);
      if (pad > 0) await file.write(Buffer.alloc(pad), 0, pad, start + size);
      sizes[i] = size;
      tell();
      return start + size + pad;
    };
    const track = (task: Promise<unknown>) => {
      const done: Promise<void> = task.then(
        () => {
          running.delete(done);
        },
        (error: unknown) => {
          running.delete(done);
          failure ??= { error };
          stop.abort(error);
        },
      );
      running.add(done);
    };
    for (const [i, layer] of layers.entries()) {
      options.signal?.throwIfAborted();
      // Wait for a free slot, and for the place of this layer when a layer before it has no size yet.
      while (!failure && (running.size >= concurrency || at === undefined) && running.size > 0) await Promise.race(running);
      if (failure) break;
      const offset: number = at!;
      if (layer.size !== undefined) {
        at = offset + BLOCK + layer.size + padding(layer.size);
        track(writeLayer(layer, i, offset));
      } else {
        at = undefined;
        track(
          writeLayer(layer, i, offset).then((end) => {
            at = end;
          }),
        );
      }
    }
    await Promise.all(running);
    if (failure) throw failure.error;
    options.signal?.throwIfAborted();
    let end = at!;
    const put = async (bytes: Buffer) => {
      await file.write(bytes, 0, bytes.length, end);
      end += bytes.length;
    };
    const ids = await Promise.all(diffIds);
    const config = options.configBytes ? checkKeptConfig(options.configBytes, ids) : configOf(ids);
    const hex = createHash('sha256').update(config).digest('hex');
    const manifest = manifestJson(`${hex}.json`, options.repoTags ?? [], layers.length);
    for (const [name, body] of [[`${hex}.json`, config], ['manifest.json', manifest]] as const) {
      await put(encodeHeader(memberHeader(name, body.length, mtime)));
      await put(Buffer.concat([body, Buffer.alloc(padding(body.length))]));
    }
    // The two zero blocks that end a tar.
    await put(Buffer.alloc(2 * BLOCK));
    await file.truncate(end);
    return { bytes: config, digest: `sha256:${hex}` };
  } finally {
    await file.close();
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

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
}

/** Options for {@link writeDockerArchiveFile}. */
export interface WriteDockerArchiveFileOptions extends WriteDockerArchiveOptions {
  /** Stages each layer's bytes pass through on their way to the file (progress counters). @default none */
  readonly through?: () => Transform[];
  /** Told each layer's size once it is written. @default none */
  readonly onLayer?: (index: number, size: number) => void;
  /** Bytes the file's write stream may hold. @default 1 MiB */
  readonly writeBuffer?: number;
}

/**
 * Writes to `path` (a new, empty file the caller owns) the exact bytes {@link writeDockerArchive}
 * streams for the same layers, but for layers whose sizes are only learnt by reading them: each
 * layer's bytes go straight to their place in the file, after room left for the member's header,
 * which is written once the size is known. A compressed layer is thus inflated once and written
 * once, instead of first to a file of its own to learn its size and then copied. Layers are written
 * one after another; the archive is only valid once this resolves.
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
  try {
    let at = 0;
    const put = async (bytes: Buffer) => {
      await file.write(bytes, 0, bytes.length, at);
      at += bytes.length;
    };
    for (const [i, layer] of layers.entries()) {
      options.signal?.throwIfAborted();
      const start = at + BLOCK;
      const stream = openLayer(layer, diffIds, i);
      const out = createWriteStream(path, { flags: 'r+', start, highWaterMark: options.writeBuffer ?? 1 << 20 });
      await pipeline([stream, ...(options.through?.() ?? []), out], options.signal ? { signal: options.signal } : {});
      const size = out.bytesWritten;
      const header = encodeHeader(memberHeader(layerMemberName(i), size, mtime));
      // Member names are short ASCII and sizes of any length fit the ustar field (base-256 past 8 GiB): one block.
      if (header.length !== BLOCK) throw new ManifestError('UNSUPPORTED', `${layerMemberName(i)}: a header of ${header.length} bytes`);
      await file.write(header, 0, BLOCK, at);
      at = start + size;
      await put(Buffer.alloc(padding(size)));
      options.onLayer?.(i, size);
    }
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
    await file.truncate(at);
    return { bytes: config, digest: `sha256:${hex}` };
  } finally {
    await file.close();
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

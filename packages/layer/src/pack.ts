import { closeSync, openSync, readSync } from 'node:fs';
import { toLayerError } from './errors.js';
import type { LayerPlan } from './scan.js';
import type { TarEntry } from './tar-entry.js';
import { type TarStream, writeTar } from './tar.js';

/** Options for {@link packLayer}. */
export interface PackLayerOptions {
  /** Aborts packing; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /** Bytes read from a file at a time. @default 512 KiB */
  readonly readSize?: number;
  /** Hash on a worker thread (layers of 1 MiB or more). @default true when the machine has 3 or more cores */
  readonly hashThread?: boolean;
}

/**
 * Reads a file in `readSize` pieces with synchronous reads, as tar does: the bytes are almost
 * always in the page cache, and a trip through the thread pool per piece (plus open and close)
 * costs more than the copy, most of all on a busy machine where that thread waits for a core.
 */
async function* readFile(path: string, size: number, readSize: number): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw toLayerError(error, path);
  }
  try {
    for (let position = 0; position < size; ) {
      const buffer = Buffer.allocUnsafeSlow(Math.min(readSize, size - position));
      let read: number;
      try {
        read = readSync(fd, buffer, 0, buffer.length, position);
      } catch (error) {
        throw toLayerError(error, path);
      }
      if (read === 0) return;
      position += read;
      yield read === buffer.length ? buffer : buffer.subarray(0, read);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Streams the layer tar of a {@link LayerPlan}: every byte of every file is read once, and the
 * sha256 (the layer's diffID) is computed on the way. `size` is known before reading starts.
 * @example
 * const layer = packLayer(await scanLayer(paths));
 * await pipeline(layer, createWriteStream('layer.tar'));
 * console.log(await layer.digest); // sha256:…
 */
export function packLayer(plan: LayerPlan, options: PackLayerOptions = {}): TarStream {
  const readSize = options.readSize ?? 512 << 10;
  const entries: TarEntry[] = plan.entries.map(({ source, ...header }) =>
    source === undefined || header.size === 0 ? header : { ...header, body: () => readFile(source, header.size, readSize) },
  );
  return writeTar(entries, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.hashThread === undefined ? {} : { hashThread: options.hashThread }),
  });
}

import { closeSync, openSync, read, readSync } from 'node:fs';
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

/** One positioned read into a new buffer, on the thread pool. */
function readAt(fd: number, position: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafeSlow(length);
    read(fd, buffer, 0, length, position, (error, n) => (error ? reject(error) : resolve(n === length ? buffer : buffer.subarray(0, n))));
  });
}

/**
 * Reads a file in `readSize` pieces, always one piece ahead: the thread pool copies the next piece
 * out of the page cache while the main thread hashes and passes on this one, so reading costs the
 * main thread nothing but the hop. The first piece is read synchronously (a file's first trip
 * through the pool would only add latency); most files fit in one piece.
 */
async function* readFile(path: string, size: number, readSize: number): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw toLayerError(error, path);
  }
  let ahead: Promise<Buffer> | undefined;
  try {
    const first = Buffer.allocUnsafeSlow(Math.min(readSize, size));
    let position = readSync(fd, first, 0, first.length, 0);
    let piece: Buffer | undefined = position === first.length ? first : first.subarray(0, position);
    while (piece !== undefined && piece.length > 0) {
      ahead = position < size ? readAt(fd, position, Math.min(readSize, size - position)) : undefined;
      ahead?.catch(() => {});
      yield piece;
      piece = await ahead;
      ahead = undefined;
      position += piece?.length ?? 0;
    }
  } catch (error) {
    throw toLayerError(error, path);
  } finally {
    // A read still in flight (the consumer stopped early) must finish before its fd can be closed.
    await ahead?.catch(() => {});
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

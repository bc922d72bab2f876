import { createReadStream } from 'node:fs';
import { toLayerError } from './errors.js';
import type { LayerPlan } from './scan.js';
import type { TarEntry } from './tar-entry.js';
import { type TarStream, writeTar } from './tar.js';

/** Options for {@link packLayer}. */
export interface PackLayerOptions {
  /** Aborts packing; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /** Bytes read from a file at a time. @default 1 MiB */
  readonly readSize?: number;
}

async function* readFile(path: string, size: number, readSize: number): AsyncGenerator<Buffer> {
  try {
    yield* createReadStream(path, { start: 0, end: size - 1, highWaterMark: readSize }) as AsyncIterable<Buffer>;
  } catch (error) {
    throw toLayerError(error, path);
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
  const readSize = options.readSize ?? 1 << 20;
  const entries: TarEntry[] = plan.entries.map(({ source, ...header }) =>
    source === undefined || header.size === 0 ? header : { ...header, body: () => readFile(source, header.size, readSize) },
  );
  return writeTar(entries, options.signal ? { signal: options.signal } : {});
}

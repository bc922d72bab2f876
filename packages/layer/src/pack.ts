import { type LayerPlan, plannedEntries } from './scan.js';
import { createArchive, type TarStream } from './tar.js';

/** Options for {@link packLayer}. */
export interface PackLayerOptions {
  /** Aborts packing; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /** Most bytes read from a file in one call. @default as much as the buffer has room for */
  readonly readSize?: number;
  /**
   * Hash on a worker thread (layers of 1 MiB or more). @default read as a stream: true when the
   * machine has 3 or more cores; with writeToFd or inside an archive written that way: true
   */
  readonly hashThread?: boolean;
}

/**
 * Streams the layer tar of a {@link LayerPlan}: every byte of every file is read once, straight
 * into the buffer it leaves from, and the sha256 (the layer's diffID) is computed on the way.
 * `size` is known before reading starts.
 * @example
 * const layer = packLayer(await scanLayer(paths));
 * await pipeline(layer, createWriteStream('layer.tar'));
 * console.log(await layer.digest); // sha256:…
 */
export function packLayer(plan: LayerPlan, options: PackLayerOptions = {}): TarStream {
  return createArchive(plannedEntries(plan), {
    size: plan.size,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.hashThread === undefined ? {} : { hashThread: options.hashThread }),
    ...(options.readSize === undefined ? {} : { readSize: options.readSize }),
  });
}

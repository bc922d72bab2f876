import { closeSync, createWriteStream, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { prepareWriteToFd, type TarStream } from '@strata/layer';
import type { Progress } from './progress.js';

/** Call before preparing the image: starts what writeArchiveFile will need (a hash thread, uncompressed) meanwhile. */
export function prepareArchiveFile(stages: readonly NodeJS.ReadWriteStream[]): void {
  if (stages.length === 0) prepareWriteToFd();
}

/**
 * Writes an archive into a new file at `path` (failing if it exists), through `stages` (a
 * compressor) when there are any. Uncompressed, the archive writes itself to the file
 * (TarStream.writeToFd: one reused buffer, hashing on a worker thread, large writes); compressed,
 * it streams through the compressor.
 */
export async function writeArchiveFile(source: TarStream, stages: readonly NodeJS.ReadWriteStream[], progress: Progress, path: string, signal: AbortSignal): Promise<void> {
  if (stages.length > 0) {
    await pipeline([source, ...progress.stages, ...stages, createWriteStream(path, { flags: 'wx' })], { signal });
    return;
  }
  const fd = openSync(path, 'wx');
  try {
    await source.writeToFd(fd, progress.onBytes ? { onProgress: progress.onBytes } : {});
  } finally {
    closeSync(fd);
  }
}

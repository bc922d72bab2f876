import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { prepareWriteToFd, type TarStream } from '@strata/layer';
import type { CommandContext } from '../context.js';
import type { Progress } from './progress.js';

/**
 * A descriptor for stdout that the thread pool may block on: fd 1 itself when it is a regular file
 * (`> image.tar`), a second, blocking file description of the pipe when it is one (Linux:
 * /proc/self/fd/1), else undefined. Opening a pipe for writing waits for a reader, so we hold a
 * read end ourselves while opening: the open never hangs, and once our read end is closed a
 * vanished reader shows up as EPIPE on the first write, as it would on fd 1.
 */
function blockingStdout(): { fd: number; close: boolean } | undefined {
  try {
    const stat = fstatSync(1);
    if (stat.isFile()) return { fd: 1, close: false };
    if (!stat.isFIFO()) return undefined;
    const reader = openSync('/proc/self/fd/1', constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return { fd: openSync('/proc/self/fd/1', constants.O_WRONLY), close: true };
    } finally {
      closeSync(reader);
    }
  } catch {
    return undefined;
  }
}

/** Whether pipeToStdout will have the archive write itself to fd 1 (a pipe or a file), not stream it. */
function writesToFd(context: CommandContext): boolean {
  if (context.stdout !== process.stdout) return false;
  try {
    const stat = fstatSync(1);
    return stat.isFIFO() || stat.isFile();
  } catch {
    return false;
  }
}

/** Call before preparing the image: starts what pipeToStdout will need (a hash thread) while the image is planned. */
export function prepareStdout(context: CommandContext): void {
  if (writesToFd(context)) prepareWriteToFd();
}

/** The error a write to process.stdout reports when the reader has gone, so messages do not depend on the path taken. */
function asSocketError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'EPIPE') return error;
  return Object.assign(new Error('write EPIPE'), { code, errno: (error as { errno?: number }).errno, syscall: 'write' });
}

/**
 * Streams an archive to the command's stdout and leaves stdout open. When stdout is the process's
 * own pipe or file, the archive writes itself to it (TarStream.writeToFd): files are read into one
 * reused buffer, hashed there by a worker thread and written out by the thread pool, the two cores
 * overlapping as `tar | openssl` do. process.stdout would instead make a pipe non-blocking and have
 * the main thread poll it 64 KiB at a time (measured in bench/stream-layered: ~1.5x the wall time).
 */
export async function pipeToStdout(source: TarStream, progress: Progress, context: CommandContext): Promise<void> {
  const out = context.stdout === process.stdout ? blockingStdout() : undefined;
  if (out === undefined) {
    await pipeline([source, ...progress.stages, context.stdout], { signal: context.signal, end: false });
    return;
  }
  try {
    await source.writeToFd(out.fd, progress.onBytes ? { onProgress: progress.onBytes } : {});
  } catch (error) {
    throw asSocketError(error);
  } finally {
    if (out.close) closeSync(out.fd);
  }
}

import { closeSync, constants, createWriteStream, fstatSync, openSync, type Stats } from 'node:fs';
import { isatty } from 'node:tty';
import { pipeline } from 'node:stream/promises';
import { prepareWriteToFd, type TarStream } from '@strata/layer';
import type { CommandContext } from '../context.js';
import { progressCallback } from './progress.js';

/** How far a stream may run ahead of the pipe's reader, in bytes. */
const AHEAD = 2 << 20;

/**
 * Whether fd 1 may be written as it is by the thread pool: a regular file (`> image.tar`) or a
 * character device that is not a terminal (`> /dev/null`). Through process.stdout, /dev/null took
 * 1.6x the time and 1.6x the memory of a file, every chunk a fresh buffer written synchronously.
 */
function plainDescriptor(stat: Stats): boolean {
  return stat.isFile() || (stat.isCharacterDevice() && !isatty(1));
}

/**
 * A descriptor for stdout that the thread pool may block on: fd 1 itself when it is a regular file
 * (`> image.tar`) or a device such as /dev/null, a second, blocking file description of the pipe when it is one (Linux:
 * /proc/self/fd/1), else undefined. Opening a pipe for writing waits for a reader, so we hold a
 * read end ourselves while opening: the open never hangs, and once our read end is closed a
 * vanished reader shows up as EPIPE on the first write, as it would on fd 1.
 */
function blockingStdout(): { fd: number; close: boolean } | undefined {
  try {
    const stat = fstatSync(1);
    if (plainDescriptor(stat)) return { fd: 1, close: false };
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

/** Whether pipeToStdout will have the archive write itself to fd 1 (a pipe, a file, /dev/null), not stream it. */
function writesToFd(context: CommandContext): boolean {
  if (context.stdout !== process.stdout) return false;
  try {
    const stat = fstatSync(1);
    return stat.isFIFO() || plainDescriptor(stat);
  } catch {
    return false;
  }
}

/** Call before preparing the image: starts what pipeToStdout will need (a hash thread) while the image is planned. */
export function prepareStdout(context: CommandContext): void {
  if (writesToFd(context)) void prepareWriteToFd();
}

/** The error a write to process.stdout reports when the reader has gone, so messages do not depend on the path taken. */
function asSocketError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'EPIPE') return error;
  return Object.assign(new Error('write EPIPE'), { code, errno: (error as { errno?: number }).errno, syscall: 'write' });
}

/** An archive that can write itself to a descriptor (a strata tar), as opposed to any other stream. */
function isTarStream(source: NodeJS.ReadableStream): source is TarStream {
  return typeof (source as Partial<TarStream>).writeToFd === 'function';
}

/**
 * Streams `source` through `stages` to the command's stdout and leaves stdout open. When `source`
 * is a strata archive, `stages` at most count progress and stdout is the process's own pipe or
 * file, the archive writes itself to it (TarStream.writeToFd): files are read into one reused
 * buffer, hashed there by a worker thread and written out by the thread pool, the two cores
 * overlapping as `tar | openssl` do. Otherwise, for a pipe, the bytes are written by the thread
 * pool to a blocking description of it: process.stdout would make the pipe non-blocking and have
 * the main thread poll it 64 KiB at a time (measured in bench/stream-layered: ~1.5x the wall time).
 */
export async function pipeToStdout(source: NodeJS.ReadableStream, stages: readonly NodeJS.ReadWriteStream[], context: CommandContext): Promise<void> {
  const out = context.stdout === process.stdout ? blockingStdout() : undefined;
  if (out === undefined) {
    await pipeline([source, ...stages, context.stdout], { signal: context.signal, end: false });
    return;
  }
  const onProgress = progressCallback(stages);
  try {
    if (isTarStream(source) && onProgress !== null) {
      await source.writeToFd(out.fd, onProgress ? { onProgress } : {});
    } else if (out.close) {
      await pipeline([source, ...stages, createWriteStream('', { fd: out.fd, highWaterMark: AHEAD, autoClose: false })], { signal: context.signal });
    } else {
      await pipeline([source, ...stages, context.stdout], { signal: context.signal, end: false });
    }
  } catch (error) {
    throw asSocketError(error);
  } finally {
    if (out.close) closeSync(out.fd);
  }
}

import { closeSync, constants, createWriteStream, fstatSync, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { CommandContext } from '../context.js';

/** How far the image may run ahead of the pipe's reader, in bytes. */
const AHEAD = 2 << 20;

/**
 * A second, blocking file description of the pipe on fd 1 (Linux: /proc/self/fd/1), or undefined
 * when stdout is not a pipe or the reopen is not possible. Opening a pipe for writing waits for a
 * reader, so we hold a read end ourselves while opening: the open never hangs, and once our read
 * end is closed a vanished reader shows up as EPIPE on the first write, as it would on fd 1.
 */
function reopenStdoutPipe(): number | undefined {
  try {
    if (!fstatSync(1).isFIFO()) return undefined;
    const reader = openSync('/proc/self/fd/1', constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return openSync('/proc/self/fd/1', constants.O_WRONLY);
    } finally {
      closeSync(reader);
    }
  } catch {
    return undefined;
  }
}

/** The error a write to process.stdout reports when the reader has gone, so messages do not depend on the path taken. */
function asSocketError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'EPIPE') return error;
  return Object.assign(new Error('write EPIPE'), { code, errno: (error as { errno?: number }).errno, syscall: 'write' });
}

/**
 * Streams `source` through `stages` to the command's stdout and leaves stdout open. When stdout is
 * the process's own pipe, the bytes are written by the thread pool to a blocking description of
 * that pipe: the main thread keeps reading and hashing the next files while a pool thread waits
 * for the reader. process.stdout would instead make the pipe non-blocking and have the main thread
 * poll it 64 KiB at a time (measured in bench/stream-layered: ~1.5x the wall time, more CPU).
 */
export async function pipeToStdout(source: NodeJS.ReadableStream, stages: readonly NodeJS.ReadWriteStream[], context: CommandContext): Promise<void> {
  const fd = context.stdout === process.stdout ? reopenStdoutPipe() : undefined;
  if (fd === undefined) {
    await pipeline([source, ...stages, context.stdout], { signal: context.signal, end: false });
    return;
  }
  const sink = createWriteStream('', { fd, highWaterMark: AHEAD });
  await pipeline([source, ...stages, sink], { signal: context.signal }).catch((error: unknown) => {
    throw asSocketError(error);
  });
}

import { Transform } from 'node:stream';
import { formatBytes } from '../format.js';

/** Progress of an image on stderr: layer N of M, bytes and rate, redrawn at most 5 times a second. */
export interface Progress {
  /** The stages to put in a stream pipeline: a byte counter on a terminal, nothing otherwise (one hop less). */
  readonly stages: Transform[];
  /** Counts bytes written without a stream (TarStream.writeToFd's onProgress); undefined when nothing is shown. */
  readonly onBytes: ((bytes: number) => void) | undefined;
  onLayer(index: number): void;
  finish(): void;
}

/** A progress display writing to `stderr` when it is a terminal; otherwise it stays quiet. */
export function createProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }, total: number, layers: number): Progress {
  const start = Date.now();
  let bytes = 0;
  let layer = 0;
  let drawn = 0;
  const tty = stderr.isTTY === true;
  const draw = (force = false) => {
    const now = Date.now();
    if (!tty || (!force && now - drawn < 200)) return;
    drawn = now;
    const rate = bytes / Math.max((now - start) / 1000, 0.001);
    stderr.write(`\r\x1b[Klayer ${Math.min(layer + 1, layers)} of ${layers}  ${formatBytes(bytes)} / ${formatBytes(total)}  ${formatBytes(rate)}/s`);
  };
  const meter = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      draw();
      callback(null, chunk);
    },
  });
  return {
    stages: tty ? [meter] : [],
    onBytes: tty
      ? (n) => {
          bytes += n;
          draw();
        }
      : undefined,
    onLayer: (index) => {
      layer = index;
      draw(true);
    },
    finish: () => {
      draw(true);
      if (tty) stderr.write('\n');
    },
  };
}

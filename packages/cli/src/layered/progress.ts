import { Transform } from 'node:stream';
import { formatBytes } from '../format.js';

/** Progress of an image on stderr: layer N of M, bytes and rate, redrawn at most 5 times a second. */
export interface Progress {
  /** The stages to put in the pipeline: a byte counter on a terminal, nothing otherwise (one hop less). */
  readonly stages: Transform[];
  /** Stages for one more pipeline counting into the same display (several may run at once). */
  counting(): Transform[];
  onLayer(index: number): void;
  finish(): void;
}

const kCount = Symbol('strata.cli.progressCount');

/**
 * What an archive that writes itself to a descriptor (no stream to pass through) should report its
 * writes to, given the stages it would otherwise pass through: their byte counters (undefined when
 * there are no stages), or null when a stage does more than count (a compressor), so the archive
 * must stream through it.
 */
export function progressCallback(stages: readonly NodeJS.ReadWriteStream[]): ((bytes: number) => void) | undefined | null {
  const counters = stages.map((stage) => (stage as { [kCount]?: (bytes: number) => void })[kCount]);
  if (counters.some((count) => count === undefined)) return null;
  if (counters.length === 0) return undefined;
  return (bytes) => {
    for (const count of counters) count!(bytes);
  };
}

/**
 * A progress display writing to `stderr` when it is a terminal; otherwise it stays quiet. Without a
 * `total` (bytes not known in advance) it shows the bytes so far and the rate.
 */
export function createProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }, total: number | undefined, layers: number): Progress {
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
    const of = total === undefined ? '' : ` / ${formatBytes(total)}`;
    stderr.write(`\r\x1b[Klayer ${Math.min(layer + 1, layers)} of ${layers}  ${formatBytes(bytes)}${of}  ${formatBytes(rate)}/s`);
  };
  const count = (n: number) => {
    bytes += n;
    draw();
  };
  const meter = () =>
    Object.assign(
      new Transform({
        highWaterMark: 1 << 20,
        transform(chunk: Buffer, _encoding, callback) {
          count(chunk.length);
          callback(null, chunk);
        },
      }),
      { [kCount]: count },
    );
  return {
    stages: tty ? [meter()] : [],
    counting: () => (tty ? [meter()] : []),
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
